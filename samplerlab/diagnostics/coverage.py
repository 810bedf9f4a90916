"""Coverage across observations: are the sampler's credible regions right as often as they claim?

With ``x*_j`` drawn from the prior and ``y_j = A x*_j + σ_y ε_j``, the randomised rank
(:func:`randomized_rank`) of a statistic of ``x*_j`` among the same statistic of the sampler's draws
given ``y_j`` is exactly ``Uniform(0, 1)`` for a correct sampler, so every test across observations
is exact. :func:`coverage_check` (``coverage_hpd``, verdict) ranks the exact posterior log-density:
at each credible level in :data:`LEVELS` the count of observations inside the sampler's
highest-density region is exactly binomial (two-sided tests, Bonferroni over the levels).
:func:`ecdf_deviation` and :func:`ks_band` give the calibration curve and its exact band. The other
rank checks are ``sbc_ranks`` (:mod:`.sbc`) and ``tarp`` (:mod:`.tarp`).

Derivation and details: docs/notes/diagnostics_coverage.md.

Example:
    >>> import numpy as np
    >>> u = np.random.default_rng(0).uniform(size=200)
    >>> c = coverage_check(u)
    >>> c.check, c.failure_mode, c.p_value > 0.01, round(c.data["coverage"][2], 2)
    ('coverage_hpd', 'coverage', True, 0.9)
"""

from __future__ import annotations

import numpy as np

from samplerlab.diagnostics.result import CheckResult, p_eq
from samplerlab.diagnostics.verdicts import binom_two_sided, bonferroni

__all__ = ["LEVELS", "randomized_rank", "coverage_check", "ecdf_deviation", "ks_band"]

LEVELS = (0.5, 0.8, 0.9, 0.95)


def randomized_rank(draws: np.ndarray, star: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``u`` per column: the randomised rank of ``star (F,)`` among ``draws (n, F)``, in ``(0, 1)``.

    >>> randomized_rank(np.array([[1.0], [2.0], [3.0]]), np.array([2.5]), np.random.default_rng(0)).round(3)
    array([0.659])
    """
    draws = np.asarray(draws, dtype=float).reshape(len(draws), -1)
    star = np.asarray(star, dtype=float).reshape(-1)
    below = (draws < star).sum(0)
    ties = (draws == star).sum(0)
    return (below + rng.uniform(size=star.shape) * (ties + 1)) / (len(draws) + 1)


def coverage_check(u, levels=LEVELS) -> CheckResult:
    """HPD coverage at each credible level from the ranks ``u`` of ``log p(x*_j | y_j)`` (module doc)."""
    u = np.asarray(u, dtype=float)
    k = len(u)
    covered = np.array([int((u >= 1.0 - q).sum()) for q in levels])
    p_level = binom_two_sided(covered, k, np.asarray(levels))
    p, worst = bonferroni(p_level)
    frac = covered / k
    at90 = float(frac[list(levels).index(0.9)]) if 0.9 in levels else float(frac[worst])
    q = levels[worst]
    if p > 0.05:
        shown = ", ".join(f"{f:.0%} in the {lv:.0%} region" for f, lv in zip(frac, levels))
        detail = f"credible regions cover as often as they claim over {k} observations: {shown} ({p_eq(p)})"
    else:
        way = ("under-coverage: credible regions too small or misplaced" if frac[worst] < q else
               "over-coverage: credible regions too large")
        detail = (f"{frac[worst]:.0%} of {k} true signals inside the {q:.0%} credible region ({q:.0%} expected), "
                  f"{way} ({p_eq(p)}, Bonferroni over {len(levels)} levels; {at90:.0%} at 90 %)")
    return CheckResult("coverage_hpd", "coverage", statistic=float(frac[worst] - q), effect=at90, p_value=p,
                       detail=detail,
                       data={"levels": list(levels), "coverage": frac.tolist(), "covered": covered.tolist(),
                             "p_level": [float(v) for v in p_level], "ranks": u.tolist(), "observations": k})


def ecdf_deviation(u, points: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """``(q, ECDF_u(q) − q)`` on ``points`` levels of ``[0, 1]``: the calibration curve of ranks
    ``u`` (arviz's and sbi's ECDF-difference plot). It stays inside ``±ks_band(len(u), α)`` at every
    ``q`` at once with probability ``1 − α`` under a correct sampler.

    >>> q, dev = ecdf_deviation([0.1, 0.6], points=3)
    >>> q.tolist(), dev.tolist()
    ([0.0, 0.5, 1.0], [0.0, 0.0, 0.0])
    """
    u = np.sort(np.asarray(u, dtype=float).reshape(-1))
    q = np.linspace(0.0, 1.0, points)
    return q, np.searchsorted(u, q, side="right") / len(u) - q


def ks_band(k: int, alpha: float) -> float:
    """The exact simultaneous half-width for the ECDF of ``k`` uniform ranks at level ``alpha``:
    the Kolmogorov–Smirnov critical value (the curve leaves it iff the exact KS test's p < alpha)."""
    from scipy import stats

    return float(stats.kstwo.isf(alpha, int(k)))
