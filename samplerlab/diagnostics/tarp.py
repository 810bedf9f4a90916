"""TARP: tests of accuracy with random points (Lemos et al., 2023), across observations.

For observation ``j`` draw a reference point ``θ_j`` independently of ``x*_j`` given ``y_j``
(here from the prior, with its own seed). The randomised rank of ``‖x*_j − θ_j‖`` among the
draws' distances ``‖x_i − θ_j‖`` — the fraction of the sampler's mass inside the ball around
``θ_j`` that just reaches ``x*_j`` — is exactly ``Uniform(0, 1)`` for a correct sampler (see
:mod:`.coverage`). Its ECDF is TARP's expected coverage probability curve, ``ECP(q) = q`` at every
credible level ``q``; the test is the exact two-sided Kolmogorov–Smirnov test of the ``K`` ranks.
Effect: the largest distance between ECP and the diagonal. Unlike the per-coordinate ranks of
:mod:`.sbc`, the balls see the joint law in every direction at once.

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
