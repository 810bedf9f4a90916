"""Validation of the diagnostics: confusion matrices of injected faults, on every scenario family.

Each fault of :mod:`samplerlab.samplers.faults` (moderate size: spread ×0.8 and ×1.25, a 0.5-sd shift,
mode TV 0.1, 2 % hallucinated mass, a late spoil) and the exact sampler are audited on each
family of :mod:`samplerlab.scenarios.validation_families` over many seeds; the rate at which each failure mode is
flagged is the confusion matrix. ``distribution`` is the global net that every fault moves: it
names no specific failure, so it is reported but not counted as a mis-attribution; neither is
``spread`` for ``late_spoil`` (the noise its last steps add *is* a spread error of the output).
A fault that a family cannot host (no mode the data rule out, no mode heavy enough to move) is
recorded as not applicable.

The study is the sweep ``sweeps/validation.toml`` (``make validation``: ``samplerlab sweep`` on
Dask, then ``samplerlab sweep report``, :mod:`samplerlab.studies.sweep_report`): the sampler references
``fault:NAME`` and ``fault:exact`` on the scenarios ``family:NAME``. Its report writes
``validation.csv`` (one row per family × fault × seed × failure mode), ``summary.csv`` (power and
worst mis-attribution per family × fault) and one heatmap per family, ``confusion_<family>.png``,
with the functions below.
"""

from __future__ import annotations

from samplerlab.auditing import pipeline
from samplerlab.core.problem import InverseProblem
from samplerlab.samplers.faults import exact_sampler, fault_sampler
from samplerlab.scenarios.validation_families import grid_problem

__all__ = ["grid_problem", "exact_sampler", "EXPECTED", "OWN", "GLOBAL", "run", "confusion", "summary"]

# Failure modes a fault may set off besides its own without counting as a mis-attribution.
EXPECTED = {"shrink": {"spread"}, "inflate": {"spread"}, "shift": {"location"}, "reweight": {"mode_weights"},
            "prior_mode": {"prior_hallucination"}, "likelihood_mode": {"likelihood_hallucination"},
            "late_spoil": {"early_stopping", "spread"}, "exact": set()}
OWN = {"shrink": "spread", "inflate": "spread", "shift": "location", "reweight": "mode_weights",
       "prior_mode": "prior_hallucination", "likelihood_mode": "likelihood_hallucination",
       "late_spoil": "early_stopping"}
GLOBAL = {"distribution"}


def run(problem: InverseProblem, fault: str, seed: int, n: int = 2000, alpha: float = 1e-3, steps: int = 100,
        schedule=None):
    """Audit one fault (or ``"exact"``) with one seed; the report."""
    return pipeline.run(fault_sampler(fault, problem), problem, n=n, seed=seed, alpha=alpha, steps=steps, name=fault,
                        schedule=schedule)


def confusion(frame, family: str):
    """Flag rates of one family: DataFrame indexed by fault, one column per failure mode."""
    sub = frame[(frame.family == family) & frame.applicable]
    return sub.pivot_table(index="fault", columns="failure_mode", values="flagged", aggfunc="mean")


def summary(frame):
    """Per family × fault: power (own mode flagged), worst mis-attribution, and any-flag rate of exact runs."""
    import pandas as pd

    out = []
    for (family, fault), g in frame[frame.applicable].groupby(["family", "fault"], sort=False):
        seeds = g.seed.nunique()
        own = g[g.own].flagged.mean() if fault in OWN else float("nan")
        wrong = g[~g.expected].groupby("failure_mode").flagged.mean()
        worst = wrong.idxmax() if len(wrong) and wrong.max() > 0 else ""
        any_flag = g.groupby("seed").flagged.any().mean()
        out.append({"family": family, "fault": fault, "seeds": seeds, "power": own,
                    "wrong_attribution": float(wrong.max()) if len(wrong) else 0.0, "worst_wrong_mode": worst,
                    "any_flag": any_flag})
    return pd.DataFrame(out)
