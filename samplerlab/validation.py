"""Validation of the diagnostics: confusion matrices of injected faults, on every scenario family.

Each fault of :mod:`samplerlab.faults` (moderate size: spread ×0.8 and ×1.25, a 0.5-sd shift,
mode TV 0.1, 2 % hallucinated mass, a late spoil) and the exact sampler are audited on each
family of :mod:`samplerlab.families` over many seeds; the rate at which each failure mode is
flagged is the confusion matrix. ``distribution`` is the global net that every fault moves: it
names no specific failure, so it is reported but not counted as a mis-attribution; neither is
``spread`` for ``late_spoil`` (the noise its last steps add *is* a spread error of the output).
A fault that a family cannot host (no mode the data rule out, no mode heavy enough to move) is
recorded as not applicable.

Run ``python -m samplerlab.validation [--seeds 100] [--n 2000] [--out results/validation]``
(``make validation``; Dask, one worker per core): writes ``validation.csv`` (one row per family ×
fault × seed × failure mode), ``summary.csv`` (power and worst mis-attribution per family ×
fault) and one heatmap per family, ``confusion_<family>.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from samplerlab import pipeline
from samplerlab.diagnostics.result import FAILURE_MODES
from samplerlab.diagnostics.truth import Truth
from samplerlab.families import FAMILIES, build, grid_problem
from samplerlab.faults import FAULTS, Spread
from samplerlab.problem import InverseProblem

__all__ = ["grid_problem", "exact_sampler", "EXPECTED", "OWN", "GLOBAL", "run", "validation_task", "confusion",
           "summary", "main"]

# Failure modes a fault may set off besides its own without counting as a mis-attribution.
EXPECTED = {"shrink": {"spread"}, "inflate": {"spread"}, "shift": {"location"}, "reweight": {"mode_weights"},
            "prior_mode": {"prior_hallucination"}, "likelihood_mode": {"likelihood_hallucination"},
            "late_spoil": {"early_stopping", "spread"}, "exact": set()}
OWN = {"shrink": "spread", "inflate": "spread", "shift": "location", "reweight": "mode_weights",
       "prior_mode": "prior_hallucination", "likelihood_mode": "likelihood_hallucination",
       "late_spoil": "early_stopping"}
GLOBAL = {"distribution"}


def exact_sampler(problem: InverseProblem):
    """A sampler returning exact posterior draws (a :class:`~samplerlab.faults.Spread` with factor 1)."""
    s = Spread(problem, 1.0)
    s.failure_mode = ""
    return s


def run(problem: InverseProblem, fault: str, seed: int, n: int = 2000, alpha: float = 1e-3, steps: int = 100,
        schedule=None):
    """Audit one fault (or ``"exact"``) with one seed; the report."""
    sampler = exact_sampler(problem) if fault == "exact" else FAULTS[fault](problem)
    return pipeline.run(sampler, problem, n=n, seed=seed, alpha=alpha, steps=steps, name=fault, schedule=schedule)


def validation_task(family: str, seed: int, n: int, alpha: float) -> list[dict]:
    """Every fault and the exact sampler on ``family`` with audit seed ``seed``: one row per failure mode."""
    problem, schedule, steps = build(family)
    rows = []
    for fault in [*FAULTS, "exact"]:
        try:
            report = run(problem, fault, seed, n, alpha, steps, schedule)
        except ValueError as exc:  # the family cannot host this fault
            rows.append({"family": family, "fault": fault, "seed": seed, "failure_mode": "", "flagged": False,
                         "own": False, "expected": True, "applicable": False, "why": str(exc)})
            continue
        for mode in FAILURE_MODES:
            rows.append({"family": family, "fault": fault, "seed": seed, "failure_mode": mode,
                         "flagged": mode in report.failure_modes, "own": OWN.get(fault) == mode,
                         "expected": mode in EXPECTED[fault] or mode in GLOBAL, "applicable": True, "why": ""})
    Truth.forget(problem)
    return rows


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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--seeds", type=int, default=100, help="seeds per family (default 100)")
    parser.add_argument("--n", type=int, default=2000, help="samples per audit (default 2000)")
    parser.add_argument("--alpha", type=float, default=1e-3, help="family-wise level (default 1e-3)")
    parser.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: one per core)")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--out", type=Path, default=Path("results/validation"), help="output folder")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.n < 20 or not 0 < args.alpha < 1:
        parser.error("--seeds >= 1, --n >= 20 and 0 < --alpha < 1 are required")
    import pandas as pd

    from samplerlab.studies import run_tasks

    tasks = [(f, 1000 + s, args.n, args.alpha) for f in args.families for s in range(args.seeds)]
    rows = [row for part in run_tasks(validation_task, tasks, args.workers, args.scheduler, "validation")
            for row in part]
    frame = pd.DataFrame(rows).sort_values(["family", "fault", "seed", "failure_mode"], kind="stable")
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "validation.csv", index=False)
    table = summary(frame)
    table.to_csv(args.out / "summary.csv", index=False)
    for family in frame.family.unique():
        _figure(confusion(frame, family), args.out / f"confusion_{family}.png", family, args.seeds, args.n)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    faults = table[table.fault != "exact"]
    print(f"power: min {faults.power.min():.3f}; wrong attribution: max {faults.wrong_attribution.max():.3f}; "
          f"exact runs flagged: max {table[table.fault == 'exact'].any_flag.max():.3f} at alpha {args.alpha}",
          file=sys.stderr)


def _figure(table, path: Path, family: str, seeds: int, n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="mako_r", ax=ax, cbar_kws={"label": "flag rate"})
    ax.set_title(f"{family}: failure modes flagged per injected fault ({seeds} seeds, n = {n})")
    ax.set_xlabel("failure mode flagged")
    ax.set_ylabel("injected fault")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    main()
