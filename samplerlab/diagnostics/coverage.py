"""Coverage across observations: are the sampler's credible regions right as often as they claim?

Draw ``x*_j`` from the prior and ``y_j = A x*_j + σ_y ε_j``; then ``x*_j`` is an exact draw of
``p(x | y_j)``. For a correct sampler its ``n`` draws given ``y_j`` and ``x*_j`` are ``n + 1``
exchangeable draws of one law, so the *randomised rank* of any statistic of ``x*_j`` among the
same statistic of the draws, ``u = (#{s_i < s*} + V (#{s_i = s*} + 1)) / (n + 1)`` with
``V ~ U(0, 1)``, is exactly ``Uniform(0, 1)`` — whatever ``n``, the dimension or the posterior.
The observations are independent (each audit has its own sampler seed), so ``K`` ranks are ``K``
iid uniforms: every test below is exact.

* ``coverage_hpd`` (this module, verdict): the statistic is the exact posterior log-density
  ``log p(x | y_j)``. ``x*_j`` lies inside the sampler's ``q`` highest-density credible region
  (the region its draws put ``q`` of their mass in) iff ``u_j >= 1 − q``, so at each credible level
  ``q`` in :data:`LEVELS` the count of covered observations is exactly ``Binomial(K, q)``: an exact
  two-sided binomial test per level, Bonferroni over the levels. Under-coverage means credible
  regions too small or misplaced (over-confident), over-coverage regions too large.
* ``sbc_ranks`` (:mod:`.sbc`): simulation-based calibration of a few test functions.
* ``tarp`` (:mod:`.tarp`): TARP's expected coverage of random reference balls.

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
