"""Validation of the diagnostics: confusion matrix of injected faults and false-alarm rate.

Each fault of :mod:`samplerlab.faults` (moderate size: spread ×0.8 and ×1.25, mode TV 0.1,
2 % hallucinated mass, a late spoil) and the exact sampler are audited on the validation
problem over many seeds; the rate at which each failure mode is flagged is the confusion matrix.
``distribution`` is the global net that every fault moves: it names no specific failure, so it
is reported but not counted as a mis-attribution; neither is ``spread`` for ``late_spoil`` (the
noise its last steps add *is* a spread error of the output).

Run ``python -m samplerlab.validation [--seeds 100] [--out results]``: writes
``results/validation.csv`` (one row per fault × seed × failure mode) and
``results/figures/confusion.png`` (seaborn heatmap).
"""

from __future__ import annotations

import argparse
import sys
import math
from pathlib import Path

import torch

from samplerlab.auditing import audit
from samplerlab.diagnostics.result import FAILURE_MODES
from samplerlab.faults import FAULTS
from samplerlab.mixture import GaussianMixture
from samplerlab.operators import Dense
from samplerlab.problem import InverseProblem

__all__ = ["grid_problem", "exact_sampler", "EXPECTED", "run", "confusion", "main"]

# Failure modes a fault may set off besides its own without counting as a mis-attribution.
EXPECTED = {"shrink": {"spread"}, "inflate": {"spread"}, "shift": {"location"}, "reweight": {"mode_weights"},
            "prior_mode": {"prior_hallucination"}, "likelihood_mode": {"likelihood_hallucination"},
            "late_spoil": {"early_stopping", "spread"}, "exact": set()}
OWN = {"shrink": "spread", "inflate": "spread", "shift": "location", "reweight": "mode_weights", "prior_mode": "prior_hallucination",
       "likelihood_mode": "likelihood_hallucination", "late_spoil": "early_stopping"}
GLOBAL = {"distribution"}


def grid_problem(d: int = 8, m: int = 2, seed: int = 3, sigma_y: float = 0.5) -> InverseProblem:
    """The 25-mode grid prior (means ``(8i, 8j)`` over ``d/2`` pairs, unit covariances), a random
    ``Dense`` ``A`` (Gaussian matrix with its singular values replaced by sorted uniforms), ``y`` simulated.

    Seed 3 at ``d = 8, m = 2`` gives a posterior with four modes of weight above 0.1 and modes the
    data rule out (weight < 1e-8), so every fault is well defined.
    """
    ij = 8.0 * torch.cartesian_prod(torch.arange(-2, 3), torch.arange(-2, 3)).double()
    prior = GaussianMixture(torch.ones(25), ij.repeat(1, d // 2), torch.ones(25))
    g = torch.Generator().manual_seed(seed)
    u, _, vh = torch.linalg.svd(torch.randn(m, d, generator=g, dtype=torch.float64), full_matrices=False)
    s = torch.rand(m, generator=g, dtype=torch.float64).sort(descending=True).values
    return InverseProblem.simulate(prior, Dense(u @ torch.diag(s) @ vh), sigma_y, generator=g)


def exact_sampler(problem: InverseProblem):
    """A sampler returning exact posterior draws (a :class:`~samplerlab.faults.Spread` with factor 1)."""
    from samplerlab.faults import Spread

    s = Spread(problem, 1.0)
    s.failure_mode = ""
    return s


def run(problem: InverseProblem, fault: str, seed: int, n: int = 2000, alpha: float = 1e-3, steps: int = 100):
    """Audit one fault (or ``"exact"``) with one seed; the report."""
    sampler = exact_sampler(problem) if fault == "exact" else FAULTS[fault](problem)
    return audit(sampler, problem, n=n, seed=seed, alpha=alpha, steps=steps, name=fault)


def confusion(rows: list[dict]):
    """Flag rates: DataFrame indexed by fault, one column per failure mode (plus ``any``)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.pivot_table(index="fault", columns="failure_mode", values="flagged", aggfunc="mean")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds per fault (default 100)")
    parser.add_argument("--n", type=int, default=2000, help="samples per audit (default 2000)")
    parser.add_argument("--alpha", type=float, default=1e-3, help="family-wise level (default 1e-3)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.n < 20 or not 0 < args.alpha < 1:
        parser.error("--seeds >= 1, --n >= 20 and 0 < --alpha < 1 are required")
    problem = grid_problem()
    rows = []
    for fault in [*FAULTS, "exact"]:
        print(f"validation: {fault} × {args.seeds} seeds", file=sys.stderr, flush=True)
        for seed in range(args.seeds):
            report = run(problem, fault, seed, args.n, args.alpha)
            for mode in FAILURE_MODES:
                rows.append({"fault": fault, "seed": seed, "failure_mode": mode,
                             "flagged": mode in report.failure_modes, "own": OWN.get(fault) == mode,
                             "expected": mode in EXPECTED[fault] or mode in GLOBAL})
    import pandas as pd

    frame = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "validation.csv", index=False)
    table = confusion(rows)
    _figure(table, args.out / "figures" / "confusion.png", args.seeds, args.n)
    print(table.round(3).to_string())
    own = frame[frame.own].groupby("fault").flagged.mean()
    wrong = frame[~frame.expected].groupby("fault").flagged.mean()
    print(f"power (own mode flagged): min {own.min():.3f}; wrong attribution: max {wrong.max():.3f}; "
          f"false alarms (exact, any mode): "
          f"{frame[frame.fault == 'exact'].groupby('seed').flagged.any().mean():.4f} at alpha {args.alpha}")


def _figure(table, path: Path, seeds: int, n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="mako_r", ax=ax, cbar_kws={"label": "flag rate"})
    ax.set_title(f"Failure modes flagged per injected fault ({seeds} seeds, n = {n})")
    ax.set_xlabel("failure mode flagged")
    ax.set_ylabel("injected fault")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    main()
