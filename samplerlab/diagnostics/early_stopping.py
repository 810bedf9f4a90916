"""Early stopping, the stop-time sweep: outputs stopped early against the full run pushed to the same time.

:func:`stop_sweep_check` (``early_stopping_sweep``, verdict) scores runs of the sampler on the grid
truncated at the stops of :func:`default_stops` (the audit does the runs). Each stopped output is
paired with the full run's output pushed through the same prior denoiser map ``D_t``; under an exact
sampler the pair is exchangeable, and an exact two-sided sign test per stop and score (Bonferroni
over stops × 2) says whether the stop is closer to or farther from its exact counterpart than the
pushed full run. :func:`rank_z` is a standardised Mann-Whitney statistic. The time-resolved
comparison is :mod:`~samplerlab.diagnostics.stop_trajectory`; measured size: docs/early_stopping.md.

Derivation and details: docs/notes/diagnostics_early_stopping.md.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.result import CheckResult, not_applicable, p_eq
from samplerlab.diagnostics.stop_nulls import exact_stopped, stop_nulls
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import Truth
from samplerlab.diagnostics.verdicts import binom_two_sided, bonferroni

__all__ = ["stop_sweep_check", "exact_stopped", "rank_z", "default_stops", "NOISE_LEVELS", "CHECK"]


# Noise levels σ(t)/α(t) at which the audit stops by default: one per decade-ish, up to t ≈ 0.2 on vp_linear.
NOISE_LEVELS = (0.05, 0.15, 0.35, 0.7)


def default_stops(schedule, levels=NOISE_LEVELS) -> tuple[float, ...]:
    """Default stop times of the sweep: where ``schedule``'s noise level ``σ(t)/α(t)`` reaches ``levels``
    (so every schedule stops at the same noise levels), rounded to 4 decimals.

    >>> from samplerlab.core.schedules import VE, VPLinear
    >>> default_stops(VPLinear()), default_stops(VE())
    ((0.0119, 0.043, 0.1032, 0.1955), (0.191, 0.299, 0.3879, 0.4621))
    """
    return tuple(round(float(schedule.time_of_ratio(r)), 4) for r in levels)


def rank_z(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised Mann-Whitney statistic of ``a`` against ``b`` (> 0: ``a`` tends to be larger)."""
    na, nb = len(a), len(b)
    ranks = stats.rankdata(np.concatenate([a, b]))
    u = ranks[:na].sum() - na * (na + 1) / 2
    return float((u - na * nb / 2) / math.sqrt(na * nb * (na + nb + 1) / 12))


def _reference(truth: Truth, schedule, t_stops: list[float]) -> list[np.ndarray]:
    """Sorted exact log-densities of ``M`` counterparts at each stop
    (:func:`~samplerlab.diagnostics.stop_nulls.stop_nulls`)."""
    return stop_nulls(truth, schedule, t_stops)["reference"]


def _logp(truth: Truth, x: Tensor) -> np.ndarray:
    return truth.log_prob(x).double().cpu().numpy()


def _level(logp: np.ndarray, ref_sorted: np.ndarray) -> np.ndarray:
    """``F(log p(x|y))`` with ``F`` the reference CDF (mid-rank): uniform under the counterpart law."""
    lo = np.searchsorted(ref_sorted, logp, side="left")
    hi = np.searchsorted(ref_sorted, logp, side="right")
    return (lo + hi) / (2 * len(ref_sorted))


def _w1_uniform(u: np.ndarray) -> float:
    """Wasserstein-1 distance of the levels ``u`` to ``U(0, 1)``, their law under the exact counterpart."""
    return float(np.abs(np.sort(u) - (np.arange(len(u)) + 0.5) / len(u)).mean())


def _sign_p(up: int, down: int) -> float:
    """Exact two-sided sign test of ``up`` against ``down`` (ties dropped)."""
    return float(binom_two_sided(up, up + down, 0.5)) if up + down else 1.0


@single_threaded_if_small
def stop_sweep_check(outputs: dict[float, Tensor], truth: Truth, schedule) -> CheckResult:
    """Score sampler outputs ``{t_stop: samples}`` (``t_stop = 0`` is the full run) — see module doc."""
    t_stops = sorted(outputs)
    if t_stops[0] != 0.0 or len(t_stops) < 2:
        raise ValueError(f"outputs: expected t_stop 0 and at least one t_stop > 0, got {t_stops}")
    end = outputs[0.0]
    if all(torch.equal(outputs[t], end) for t in t_stops[1:]):
        return not_applicable("early_stopping_sweep", "early_stopping",
                              "the sampler ignores the grid (its output does not change when the grid is truncated)")
    ref = _reference(truth, schedule, t_stops)
    x_end = end.to(truth.dtype)
    keys = ("wins", "losses", "ties", "denser", "sparser", "p_badness", "p_level", "dist_stop", "dist_pushed")
    data: dict = ({"t_stop": [float(t) for t in t_stops], "z": [rank_z(_logp(truth, end), ref[0])]}
                  | {k: [] for k in keys})
    for j, t in enumerate(t_stops[1:], start=1):
        a, s = schedule.alpha(t).to(x_end), schedule.sigma(t).to(x_end)
        eps = torch.randn(x_end.shape, generator=truth.gen(f"sweep-pushed-{j}"), dtype=x_end.dtype,
                          device=x_end.device)
        pushed = truth.prior.denoise(a * x_end + s * eps, a, s)
        logp_stop = _logp(truth, outputs[t])  # once: the sign tests and the z of this stop
        u_stop, u_pushed = _level(logp_stop, ref[j]), _level(_logp(truth, pushed), ref[j])
        b_stop, b_pushed = np.abs(u_stop - 0.5), np.abs(u_pushed - 0.5)
        w, lo, up, down = (int(v.sum()) for v in (b_stop < b_pushed, b_stop > b_pushed, u_stop > u_pushed,
                                                  u_stop < u_pushed))
        row = (w, lo, len(b_stop) - w - lo, up, down, _sign_p(w, lo), _sign_p(up, down), _w1_uniform(u_stop),
               _w1_uniform(u_pushed))
        for k, v in zip(keys, row):
            data[k].append(v)
        data["z"].append(rank_z(logp_stop, ref[j]))
    n, ties = len(end), data["ties"]
    if max(ties) * 2 > n:
        j = int(np.argmax(ties))
        return not_applicable("early_stopping_sweep", "early_stopping",
                              f"{ties[j]} of {n} pairs tie at t = {t_stops[j + 1]:.3g}: the samples lie outside the "
                              "exact posterior's support, where the badness saturates at ½", data=data)
    stops = len(t_stops) - 1
    p, k = bonferroni(data["p_badness"] + data["p_level"])
    best = k % stops
    t_best, w, lo = t_stops[best + 1], data["wins"][best], data["losses"][best]
    d_stop, d_pushed = data["dist_stop"][best], data["dist_pushed"][best]
    frac = w / (w + lo) if w + lo else 0.5
    data["best_stop"] = float(t_best)
    return CheckResult(
        "early_stopping_sweep", "early_stopping", statistic=frac, effect=frac, p_value=p,
        detail=(f"the output stopped at t = {t_best:.3g} is {'closer to' if d_stop < d_pushed else 'farther from'} its "
                f"exact counterpart than the full run pushed to that time (W1 of their exact log-density levels "
                f"{d_stop:.3g} vs {d_pushed:.3g}; pairs: {w} wins, {lo} losses, {ties[best]} ties, "
                f"{data['denser'][best]} denser, {data['sparser'][best]} sparser; {p_eq(p)}, two-sided sign tests, "
                f"Bonferroni over {stops} stops × 2)"),
        data=data)


CHECK = Check("early_stopping_sweep", ("early_stopping",), "stops", order=40,
              run=lambda i: [stop_sweep_check(i.outputs, i.truth, i.schedule)],
              carriers={"early_stopping": "early_stopping_sweep"}, figures=("early_stopping",))
