"""TARP: tests of accuracy with random points (Lemos et al., 2023), across observations.

:func:`tarp_check` (``tarp``) tests the randomised rank of the true signal's distance to a random
reference point among the draws' distances — TARP's expected coverage probability — with the exact
two-sided Kolmogorov–Smirnov test of the ``K`` ranks. Effect: the largest distance between ECP and
the diagonal.

Derivation and details: docs/notes/diagnostics_tarp.md.

Example:
    >>> import numpy as np
    >>> c = tarp_check(np.random.default_rng(2).uniform(size=100))
    >>> c.check, c.p_value > 0.01
    ('tarp', True)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from samplerlab.diagnostics.result import CheckResult, p_eq

__all__ = ["tarp_check"]


def tarp_check(u) -> CheckResult:
    """TARP from the randomised ranks ``u (K,)`` of the true signals' reference distances."""
    u = np.asarray(u, dtype=float).reshape(-1)
    test = stats.kstest(u, "uniform", method="exact")
    p, dist = float(test.pvalue), float(test.statistic)
    grid = np.linspace(0.0, 1.0, 21)
    ecp = [float((u <= q).mean()) for q in grid]
    if p > 0.05:
        detail = f"expected coverage of random balls on the diagonal over {len(u)} observations ({p_eq(p)})"
    else:
        above = float((u <= 0.5).mean()) > 0.5
        detail = (f"expected coverage of random balls off the diagonal by up to {dist:.2f} over {len(u)} "
                  "observations, "
                  f"{'above it: under-confident (too wide)' if above else 'below it: over-confident or biased'}"
                  f" ({p_eq(p)})")
    return CheckResult("tarp", "coverage", statistic=dist, effect=dist, p_value=p, detail=detail,
                       data={"levels": grid.tolist(), "ecp": ecp, "ranks": u.tolist()})
