"""From p-values to verdicts: Holm's step-down procedure, and p-values that are valid by construction.

Holm (1979): sort the ``m`` verdict p-values, reject ``p_(i)`` while ``p_(i) <= α / (m − i + 1)``;
the family-wise error rate is at most ``α`` whatever the dependence between the checks. The
adjusted p-value ``p_holm_(i) = max_{j<=i} min(1, (m − j + 1) p_(j))`` is reported; a check fails
iff its adjusted p-value is ``<= α``.

Every p-value a check hands to Holm must satisfy ``P(p <= u) <= u`` under exact draws for every
``u`` — including the ``α / m`` that Holm uses first. The helpers here are the only ways the
checks build one:

* exact discrete tests: :func:`binom_two_sided`, :func:`binom_upper`, :func:`hypergeom_two_sided`
  (exact laws; discreteness only makes them conservative);
* :func:`bonferroni` for the minimum of several valid p-values;
* :func:`rank_pvalue`: ``(1 + #{null >= s}) / (R + 1)`` against ``R`` exact replicates — valid for
  any ``R`` because the observed statistic and the replicates are exchangeable under the truth,
  and never below ``1 / (R + 1)``: a Monte Carlo p-value is a *bound*, with no parametric tail
  extrapolated beyond the simulated range (a moment-matched gamma fitted to 40 replicates
  rejected 5× too often at 1e-3).

Example:
    >>> from samplerlab.diagnostics.result import CheckResult
    >>> rs = [CheckResult(f"c{i}", "spread", p_value=p) for i, p in enumerate([1e-5, 0.01, 0.5])]
    >>> [r.passed for r in holm(rs, alpha=1e-3)], [round(r.p_holm, 5) for r in rs]
    ([False, True, True], [3e-05, 0.02, 0.5])
    >>> rank_pvalue(10.0, [1.0, 2.0, 3.0])  # beyond every replicate: the bound 1 / (R + 1)
    0.25
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from samplerlab.diagnostics.result import CheckResult

__all__ = ["holm", "rank_pvalue", "bonferroni", "binom_two_sided", "binom_upper", "hypergeom_two_sided",
           "hypergeom_upper"]


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


def rank_pvalue(stat: float, null) -> float:
    """Upper-tail Monte Carlo p-value ``(1 + #{null >= stat}) / (R + 1)`` (see module doc)."""
    null = np.asarray(null, dtype=float)
    return float((1 + int((null >= stat).sum())) / (len(null) + 1))


def bonferroni(pvalues) -> tuple[float, int]:
    """``(min(1, m · min p), argmin)`` over ``m`` valid p-values (``(1.0, -1)`` when there are none)."""
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return 1.0, -1
    i = int(np.argmin(p))
    return float(min(1.0, p.size * p[i])), i


def binom_two_sided(k, n, p0) -> np.ndarray:
    """Exact two-sided binomial p-values ``min(1, 2 min(P(X <= k), P(X >= k)))``, ``X ~ Bin(n, p0)``.

    Vectorised over ``k``, ``n`` and ``p0``.
    """
    k, n, p0 = np.asarray(k), np.asarray(n), np.asarray(p0, dtype=float)
    lo = stats.binom.cdf(k, n, p0)
    hi = stats.binom.sf(k - 1, n, p0)
    return np.minimum(1.0, 2 * np.minimum(lo, hi))


def binom_upper(k: int, n: int, p0: float) -> float:
    """Exact one-sided ``P(Binomial(n, p0) >= k)``."""
    return float(stats.binom.sf(k - 1, n, p0)) if n > 0 else 1.0


def hypergeom_two_sided(k, total, drawn, population: int) -> np.ndarray:
    """Exact two-sided p-values of ``k`` successes when ``drawn`` of ``population`` items are taken
    without replacement and ``total`` of them are successes (``X ~ Hypergeom``); vectorised."""
    k, total = np.asarray(k), np.asarray(total)
    lo = stats.hypergeom.cdf(k, population, total, drawn)
    hi = stats.hypergeom.sf(k - 1, population, total, drawn)
    return np.minimum(1.0, 2 * np.minimum(lo, hi))


def hypergeom_upper(k: int, total: int, drawn: int, population: int) -> float:
    """Exact one-sided ``P(X >= k)`` for ``X ~ Hypergeom(population, total, drawn)``."""
    return float(stats.hypergeom.sf(k - 1, population, total, drawn)) if total > 0 else 1.0
