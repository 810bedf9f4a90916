"""The size of the across-observation checks, measured: ``make calibration-coverage``.

For each scenario, ``R`` replicate studies of ``K`` observations ``y_j ~ p(y)`` each, with the
sampler's draws replaced by exact posterior draws (what a correct sampler returns). Each study
runs the three across-observation checks of :mod:`samplerlab.auditing.observations` through the same rank
code; their rejection rates at the levels Holm uses are the sizes, written with Clopper–Pearson
intervals to ``OUT/sizes.csv`` (one row per scenario, check and level) and the p-values to
``OUT/pvalues.npz``.

Example:
    >>> frame = calibrate(["bimodal_1d"], replicates=20, observations=10, n=100)
    >>> sorted(set(frame["check"])), bool((frame["rejections"] <= frame["replicates"]).all())
    (['coverage_hpd', 'sbc_ranks', 'tarp'], True)
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np

__all__ = ["calibrate", "LEVELS", "main"]

LEVELS = (0.05, 0.01, 1e-3)
SCENARIOS = ("bimodal_1d", "unequal_weights_2d", "grid_d8_m2", "outlier_2d", "unimodal_posterior_2d")


class _Draws:
    """The part of a report the rank code reads: the draws."""

    def __init__(self, samples):
        self.samples = samples


def _pvalues(scenario: str, replicates: int, observations: int, n: int, seed: int) -> dict[str, np.ndarray]:
    from samplerlab.auditing.observations import ranks
    from samplerlab.auditing.pipeline import as_scenario
    from samplerlab.core.problem import InverseProblem
    from samplerlab.diagnostics.coverage import coverage_check
    from samplerlab.diagnostics.sbc import sbc_check, sbc_directions
    from samplerlab.diagnostics.tarp import tarp_check
    from samplerlab.diagnostics.truth import generator

    base = as_scenario(scenario).problem
    directions, names = sbc_directions(base.operator, base.dim)
    out = {"coverage_hpd": [], "sbc_ranks": [], "tarp": []}
    for r in range(replicates):
        gen = generator(seed + r, "observations", base.prior.device)
        ref = generator(seed + r, "tarp-reference", base.prior.device)
        draws = generator(seed + r, "exact-draws", base.prior.device)
        rng = np.random.default_rng([seed + r, zlib.crc32(b"observation-ranks")])
        hpd, sbc, tarp = [], [], []
        for _ in range(observations):
            problem = InverseProblem.simulate(base.prior, base.operator, base.sigma_y, gen)
            exact = _Draws(problem.posterior().sample(n, generator=draws))
            h, s, t = ranks(exact, problem, problem.x_star, directions, rng, ref)
            hpd.append(h), sbc.append(s), tarp.append(t)
        out["coverage_hpd"].append(coverage_check(hpd).p_value)
        out["sbc_ranks"].append(sbc_check(np.stack(sbc), names).p_value)
        out["tarp"].append(tarp_check(tarp).p_value)
    return {k: np.asarray(v) for k, v in out.items()}


def calibrate(scenarios=SCENARIOS, replicates: int = 2000, observations: int = 20, n: int = 500, seed: int = 0,
              pvalues: dict | None = None):
    """Sizes of the across-observation checks (see module doc); fills ``pvalues`` if given."""
    import pandas as pd
    from scipy import stats

    rows = []
    for scenario in scenarios:
        ps = _pvalues(scenario, replicates, observations, n, seed)
        for check, p in ps.items():
            if pvalues is not None:
                pvalues[f"{scenario}/{check}"] = p
            for level in LEVELS:
                k = int((p <= level).sum())
                ci = stats.binomtest(k, len(p)).proportion_ci(0.95, method="exact")
                rows.append({"scenario": scenario, "check": check, "level": level, "replicates": len(p),
                             "observations": observations, "n": n, "rejections": k, "size": k / len(p),
                             "low": ci.low, "high": ci.high})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="samplerlab study coverage",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/calibration_coverage")
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--observations", type=int, default=20)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pvalues: dict = {}
    frame = calibrate(replicates=args.replicates, observations=args.observations, n=args.n, pvalues=pvalues)
    frame.to_csv(out / "sizes.csv", index=False)
    np.savez_compressed(out / "pvalues.npz", **pvalues)
    print(frame.to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
