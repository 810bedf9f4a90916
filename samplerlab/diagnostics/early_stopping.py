"""Early stopping: (a) stop-time sweep and (b) time-resolved comparison with ``p_t(·|y)``.

**(a) Sweep** (``early_stopping_sweep``, verdict). The sampler is re-run on the grid truncated at
several ``t_stop`` (the audit does the runs; this module only scores them). Each output is
compared with its exact counterpart by the sliced Wasserstein-2 distance of *within-mode
coordinates* (whitened by a component sampled from the exact posterior responsibilities and
clipped to ±5, so that the score sees spread within modes, which the raw SW of a multimodal law
hardly does, and a few far-off samples cannot dominate it). The exact counterpart is ``E[x0 | x_{t_stop}, y]`` (the
exact posterior denoiser) applied to ``x_{t_stop} = a x0 + s ε``, ``x0`` an exact posterior draw
(one draw ``x0, ε`` shared by all stops). The statistic ``Δ = SW_end − min_{t_stop > 0} SW_{t_stop}``
is large when an earlier stop is better than the end. Its null — the exact process stopped at
each ``t_stop`` — is simulated from ``R = 30`` replicates with *independent* exact draws at each
stop (an independent coupling makes ``Δ`` at least as variable as the coupled runs of a sampler
that re-uses its random stream, so the test is conservative for those), with a normal tail
beyond the simulated range. A fault that damages every stop alike leaves ``Δ`` small: at small
``t_stop`` the exact denoiser barely moves a sample, so a shrunk output stays shrunk.
A sampler whose output does not change when the grid is truncated cannot be judged: not applicable.

**(b) Time-resolved** (``early_stopping_trajectory``, informative). The ``x_t`` clouds recorded
through the observer are compared at each recorded ``t`` with ``p_t(x_t|y) = Σ w̄_k N(a m̄_k,
a² S̄_k + s² I)``: the within-mode spread ratio (exact sign test, as in
:mod:`~samplerlab.diagnostics.spread`) and the mode TV (multinomial null, as in
:mod:`~samplerlab.diagnostics.mode_weights`; noising keeps the weights ``w̄``). Reported: where in
time the error enters — the first recorded ``t`` (in process order) with a Bonferroni-significant
deviation. A sampler that never calls the observer: not applicable.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from samplerlab.diagnostics.distribution import projections, sliced_w2, sorted_projections
from samplerlab.diagnostics.mode_weights import label_tv_pvalue
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.result import CheckResult, p_eq, not_applicable
from samplerlab.diagnostics.spread import radius_test
from samplerlab.diagnostics.truth import Truth, evaluate
from samplerlab.diagnostics.verdicts import mc_pvalue

__all__ = ["sweep_check", "trajectory_check", "exact_stopped", "N_SWEEP_REPLICATES"]

N_SWEEP_REPLICATES = 30


def exact_stopped(truth: Truth, schedule, t_stops: list[float], purpose: str) -> list[Tensor]:
    """Exact counterparts: ``E[x0 | a x0 + s ε, y]`` at each ``t_stop`` for one shared draw ``(x0, ε)``."""
    post = truth.posterior
    x0 = truth.draws(truth.n, purpose + "-x0")
    eps = torch.randn(x0.shape, generator=truth.gen(purpose + "-eps"), dtype=x0.dtype, device=x0.device)
    out = []
    for t in t_stops:
        a, s = schedule.alpha(t).to(x0), schedule.sigma(t).to(x0)
        out.append(x0 if float(s) == 0.0 else post.denoise(a * x0 + s * eps, a, s))
    return out


CLIP = 5.0


def _within(truth: Truth, x: Tensor, purpose: str) -> Tensor:
    """Clipped within-mode coordinates of ``x`` under the exact posterior."""
    return evaluate(truth.posterior, x, truth.gen(purpose)).z.clamp(-CLIP, CLIP)


def _score(truth: Truth, x: Tensor, ref_sorted: Tensor, theta: Tensor, purpose: str) -> float:
    """Within-mode SW of ``x`` to a reference given by its sorted projections."""
    return sliced_w2(_within(truth, x, purpose), None, theta, ref_sorted)


def _sweep_null(truth: Truth, schedule, t_stops: list[float]) -> dict:
    key = ("early_stopping", repr(schedule), tuple(t_stops))
    if key not in truth.nulls:
        post = truth.posterior
        ref = [_within(truth, e, f"sweep-ref-labels-{j}")
               for j, e in enumerate(exact_stopped(truth, schedule, t_stops, "sweep-reference"))]
        theta = projections(post.dim, truth.gen("sweep-projections"), post.dtype, post.device)
        ref_sorted = [sorted_projections(z, theta) for z in ref]  # sorted once, not once per replicate
        sw = np.array([[_score(truth, exact_stopped(truth, schedule, [t], f"sweep-null-{r}-{j}")[0], ref_sorted[j], theta,
                               f"sweep-null-labels-{r}-{j}")
                        for j, t in enumerate(t_stops)] for r in range(N_SWEEP_REPLICATES)])
        truth.nulls[key] = {"ref": ref, "ref_sorted": ref_sorted, "theta": theta, "sw": sw}
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
    null = _sweep_null(truth, schedule, t_stops)
    sw = np.array([_score(truth, outputs[t], null["ref_sorted"][j], null["theta"], f"sweep-labels-{j}")
                   for j, t in enumerate(t_stops)])
    delta = float(sw[0] - sw[1:].min())
    null_delta = null["sw"][:, 0] - null["sw"][:, 1:].min(1)
    p = mc_pvalue(delta, null_delta, tail="normal")
    best = 1 + int(np.argmin(sw[1:]))
    ratio = float(sw[0] / sw[best])
    exact_curve = np.median(null["sw"], 0)
    return CheckResult(
        "early_stopping_sweep", "early_stopping", statistic=delta, effect=ratio, p_value=p,
        detail=(f"stopping early is better: output at t = 0 is {ratio:.1f}× further from exact (within-mode SW {sw[0]:.3g}) "
                f"than stopping at t = {t_stops[best]:.3g} (SW {sw[best]:.3g}; exact ≈ {exact_curve[0]:.3g}) "
                f"({p_eq(p)})"),
        data={"t_stop": [float(t) for t in t_stops], "sampler_sw": sw.tolist(), "exact_sw": exact_curve.tolist(),
              "null_delta": null_delta.tolist()})


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
        d_tv, p_tv = label_tv_pvalue(ev.labels, truth)
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
