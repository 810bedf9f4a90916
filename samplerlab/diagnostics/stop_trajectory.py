"""Early stopping, time-resolved: the ``x_t`` a sampler notified against ``p_t(·|y)`` (informative).

:func:`trajectory_check` (``early_stopping_trajectory``) compares the ``x_t`` clouds recorded through
the observer at each recorded ``t`` with the exact noised posterior ``p_t(x_t|y)``: the within-mode
spread ratio (exact sign test) and the mode weights (exact per-component counts). Reported: the first
recorded ``t`` with a Bonferroni-significant deviation — where in time the error enters. The data
also hold the exact band of the spread ratio (:func:`spread_ratio_band`), plot material only.

Derivation and details: docs/notes/diagnostics_stop_trajectory.md.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.mode_weights import label_count_test
from samplerlab.diagnostics.result import CheckResult, not_applicable, p_eq
from samplerlab.diagnostics.spread import radius_test
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import Truth, evaluate

__all__ = ["trajectory_check", "spread_ratio_band", "CHECK"]


def spread_ratio_band(n: int, d: int, level: float) -> tuple[float, float]:
    """``(lo, hi)`` with ``P(ratio < lo) <= level / 2`` and ``P(ratio > hi) <= level / 2`` for an exact sampler.

    ``ratio = sqrt(median(r²) / median χ²_d)`` over ``n`` squared radii, which under the exact law
    are iid ``χ²_d`` (labels sampled from the exact responsibilities, see
    :mod:`samplerlab.diagnostics.truth`). The ``k``-th order statistic of ``n`` iid draws with CDF
    ``F`` is ``F⁻¹(U_(k))`` with ``U_(k) ~ Beta(k, n − k + 1)`` exactly. For odd ``n`` the median is
    ``X_((n+1)/2)``: the band is exact. For even ``n`` it is the mean of ``X_(n/2)`` and
    ``X_(n/2+1)``, so it lies between them; the lower bound is taken from ``X_(n/2)`` and the upper
    from ``X_(n/2+1)``: conservative (coverage ``>= 1 − level``).

    >>> lo, hi = spread_ratio_band(2001, 2, 0.05)
    >>> lo < 1.0 < hi, round(hi - lo, 2)
    (True, 0.06)
    """
    n = int(n)
    k_lo, k_hi = (n + 1) // 2, n // 2 + 1
    u_lo = stats.beta.ppf(level / 2, k_lo, n - k_lo + 1)
    u_hi = stats.beta.ppf(1 - level / 2, k_hi, n - k_hi + 1)
    med = stats.chi2.median(d)
    return float(np.sqrt(stats.chi2.ppf(u_lo, d) / med)), float(np.sqrt(stats.chi2.ppf(u_hi, d) / med))


@single_threaded_if_small
def trajectory_check(records: dict[float, Tensor], truth: Truth, schedule, alpha: float) -> CheckResult:
    """Compare recorded ``x_t`` clouds with ``p_t(·|y)`` (informative) — see module doc."""
    if not records:
        return not_applicable("early_stopping_trajectory", "early_stopping",
                              "the sampler never calls the observer", role="info")
    post = truth.posterior
    times = sorted(records, reverse=True)  # process order: t = 1 first
    ratio, tv, p_spread, p_mode, band = [], [], [], [], []
    # Exact band of the spread ratio (plot material, no p-value): per time, at the check's own
    # per-time level α / (2T) — see spread_ratio_band.
    band_level = alpha / (2 * len(times))
    for i, t in enumerate(times):
        x = records[t]
        a, s = schedule.alpha(t).to(x), schedule.sigma(t).to(x)
        ev = evaluate(post.noised(a, s), x, truth.gen(f"trajectory-{i}"))
        r, p = radius_test(ev.r2, x.shape[1])
        d_tv, p_tv, _ = label_count_test(ev.labels, post.weights, truth.seed)
        ratio.append(r), p_spread.append(p), tv.append(d_tv), p_mode.append(p_tv)
        band.append(spread_ratio_band(len(x), x.shape[1], band_level))
    local = np.minimum(p_spread, p_mode)
    level = alpha / (2 * len(times))
    p_all = float(min(1.0, 2 * len(times) * local.min()))
    bad = np.nonzero(local <= level)[0]
    if len(bad):
        i = int(bad[0])
        what = f"spread {ratio[i]:.2f}×" if p_spread[i] <= p_mode[i] else f"mode TV {tv[i]:.3f}"
        detail = f"error enters at t = {times[i]:.3g}: {what} vs exact p_t(·|y) ({p_eq(p_all)})"
        t_enter = float(times[i])
    else:
        detail, t_enter = "x_t tracks the exact noised posterior at every recorded t", None
    return CheckResult(
        "early_stopping_trajectory", "early_stopping", statistic=float(local.min()),
        effect=t_enter, p_value=p_all, detail=detail, role="info",
        data={"t": [float(t) for t in times], "spread_ratio": ratio, "mode_tv": tv,
              "p_spread": [float(v) for v in p_spread], "p_mode": [float(v) for v in p_mode], "t_enter": t_enter,
              "spread_lo": [b[0] for b in band], "spread_hi": [b[1] for b in band], "band_level": band_level})


CHECK = Check("early_stopping_trajectory", ("early_stopping",), "trajectory", order=60, role="info",
              run=lambda i: [trajectory_check(i.records, i.truth, i.schedule, i.alpha)], figures=("spread_vs_t",))
