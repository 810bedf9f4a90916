"""Early stopping: (a) stop-time sweep and (b) time-resolved comparison with ``p_t(·|y)``.

**(a) Sweep** (``early_stopping_sweep``, verdict). The sampler is re-run on the grid truncated at
several ``t_stop`` (the audit does the runs; this module only scores them). The README tells a
sampler whose grid ends above 0 to return the prior denoiser's estimate ``task.denoise(x, t)``;
the exact counterpart at ``t_stop`` is therefore that same map applied to exact draws of the
noised posterior, ``D_t(a x0 + s ε)`` with ``x0`` an exact posterior draw (and ``x0`` itself at
``t = 0``). One reference set of ``M`` draws ``(x0, ε)`` is shared by every stop (a coupled
reference).

Each stop is scored on its own scale: the exact posterior log-density of the sampler's outputs
against that of the stop's counterparts, by the two-sided Mann-Whitney rank test, whose
standardised statistic ``Z_j`` is ``N(0, 1)`` under the truth whatever the stop (each stop is
normalised by its own exact null). The question is whether an earlier stop is *better* than the
end, so the statistic is the gap ``Δ = |Z_0| − min_{t_stop > 0} |Z_j|``. Since ``Δ <= |Z_0|``, the
p-value ``2 Φ̄(Δ)`` is valid at every level without any simulation (it is ``P(|Z_0| >= Δ)``, an
upper bound on ``P(Δ' >= Δ)``). A fault that is the same at every stop (too narrow, too wide,
shifted, re-weighted) moves every ``Z_j`` alike and leaves ``Δ`` small; a fault that enters in
the last steps moves ``Z_0`` only. A sampler whose output does not change when the grid is
truncated cannot be judged: not applicable.

**(b) Time-resolved** (``early_stopping_trajectory``, informative). The ``x_t`` clouds recorded
through the observer are compared at each recorded ``t`` with ``p_t(x_t|y) = Σ w̄_k N(a m̄_k,
a² S̄_k + s² I)``: the within-mode spread ratio (exact sign test, as in
:mod:`~samplerlab.diagnostics.spread`) and the mode weights (exact per-component binomial counts,
as in :mod:`~samplerlab.diagnostics.mode_weights`; noising keeps the weights ``w̄``). Reported:
where in time the error enters — the first recorded ``t`` (in process order) with a
Bonferroni-significant deviation. A sampler that never calls the observer: not applicable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from samplerlab.diagnostics.mode_weights import label_count_test
from samplerlab.diagnostics.result import CheckResult, not_applicable, p_eq
from samplerlab.diagnostics.spread import radius_test
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import N_REFERENCE, Truth, evaluate

__all__ = ["sweep_check", "trajectory_check", "exact_stopped", "rank_z"]


def exact_stopped(truth: Truth, schedule, t_stops: list[float], purpose: str, n: int | None = None) -> list[Tensor]:
    """Exact counterparts ``D_t(a x0 + s ε)`` (prior denoiser) at each ``t_stop`` for one shared draw ``(x0, ε)``."""
    x0 = truth.draws(truth.n if n is None else n, purpose + "-x0")
    eps = torch.randn(x0.shape, generator=truth.gen(purpose + "-eps"), dtype=x0.dtype, device=x0.device)
    out = []
    for t in t_stops:
        a, s = schedule.alpha(t).to(x0), schedule.sigma(t).to(x0)
        out.append(x0 if float(s) == 0.0 else truth.prior.denoise(a * x0 + s * eps, a, s))
    return out


def rank_z(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised Mann-Whitney statistic of ``a`` against ``b`` (> 0: ``a`` tends to be larger)."""
    na, nb = len(a), len(b)
    ranks = stats.rankdata(np.concatenate([a, b]))
    u = ranks[:na].sum() - na * (na + 1) / 2
    return float((u - na * nb / 2) / math.sqrt(na * nb * (na + nb + 1) / 12))


def _reference(truth: Truth, schedule, t_stops: list[float]) -> list[np.ndarray]:
    """Exact log-densities of the coupled counterparts at each stop (cached in the truth)."""
    key = ("early_stopping", repr(schedule), tuple(t_stops))
    if key not in truth.nulls:
        m = min(N_REFERENCE, 10 * truth.n)
        truth.nulls[key] = [truth.log_prob(e).double().cpu().numpy()
                            for e in exact_stopped(truth, schedule, t_stops, "sweep-reference", m)]
    return truth.nulls[key]


@single_threaded_if_small
def sweep_check(outputs: dict[float, Tensor], truth: Truth, schedule) -> CheckResult:
    """Score sampler outputs ``{t_stop: samples}`` (``t_stop = 0`` is the full run) — see module doc."""
    t_stops = sorted(outputs)
    if t_stops[0] != 0.0 or len(t_stops) < 2:
        raise ValueError(f"outputs: expected t_stop 0 and at least one t_stop > 0, got {t_stops}")
    end = outputs[0.0]
    if all(torch.equal(outputs[t], end) for t in t_stops[1:]):
        return not_applicable("early_stopping_sweep", "early_stopping",
                              "the sampler ignores the grid (its output does not change when the grid is truncated)")
    ref = _reference(truth, schedule, t_stops)
    z = np.array([rank_z(truth.log_prob(outputs[t]).double().cpu().numpy(), ref[j]) for j, t in enumerate(t_stops)])
    best = 1 + int(np.argmin(np.abs(z[1:])))
    delta = float(abs(z[0]) - abs(z[best]))
    p = float(min(1.0, 2 * stats.norm.sf(delta))) if delta > 0 else 1.0
    return CheckResult(
        "early_stopping_sweep", "early_stopping", statistic=delta, effect=delta, p_value=p,
        detail=(f"stopping early is better: the output at t = 0 is off its exact law by |z| = {abs(z[0]):.1f}, "
                f"stopped at t = {t_stops[best]:.3g} by only {abs(z[best]):.1f} "
                f"(log-density rank tests against the exact counterparts; {p_eq(p)})"),
        data={"t_stop": [float(t) for t in t_stops], "z": z.tolist(), "best_stop": float(t_stops[best])})


@single_threaded_if_small
def trajectory_check(records: dict[float, Tensor], truth: Truth, schedule, alpha: float) -> CheckResult:
    """Compare recorded ``x_t`` clouds with ``p_t(·|y)`` (informative) — see module doc."""
    if not records:
        return not_applicable("early_stopping_trajectory", "early_stopping",
                              "the sampler never calls the observer", role="info")
    post = truth.posterior
    times = sorted(records, reverse=True)  # process order: t = 1 first
    ratio, tv, p_spread, p_mode = [], [], [], []
    for i, t in enumerate(times):
        x = records[t]
        a, s = schedule.alpha(t).to(x), schedule.sigma(t).to(x)
        ev = evaluate(post.noised(a, s), x, truth.gen(f"trajectory-{i}"))
        r, p = radius_test(ev.r2, x.shape[1])
        d_tv, p_tv, _ = label_count_test(ev.labels, post.weights, truth.seed)
        ratio.append(r), p_spread.append(p), tv.append(d_tv), p_mode.append(p_tv)
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
              "p_spread": [float(v) for v in p_spread], "p_mode": [float(v) for v in p_mode], "t_enter": t_enter})
