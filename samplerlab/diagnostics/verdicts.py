"""From p-values to verdicts: Holm's step-down procedure, and p-values that are valid by construction.

:func:`holm` applies Holm's (1979) step-down procedure to the verdict checks (family-wise error rate
at most ``α`` whatever their dependence) and sets each one's adjusted p-value. Every p-value handed
to Holm must satisfy ``P(p <= u) <= u`` under exact draws; the helpers here are the only ways the
checks build one: exact discrete tests (:func:`binom_two_sided`, :func:`binom_upper`,
:func:`hypergeom_two_sided`, :func:`hypergeom_upper`), :func:`bonferroni` for the minimum of valid
p-values and :func:`rank_pvalue` against ``R`` exact replicates (never below ``1 / (R + 1)``).

Derivation and details: docs/notes/diagnostics_verdicts.md.

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
