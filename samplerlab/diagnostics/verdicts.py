"""From p-values to verdicts: Holm's step-down procedure and Monte Carlo p-values.

Holm (1979): sort the ``m`` verdict p-values, reject ``p_(i)`` while ``p_(i) <= α / (m − i + 1)``;
the family-wise error rate is at most ``α`` whatever the dependence between the checks. The
adjusted p-value ``p_holm_(i) = max_{j<=i} min(1, (m − j + 1) p_(j))`` is reported; a check fails
iff its adjusted p-value is ``<= α``.

Monte Carlo p-values (:func:`mc_pvalue`) use ``(1 + #{null >= s}) / (R + 1)`` (valid for any
``R``) while the observed value lies inside the simulated null (10 or more exceedances); beyond
it, where ``R`` replicates cannot resolve the p-value that Holm needs at ``α = 1e-3``, the tail of
a moment-matched gamma (statistics ``>= 0``) or normal law fitted to the replicates is used.

Example:
    >>> from samplerlab.diagnostics.result import CheckResult
    >>> rs = [CheckResult(f"c{i}", "spread", p_value=p) for i, p in enumerate([1e-5, 0.01, 0.5])]
    >>> [r.passed for r in holm(rs, alpha=1e-3)], [round(r.p_holm, 5) for r in rs]
    ([False, True, True], [3e-05, 0.02, 0.5])
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from samplerlab.diagnostics.result import CheckResult

__all__ = ["holm", "mc_pvalue", "sign_test", "binom_upper"]


def holm(results: list[CheckResult], alpha: float) -> list[CheckResult]:
    """Set ``p_holm`` and ``passed`` on every applicable verdict check (in place; returns the list)."""
    family = [r for r in results if r.applicable and r.role == "verdict" and r.p_value is not None]
    order = sorted(range(len(family)), key=lambda i: family[i].p_value)
    m, running = len(family), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * family[i].p_value))
        family[i].p_holm = running
        family[i].passed = running > alpha
    for r in results:
        if r not in family:
            r.passed = True
    return results


def mc_pvalue(stat: float, null, tail: str = "gamma") -> float:
    """Upper-tail p-value of ``stat`` against Monte Carlo replicates ``null`` (see module doc)."""
    null = np.asarray(null, dtype=float)
    exceed = int((null >= stat).sum())
    if exceed >= 10:
        return (1 + exceed) / (len(null) + 1)
    mean, var = null.mean(), null.var(ddof=1)
    if tail == "gamma":
        shape, scale = mean**2 / var, var / mean
        p = float(stats.gamma.sf(stat, shape, scale=scale))
    else:
        p = float(stats.norm.sf(stat, loc=mean, scale=np.sqrt(var)))
    return min(p, (1 + exceed) / (len(null) + 1))


def sign_test(below, n: int, p0: float = 0.5) -> np.ndarray:
    """Exact two-sided binomial p-values for counts ``below`` out of ``n`` with success rate ``p0``."""
    below = np.asarray(below)
    lo = stats.binom.cdf(below, n, p0)
    hi = stats.binom.sf(below - 1, n, p0)
    return np.minimum(1.0, 2 * np.minimum(lo, hi))


def binom_upper(k: int, n: int, p0: float) -> float:
    """Exact one-sided ``P(Binomial(n, p0) >= k)``."""
    return float(stats.binom.sf(k - 1, n, p0)) if n > 0 else 1.0
