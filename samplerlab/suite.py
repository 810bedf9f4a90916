"""The audit suite: score the reference zoo on a default set of small scenarios.

Writes one JSON report per (scenario, sampler) run and ``summary.csv`` (one row per run) to
``out``, and returns the summary as a pandas DataFrame. A sampler that breaks on a scenario is
recorded as an ``error`` row; the suite goes on.

Defaults are sized to finish in a few minutes on two CPU cores (``make audit``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from samplerlab.diagnostics.result import FAILURE_MODES

__all__ = ["DEFAULT_SCENARIOS", "DEFAULT_N", "run_suite", "suite_table", "save_samples"]

# Small problems on which the oracle control passes at their default 200 steps: two modes,
# unequal mode weights, an outlier observation (likelihood-hallucination bait). n = 500 keeps the
# whole zoo (MCGdiff runs 64 particles per sample) within minutes on two cores.
DEFAULT_SCENARIOS = ("bimodal_1d", "unequal_weights_2d", "outlier_2d")
DEFAULT_N = 500


def save_samples(path, samples, scenario) -> None:
    """Save samples as ``.npz``; in 2-D also the exact posterior log-density on a grid covering
    them and the posterior means (for the contour plot of ``samplerlab plot``)."""
    import numpy as np
    import torch

    x = samples.detach().cpu().double().numpy()
    extra = {}
    if scenario.problem.dim == 2:
        post = scenario.problem.posterior().to(device="cpu")
        sd = np.sqrt(np.diagonal(post.covariance_matrices().numpy(), axis1=1, axis2=2))
        keep = post.weights.numpy() > 1e-3  # the exact posterior's visible modes, ±3 sd
        lo = np.minimum(np.quantile(x, 0.005, 0), (post.means.numpy() - 3 * sd)[keep].min(0))
        hi = np.maximum(np.quantile(x, 0.995, 0), (post.means.numpy() + 3 * sd)[keep].max(0))
        pad = 0.15 * (hi - lo) + 1e-3
        gx, gy = (np.linspace(lo[i] - pad[i], hi[i] + pad[i], 160) for i in range(2))
        grid = torch.tensor(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2), dtype=post.dtype)
        extra = {"grid_x": gx, "grid_y": gy, "log_density": post.log_prob(grid).reshape(len(gy), len(gx)).numpy()}
    np.savez(path, samples=x, scenario=scenario.name, **extra)


def _row(scenario: str, sampler: str, report=None, error: str = "", seconds: float = 0.0) -> dict:
    row = {"scenario": scenario, "sampler": sampler, "passed": None, "failure_modes": "", "error": error,
           "n": None, "steps": None, "floor": "", "beyond_floor": "", "seconds": round(seconds, 2)}
    for mode in FAILURE_MODES:
        row[mode] = "error" if error else ""
    if report is not None:
        floor = report.meta.get("floor")
        row.update(passed=report.passed, failure_modes=" ".join(sorted(report.failure_modes)),
                   n=report.meta.get("n"), steps=report.meta.get("steps"),
                   floor="" if not floor else "pass" if floor["passed"] else " ".join(floor["failure_modes"]),
                   beyond_floor=" ".join(sorted({c.failure_mode for c in report.beyond_floor()})))
        for mode in FAILURE_MODES:
            checks = [c for c in report.checks if c.failure_mode == mode and c.role == "verdict"]
            failing = [c for c in checks if not c.passed]
            row[mode] = ("floor" if failing and all(c.attribution == "discretisation" for c in failing)
                         else "FAIL" if failing else "pass" if any(c.applicable for c in checks)
                         else "n/a" if checks else "")
        for c in report.checks:
            row[f"{c.check}_effect"] = c.effect
    return row


def run_suite(out, scenarios=None, samplers=None, n: int | None = None, steps: int | None = None,
              seed: int = 0, alpha: float = 1e-3, device=None, checks=None, progress=None, floor: bool = True,
              on_report=None, cards: bool = False):
    """Audit every sampler on every scenario; write ``out/reports/*.json`` and ``out/summary.csv``.

    With ``cards`` each audit also gets its report card (:mod:`samplerlab.report_card`: every panel
    and the verdict table on one PNG page, and a self-contained HTML page) in ``out/cards``, linked
    from the summary's ``card`` column. ``on_report(scenario, sampler, report)``, if given, sees each report as it is written (with
    ``report.samples``, the audit's own draws: the medical suite's lesion maps read them).

    With ``floor`` (default) each audit also runs the sampler's discretisation floor
    (:mod:`samplerlab.floor`, computed once per scenario and discretisation): a mode whose
    failing checks the floor fails too reads ``floor`` instead of ``FAIL``.
    """
    import numpy as np
    import pandas as pd

    from samplerlab import samplers as zoo
    from samplerlab.errors import SamplerError, SamplerRefError
    from samplerlab.pipeline import run
    from samplerlab.scenarios import load_scenario

    out = Path(out)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    scenarios = list(scenarios or DEFAULT_SCENARIOS)
    names = list(samplers or zoo.available())
    n = DEFAULT_N if n is None else n
    rows, total = [], len(scenarios) * len(names)
    for scenario_name in scenarios:
        scenario = load_scenario(scenario_name, device=device)
        run_steps = scenario.steps if steps is None else steps
        for name in names:
            if progress:
                progress(f"[{len(rows) + 1}/{total}] {name} on {scenario.name} (n = {n}, steps = {run_steps})")
            start = time.perf_counter()
            try:
                report = run(name, scenario, n=n, steps=run_steps, seed=seed, alpha=alpha, device=device,
                             checks=checks, floor=floor)
            except (SamplerError, SamplerRefError) as exc:
                rows.append(_row(scenario.name, name, error=str(exc).splitlines()[0],
                                 seconds=time.perf_counter() - start))
                continue
            label = report.meta["sampler"]
            report.to_json(out / "reports" / f"{scenario.name}__{label}.json")
            samples = None
            if scenario.problem.dim == 2:  # samples for the contour plot of `samplerlab plot`
                npz = out / "reports" / f"{scenario.name}__{label}.npz"
                save_samples(npz, report.samples, scenario)
                samples = dict(np.load(npz))
            row = _row(scenario.name, label, report, seconds=time.perf_counter() - start)
            if cards:
                from samplerlab.report_card import write_report_card

                row["card"] = str(write_report_card(report, out / "cards", samples=samples)["html"].relative_to(out))
            rows.append(row)
            if on_report is not None:
                on_report(scenario.name, label, report)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "summary.csv", index=False)
    return frame


def suite_table(frame) -> str:
    """The summary as a table: one row per run, a verdict per failure mode."""
    from samplerlab.tables import format_table

    modes = [m for m in FAILURE_MODES if m in frame.columns]
    short = {"prior_hallucination": "prior_hall.", "likelihood_hallucination": "lik._hall.",
             "early_stopping": "early_stop", "mode_weights": "mode_w."}
    floor = "floor" in frame.columns and frame["floor"].fillna("").astype(bool).any()
    header = (["scenario", "sampler", "verdict"] + [short.get(m, m) for m in modes] + (["floor"] if floor else [])
              + ["seconds"])
    rows = []
    for r in frame.to_dict("records"):
        v = "ERROR" if r["error"] else ("PASSED" if r["passed"] else "FAILED")
        rows.append([r["scenario"], r["sampler"], v] + [r[m] for m in modes] + ([r["floor"]] if floor else [])
                    + [f"{r['seconds']:.1f}"])
    errors = [f"error: {r['sampler']} on {r['scenario']}: {r['error']}" for r in frame.to_dict("records")
              if r["error"]]
    legend = (["FAIL: beyond the discretisation floor; floor: the floor (exact posterior denoiser, same grid and "
               "reverse step) fails it too; floor column: what the floor fails"] if floor else [])
    return "\n".join([format_table(header, rows)] + legend + errors)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
