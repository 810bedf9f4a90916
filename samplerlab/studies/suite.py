"""The audit suite: score the reference zoo on a default set of small scenarios (``make audit``).

The suite is the sweep ``sweeps/audit.toml`` run by :mod:`samplerlab.studies.sweep`: its store goes to
``out/store``, and ``out`` gets one JSON report per (scenario, sampler) run, ``summary.csv`` (one
row per run) and, on request, report cards, rendered from the store. A sampler that breaks on a
scenario is recorded as an ``error`` row; the suite goes on. Defaults are sized to finish in a
few minutes on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

from samplerlab.diagnostics.registry import FAILURE_MODES
from samplerlab.scenarios import data_path

__all__ = ["AUDIT_SPEC", "DEFAULT_N", "default_spec", "run_suite", "suite_table"]

AUDIT_SPEC = data_path("sweeps", "audit.toml")
DEFAULT_N = 500  # the spec's n (sweeps/audit.toml); the medical suite's maps say how many draws they use


def default_spec():
    """The suite's sweep spec, ``sweeps/audit.toml`` (what ``make audit`` runs)."""
    from samplerlab.studies.sweep_spec import load_spec

    return load_spec(AUDIT_SPEC)


def run_suite(out, scenarios=None, samplers=None, n: int | None = None, steps: int | None = None,
              seed: int = 0, alpha: float = 1e-3, device=None, checks=None, floor: bool = True,
              cards: bool = False, samples: bool | None = None, workers: int | None = None, spec=None):
    """Audit every sampler on every scenario through the sweep runner; returns the summary frame.

    The cells (``spec``, by default ``sweeps/audit.toml``, with the arguments given here) run on
    Dask (``workers``; in this process on CUDA, where one process owns the device) into the store
    ``out/store``; the summary, the reports under readable names and, with ``cards``, the report
    cards are rendered from it (:func:`samplerlab.studies.sweep_report.audit_summary`). The spec's
    ``[[block]]`` cells run too, unless ``scenarios`` or ``samplers`` name an explicit product.
    ``samples`` keeps each audit's draws (default: a given spec's flag; for the default suite, in
    2-D, for the cards' contour panel). A rerun skips the audits already in the store.
    """
    from dataclasses import replace

    from samplerlab import samplers as zoo
    from samplerlab.auditing.pipeline import as_scenario
    from samplerlab.studies.sweep import sweep
    from samplerlab.studies.sweep_report import audit_summary
    from samplerlab.studies.sweep_spec import spec_names

    given, base = spec is not None, default_spec() if spec is None else spec
    explicit = scenarios is not None or samplers is not None
    common = dict(steps=(steps,), seeds=(seed,), alpha=alpha, checks=None if checks is None else tuple(checks),
                  floor=floor)
    blocks = () if explicit else tuple(replace(b, n=b.n if n is None else n, **common) for b in base.blocks)
    spec = replace(base, samplers=tuple(samplers or base.samplers or zoo.available()),
                   scenarios=tuple(scenarios or base.scenarios), n=base.n if n is None else n, blocks=blocks, **common)
    scenario_order, sampler_order = spec_names(spec)
    # a bad scenario is bad input: fail before any audit, in one line (loaded once, cached for the cells)
    loaded = [as_scenario(name) for name in scenario_order]
    if samples is None:  # the default suite keeps draws where cards draw contours (2-D); a given spec says
        samples = base.samples if given else any(sc.problem.dim == 2 for sc in loaded)
    spec = replace(spec, reports=True, samples=samples)
    if workers is None and device is not None and str(device).startswith("cuda"):
        workers = 1
    out = Path(out)
    frame = sweep(spec, out / "store", workers=workers, device=device, label="audit")
    rank = {(sc, sa): (i, j) for i, sc in enumerate(scenario_order) for j, sa in enumerate(sampler_order)}
    frame = frame.iloc[sorted(range(len(frame)),
                              key=lambda r: rank[(frame["scenario"].iat[r], frame["sampler"].iat[r])])]
    return audit_summary(out / "store", out, frame, cards=cards)  # scenario by scenario, samplers as listed


def suite_table(frame) -> str:
    """The summary as a table: one row per run, a verdict per failure mode."""
    from samplerlab.render.tables import format_table

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
