"""The medical suite: do the image samplers hallucinate or erase a lesion under MRI and CT?

Each medical scenario (``mri_4x``, ``mri_8x``, ``ct_sparse``; on CUDA also ``mri_4x_gpu`` and
``ct_sparse_gpu``) has a prior whose components are labelled ``"lesion"`` / ``"healthy"``
(:mod:`samplerlab.scenarios.medical`) and an observation that leaves the lesion uncertain. The exact
posterior probability ``P(lesion | y)`` is the summed weight of the lesion components; the
``label_weights`` check (:mod:`samplerlab.diagnostics.mode_weights`) compares it with the
fraction of a sampler's draws labelled lesion, with an exact p-value. A sampler that draws
lesions more often than ``P(lesion | y)`` hallucinates them; one that draws them less often
erases them.

Where, not only whether: each lesion component's disc is known
(:func:`samplerlab.scenarios.medical.prior_lesion_masks`), so the exact probability that a pixel
lies inside a lesion given ``y`` is ``Σ_k w̄_k mask_k``, and a sampler's map is the average of
``mask_{k_i}`` over its draws, ``k_i`` drawn from draw ``i``'s exact
responsibilities (the check's labels; :func:`lesion_maps`). The maps use the audit's own draws
(``report.samples``), and every draw counts (a hallucinated lesion shows on the map; the check
leaves those out).

Outputs under ``--out``: ``summary.csv`` and one JSON report per run (:func:`samplerlab.studies.suite.run_suite`),
``lesions.csv`` (one row per run: exact probability, sampled rate, p-value; with maps also the
largest and the mean absolute pixel difference of the sampler's lesion map to the exact one), a
gallery per scenario (``figures/gallery_<scenario>.png``: the truth, ``A⁺ y``, exact posterior
draws and each sampler's draws, beside bars of the exact label probabilities and each sampler's
label frequencies read from its report), the lesion maps (``figures/lesion_maps_<scenario>.png``:
the exact map and each sampler's, then their differences) and ``MEDICAL.md``, a table rendered
from the reports only.

Usage::

    samplerlab study medical --out results/medical --n 200 --steps 100

Example:
    >>> rows = [{"scenario": "mri_4x", "sampler": "dps", "exact": 0.44, "sampled": 0.28, "p_value": 1e-5}]
    >>> print(lesion_table(rows, ["dps"]).splitlines()[2])
    | mri_4x | 0.440 | 0.280 (p = 1e-05) |
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from samplerlab.scenarios import data_path
from samplerlab.studies.sweep_spec import load_spec, spec_names

__all__ = ["CPU_SCENARIOS", "GPU_SCENARIOS", "MEDICAL_SAMPLERS", "EXACT_MAP", "lesion_rows", "lesion_table",
           "scenario_lesion_masks", "lesion_maps", "run_medical_suite", "main"]

_SPECS = data_path("sweeps")
_CPU, _GPU = load_spec(_SPECS / "medical.toml"), load_spec(_SPECS / "medical_gpu.toml")  # the suite's sweeps
(CPU_SCENARIOS, MEDICAL_SAMPLERS), GPU_SCENARIOS = spec_names(_CPU), spec_names(_GPU)[0]
LESION = "lesion"
EXACT_MAP = "P(lesion) exact"


def lesion_rows(out, frame) -> list[dict]:
    """One dict per successful run of ``frame``: the ``label_weights`` check's exact probability
    of ``"lesion"``, the sampled rate, its p-value and verdict, read from ``out/reports``."""
    from samplerlab.auditing.report import Report

    rows = []
    for r in frame.to_dict("records"):
        path = Path(out) / "reports" / f"{r['scenario']}__{r['sampler']}.json"
        if r.get("error") or not path.exists():
            continue
        try:
            check = Report.from_json(path)["label_weights"]
        except KeyError:
            continue
        labels = check.data.get("labels", [])
        row = {"scenario": r["scenario"], "sampler": r["sampler"], "exact": math.nan, "sampled": math.nan,
               "p_value": check.p_value, "passed": check.passed, "applicable": check.applicable}
        if LESION in labels:
            i = labels.index(LESION)
            row.update(exact=check.data["exact"][i], sampled=check.data["sampled"][i])
        rows.append(row)
    return rows


def scenario_lesion_masks(scenario) -> torch.Tensor | None:
    """``(K, d)`` bool: each prior component's lesion disc for a ``medical`` scenario, else None.

    The patch parameters are read from the scenario file's ``[prior]`` table with the loader's
    defaults; components are matched to their patches by their means.
    """
    from samplerlab.scenarios import builders as b
    from samplerlab.scenarios import read_header
    from samplerlab.scenarios.medical import prior_lesion_masks

    table = read_header(scenario.path).get("prior", {})
    if table.get("kind") != "images" or table.get("dataset") != "medical":
        return None
    params = b._medical_params(b.Fields(str(scenario.path), "prior", table))
    return prior_lesion_masks(scenario.problem.prior, **params)


def lesion_maps(problem, masks: torch.Tensor, draws: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """``{"P(lesion) exact": Σ_k w̄_k mask_k, name: mean of mask_{k_i} over its draws}``, each ``(d,)``.

    ``k_i`` is drawn from draw ``i``'s exact responsibilities with the audit's label stream
    (:func:`samplerlab.studies.image_gallery.draw_labels`); every draw counts.

    Example:
        >>> from samplerlab import GaussianMixture, InverseProblem
        >>> from samplerlab.operators import Identity
        >>> problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], [0.1, 0.1]),
        ...                          Identity(2), 0.5, [2.0, 0.0])
        >>> maps = lesion_maps(problem, torch.tensor([[True, False], [False, True]]), {"x": torch.tensor([[2.0, 0.0]])})
        >>> [round(v, 3) for v in maps[EXACT_MAP].tolist()], maps["x"].tolist()
        ([0.0, 1.0], [0.0, 1.0])
    """
    from samplerlab.scenarios.medical import lesion_map
    from samplerlab.studies.image_gallery import draw_labels

    post = problem.posterior()
    if masks.shape != (post.n_components, post.dim):
        raise ValueError(f"lesion maps: expected ({post.n_components}, {post.dim}) masks, got {tuple(masks.shape)}")
    masks = masks.detach().cpu().double()
    out = {EXACT_MAP: lesion_map(post.weights, masks)}
    for name, x in draws.items():
        out[name] = masks[draw_labels(problem, x, seed).cpu()].mean(0)
    return out


def _cell(row: dict | None) -> str:
    if row is None:
        return "not audited"
    if not row.get("applicable", True) or math.isnan(row["sampled"]):
        return "n/a"
    return f"{row['sampled']:.3f} (p = {row['p_value']:.2g})"


def lesion_table(rows: list[dict], samplers) -> str:
    """Markdown: one line per scenario, the exact ``P(lesion | y)`` and each sampler's lesion rate (p-value)."""
    by = {(r["scenario"], r["sampler"]): r for r in rows}
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    lines = ["| scenario | exact P(lesion given y) | " + " | ".join(samplers) + " |",
             "|---|---|" + "---|" * len(samplers)]
    for s in scenarios:
        exact = next((r["exact"] for r in rows if r["scenario"] == s and not math.isnan(r["exact"])), math.nan)
        lines.append(f"| {s} | {exact:.3f} | " + " | ".join(_cell(by.get((s, k))) for k in samplers) + " |")
    return "\n".join(lines)


def _markdown(rows: list[dict], samplers, n, steps, device: str) -> str:
    return "\n".join([
        "# Medical suite: lesion hallucination and erasure",
        "",
        f"Rendered by `samplerlab study medical` from the reports in `reports/` (n = {n} samples per "
        f"audit, steps = {steps or 'each scenario’s'}, device {device}). Each cell is the fraction of a sampler's "
        "draws whose exact component label is `lesion` (hallucination samples excluded, as in the check) and "
        "the `label_weights` check's exact p-value against the exact posterior probability `P(lesion | y)`. "
        "Above the exact value: hallucinated lesions; below: erased ones. `not audited`: the suite's spec "
        "leaves that cell out on this device (see `sweeps/medical.toml`).",
        "",
        lesion_table(rows, samplers),
        "",
        "Galleries: `figures/gallery_<scenario>.png` (truth, pseudo-inverse `A⁺ y`, exact posterior draws, "
        "then each sampler's draws; beside them the exact label probabilities and each sampler's label "
        "frequencies). Lesion maps: `figures/lesion_maps_<scenario>.png` (the exact per-pixel "
        "`P(lesion | y)` = Σ_k w_k mask_k, each sampler's map from its draws' sampled components, and their "
        "differences); `lesions.csv` has each map's largest and mean absolute difference to the exact one.",
        "",
    ])


def run_medical_suite(out, device: str, scenarios=None, samplers=None, n: int | None = None,
                      steps: int | None = None, seed: int = 0, gallery_n: int = 6, progress=None, checks=None,
                      floor: bool = True, maps: bool = True):
    """Audit ``samplers`` on the medical scenarios, write lesion table, galleries and lesion maps; returns the
    summary frame.

    ``checks`` and ``floor`` go to :func:`samplerlab.studies.suite.run_suite` (all checks and the floor by default).
    ``maps`` draws the lesion maps from each audit's own samples (see the module doc).
    """
    import pandas as pd

    from samplerlab import samplers as zoo
    from samplerlab.auditing.report import Report
    from samplerlab.render.gallery_plots import plot_gallery, plot_maps
    from samplerlab.scenarios import load_scenario
    from samplerlab.studies.image_gallery import gallery, report_label_frequencies
    from samplerlab.studies.suite import DEFAULT_N, run_suite

    spec = _GPU if device.startswith("cuda") else _CPU  # its cells, blocks included, unless a product is named
    out = Path(out)
    frame = run_suite(out, scenarios=scenarios, samplers=samplers, n=n, steps=steps, seed=seed,
                      device=device, checks=checks, floor=floor, samples=maps, spec=spec)
    samplers = list(samplers or spec_names(spec)[1])
    rows = lesion_rows(out, frame)
    rate = {(r["scenario"], r["sampler"]): r for r in rows}
    for ref in scenarios or spec_names(spec)[0]:
        scenario = load_scenario(ref, device=device)
        name, problem = scenario.name, scenario.problem  # a scenario given by path: its reports use the stem
        audited = list(dict.fromkeys(frame.loc[frame["scenario"].isin([name, str(ref)]), "sampler"]))
        side = math.isqrt(problem.dim)
        chosen = {s: zoo.get(s, **({"problem": problem} if zoo.describe(s).control else {})) for s in audited}
        pictures = gallery(problem, chosen, n=gallery_n, steps=steps or scenario.steps, seed=seed)
        renamed, bars = {}, {}
        for key, images in pictures.items():
            r = rate.get((name, key))
            label = {"observation": "A⁺ y"}.get(key, key)
            renamed[label if r is None else f"{label}\nlesion {_cell(r).split(' (')[0]}"] = images
        if problem.prior.labels is not None:
            paths = {s: out / "reports" / f"{name}__{s}.json" for s in audited}
            bars = report_label_frequencies({s: Report.from_json(p) for s, p in paths.items() if p.exists()})
        exact = next((r["exact"] for r in rows if r["scenario"] == name), math.nan)
        plot_gallery(renamed, (side, side), out / "figures" / f"gallery_{name}.png",
                     title=f"{scenario.description}\nexact P(lesion | y) = {exact:.2f}; "
                           f"{steps or scenario.steps} steps", labels=bars or None)
        if progress:
            progress(f"gallery for {name} written")
        masks = scenario_lesion_masks(scenario) if maps else None
        if masks is None:
            continue
        draws = {s: torch.from_numpy(np.load(out / "reports" / f"{name}__{s}.npz")["samples"]).to(problem.y)
                 for s in audited if (out / "reports" / f"{name}__{s}.npz").is_file()}
        found = lesion_maps(problem, masks, draws, seed)
        for s in draws:
            diff = (found[s] - found[EXACT_MAP]).abs()
            if (name, s) in rate:
                rate[(name, s)].update(map_max_abs=float(diff.max()), map_mean_abs=float(diff.mean()))
        plot_maps(found, (side, side), out / "figures" / f"lesion_maps_{name}.png",
                  title=f"{scenario.description}\nP(pixel inside a lesion | y): exact and from each sampler's "
                        f"{DEFAULT_N if n is None else n} draws", reference=EXACT_MAP)
        if progress:
            progress(f"lesion maps for {name} written")
    pd.DataFrame(rows).to_csv(out / "lesions.csv", index=False)
    (out / "MEDICAL.md").write_text(_markdown(rows, samplers, n, steps, device))
    return frame


def main(argv=None) -> int:
    from samplerlab.studies.image_suite import device_line, suite_arguments
    from samplerlab.studies.suite import suite_table

    args, device, n = suite_arguments("samplerlab study medical", __doc__.splitlines()[0], "results/medical",
                                      MEDICAL_SAMPLERS, _CPU.n, argv, _GPU.n)
    frame = run_medical_suite(args.out, device, args.scenarios, args.samplers, n=n, steps=args.steps,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(device_line("medical suite", device))
    print(suite_table(frame))
    print((Path(args.out) / "MEDICAL.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
