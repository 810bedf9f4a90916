"""The medical suite: do the image samplers hallucinate or erase a lesion under MRI and CT?

Each medical scenario (``mri_4x``, ``mri_8x``, ``ct_sparse``; on CUDA also ``mri_4x_gpu`` and
``ct_sparse_gpu``) has a prior whose components are labelled ``"lesion"`` / ``"healthy"``
(:mod:`samplerlab.medical`) and an observation that leaves the lesion uncertain. The exact
posterior probability ``P(lesion | y)`` is the summed weight of the lesion components; the
``label_weights`` check (:mod:`samplerlab.diagnostics.mode_weights`) compares it with the
fraction of a sampler's draws labelled lesion, with an exact p-value. A sampler that draws
lesions more often than ``P(lesion | y)`` hallucinates them; one that draws them less often
erases them.

Outputs under ``--out``: ``summary.csv`` and one JSON report per run (:func:`samplerlab.suite.run_suite`),
``lesions.csv`` (one row per run: exact probability, sampled rate, p-value), a gallery per
scenario (``figures/gallery_<scenario>.png``: the truth, ``A⁺ y``, exact posterior draws and
each sampler's draws) and ``MEDICAL.md``, a table rendered from the reports only.

Usage::

    python -m samplerlab.medical_suite --out results/medical --n 200 --steps 100

Example:
    >>> rows = [{"scenario": "mri_4x", "sampler": "dps", "exact": 0.44, "sampled": 0.28, "p_value": 1e-5}]
    >>> print(lesion_table(rows, ["dps"]).splitlines()[2])
    | mri_4x | 0.440 | 0.280 (p = 1e-05) |
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

__all__ = ["CPU_SCENARIOS", "GPU_SCENARIOS", "MEDICAL_SAMPLERS", "lesion_rows", "lesion_table",
           "run_medical_suite", "main"]

CPU_SCENARIOS = ("mri_4x", "mri_8x", "ct_sparse")
GPU_SCENARIOS = CPU_SCENARIOS + ("mri_4x_gpu", "ct_sparse_gpu")
MEDICAL_SAMPLERS = ("oracle", "dps", "pigdm", "ddrm", "tmpd", "mcgdiff")
LESION = "lesion"


def lesion_rows(out, frame) -> list[dict]:
    """One dict per successful run of ``frame``: the ``label_weights`` check's exact probability
    of ``"lesion"``, the sampled rate, its p-value and verdict, read from ``out/reports``."""
    from samplerlab.report import Report

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


def _cell(row: dict | None) -> str:
    if row is None or not row.get("applicable", True) or math.isnan(row["sampled"]):
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
        f"Rendered by `python -m samplerlab.medical_suite` from the reports in `reports/` (n = {n} samples per "
        f"audit, steps = {steps or 'each scenario’s'}, device {device}). Each cell is the fraction of a sampler's "
        "draws whose exact component label is `lesion` (hallucination samples excluded, as in the check) and "
        "the `label_weights` check's exact p-value against the exact posterior probability `P(lesion | y)`. "
        "Above the exact value: hallucinated lesions; below: erased ones.",
        "",
        lesion_table(rows, samplers),
        "",
        "Galleries: `figures/gallery_<scenario>.png` (truth, pseudo-inverse `A⁺ y`, exact posterior draws, "
        "then each sampler's draws).",
        "",
    ])


def run_medical_suite(out, device: str, scenarios=None, samplers=MEDICAL_SAMPLERS, n: int | None = None,
                      steps: int | None = None, seed: int = 0, gallery_n: int = 6, progress=None, checks=None,
                      floor: bool = True):
    """Audit ``samplers`` on the medical scenarios, write lesion table and galleries; returns the summary frame.

    ``checks`` and ``floor`` go to :func:`samplerlab.suite.run_suite` (all checks and the floor by default).
    """
    import pandas as pd

    from samplerlab import samplers as zoo
    from samplerlab.image_gallery import gallery, plot_gallery
    from samplerlab.scenarios import load_scenario
    from samplerlab.suite import run_suite

    scenarios = list(scenarios or (GPU_SCENARIOS if device.startswith("cuda") else CPU_SCENARIOS))
    samplers = list(samplers)
    out = Path(out)
    frame = run_suite(out, scenarios=scenarios, samplers=samplers, n=n, steps=steps, seed=seed,
                      device=device, progress=progress, checks=checks, floor=floor)
    rows = lesion_rows(out, frame)
    pd.DataFrame(rows).to_csv(out / "lesions.csv", index=False)
    rate = {(r["scenario"], r["sampler"]): r for r in rows}
    for name in scenarios:
        scenario = load_scenario(name, device=device)
        problem = scenario.problem
        chosen = {s: zoo.get(s, **({"problem": problem} if zoo.describe(s).control else {})) for s in samplers}
        pictures = gallery(problem, chosen, n=gallery_n, steps=steps or scenario.steps, seed=seed)
        renamed = {}
        for key, images in pictures.items():
            r = rate.get((name, key))
            label = {"observation": "A⁺ y"}.get(key, key)
            renamed[label if r is None else f"{label}\nlesion {_cell(r).split(' (')[0]}"] = images
        side = math.isqrt(problem.dim)
        exact = next((r["exact"] for r in rows if r["scenario"] == name), math.nan)
        plot_gallery(renamed, (side, side), out / "figures" / f"gallery_{name}.png",
                     title=f"{scenario.description}\nexact P(lesion | y) = {exact:.2f}; "
                           f"{steps or scenario.steps} steps")
        if progress:
            progress(f"gallery for {name} written")
    (out / "MEDICAL.md").write_text(_markdown(rows, samplers, n, steps, device))
    return frame


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samplerlab.medical_suite", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/medical", help="output folder (default results/medical)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--n", type=int, default=None, help="samples per audit (default 2000 on cuda, 200 on cpu)")
    parser.add_argument("--steps", type=int, default=None, help="grid size (default: each scenario's)")
    parser.add_argument("--scenarios", nargs="+", default=None, help="scenario names (default: by device)")
    parser.add_argument("--samplers", nargs="+", default=list(MEDICAL_SAMPLERS), help="zoo names")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    n = args.n or (2000 if device.startswith("cuda") else 200)
    from samplerlab.suite import suite_table

    frame = run_medical_suite(args.out, device, args.scenarios, args.samplers, n=n, steps=args.steps,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"medical suite on {device}" + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else ""))
    print(suite_table(frame))
    print((Path(args.out) / "MEDICAL.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
