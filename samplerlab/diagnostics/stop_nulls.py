"""Exact stopped draws, and the two stop-time nulls built from one pool of them.

An exact sampler stopped at ``t`` returns ``D_t(x_t)``, the prior denoiser applied to a noised exact
posterior draw (:func:`exact_stopped`). :func:`stop_nulls` builds the sweep's reference
(:func:`reference_size` draws per stop) and the stop-time profile's null (``R = 99`` sets of
:func:`profile_rows` rows, scored by :func:`sliced_w1_rows`) from one cached pool of path-coupled
draws, so the denoiser runs once per pooled row.

Derivation and details: docs/notes/diagnostics_stop_nulls.md.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from samplerlab.core.memory import N_REFERENCE
from samplerlab.diagnostics.distribution import N_REPLICATES, NULL_CHUNK, NULL_DTYPE, projections, sorted_projections
from samplerlab.diagnostics.truth import Truth, row_chunks

__all__ = ["exact_stopped", "stop_nulls", "sliced_w1_rows", "profile_rows", "reference_size", "ROWS"]

ROWS = 64  # the profile reads the first min(n, ROWS) rows of each stopped output (docs/early_stopping.md)


def exact_stopped(truth: Truth, schedule, t_stops: list[float], purpose: str, n: int | None = None,
                  dtype: torch.dtype | None = None, path: bool = False) -> list[Tensor]:
    """Exact counterparts ``D_t(x_t)`` (prior denoiser) at each ``t_stop``, ``x_t`` a noised exact posterior draw.

    The stops share ``x0``. With ``path=False`` they share one ``ε`` too (``x_t = a x0 + s ε``): the
    marginals are exact, which is all a per-stop comparison needs. With ``path=True`` ``x_t`` follows
    one forward-process path through the stops in increasing ``t`` (``x_t = r x_{t'} + q ε_t``,
    ``r = a_t / a_{t'}``, ``q² = s_t² − r² s_{t'}²``, independent increments): the joint law of an
    exact reverse chain's states at the stops, which a statistic of several stops needs. ``x0`` and
    the normals are drawn in ``dtype`` (default the posterior's); the denoiser runs in the prior's.
    """
    x0 = truth.draws(truth.n if n is None else n, purpose + "-x0", dtype)
    gen, prior, out = truth.gen(purpose + "-eps"), truth.prior, [None] * len(t_stops)
    eps = None if path else torch.randn(x0.shape, generator=gen, dtype=x0.dtype, device=x0.device)
    x_t, a_prev, s_prev = x0, x0.new_ones(()), x0.new_zeros(())
    for i in sorted(range(len(t_stops)), key=lambda i: t_stops[i]):
        a, s = schedule.alpha(t_stops[i]).to(x0), schedule.sigma(t_stops[i]).to(x0)
        if float(s) == 0.0:
            out[i] = x0
            continue
        if path:  # the forward transition from the previous stop
            r = a / a_prev
            x_t = r * x_t + (s.square() - (r * s_prev).square()).clamp_min(0).sqrt() * torch.randn(
                x0.shape, generator=gen, dtype=x0.dtype, device=x0.device)
            a_prev, s_prev = a, s
        else:
            x_t = a * x0 + s * eps
        out[i] = torch.empty_like(x0)
        for rows in row_chunks(len(x0), prior.n_components):  # cache-sized (rows, K) temporaries
            out[i][rows] = prior.denoise(x_t[rows], a, s)
    return out


def sliced_w1_rows(x: Tensor, theta: Tensor, ref_sorted: Tensor) -> Tensor:
    """Sliced Wasserstein-1 of ``x`` (``(..., n, d)``) to row-sorted reference projections ``(L, n)``:
    the mean over directions and ranks of ``|x_(i) − ref_(i)|``; one value per leading index."""
    return (sorted_projections(x, theta) - ref_sorted).abs().mean((-1, -2))


def profile_rows(truth: Truth) -> int:
    """Rows ``m`` of each stopped output the profile reads."""
    return min(truth.n, ROWS)


def reference_size(truth: Truth) -> int:
    """Reference draws ``M`` per stop of the sweep's ``F_t``: they resolve it to ``1/M``; the sign test
    is exact for any ``M`` (both members of a pair use the same ``F_t``)."""
    return min(N_REFERENCE, 5 * truth.n)


def stop_nulls(truth: Truth, schedule, t_stops: list[float]) -> dict:
    """The sweep's reference and the profile's null at ``t_stops`` (cached in the truth and on disk).

    Returns ``reference`` (per stop, the ``M`` sorted exact log-densities), ``theta`` (the profile's
    directions), ``refs`` (per stop, the profile's sorted reference projections, ``m`` draws of
    their own stream) and ``null`` (``(R, S)``: each replicate's sliced W1 to ``refs`` per stop).
    """
    key = ("stop-nulls", repr(schedule), tuple(t_stops))
    if key not in truth.nulls:
        from samplerlab.diagnostics.cache import cached

        post, big, m, S = truth.posterior, reference_size(truth), profile_rows(truth), len(t_stops)
        theta = projections(post.dim, truth.gen("profile-projections"), torch.float64, post.device)
        refs = [sorted_projections(e, theta) for e in exact_stopped(truth, schedule, t_stops, "profile-reference", m)]

        def build() -> dict:
            theta_ = theta.to(NULL_DTYPE)
            blocks = math.ceil(max(big, N_REPLICATES * m) / m)  # the pool, in blocks of m rows
            per = max(1, min(blocks, NULL_CHUNK // (m * post.dim)))  # blocks per batch
            rows = per * m
            logp, w = [[] for _ in range(S)], []
            for j in range(math.ceil(blocks / per)):
                outs = exact_stopped(truth, schedule, t_stops, f"stop-pool-{j}", rows, NULL_DTYPE, path=True)
                take, reps = min(rows, big - j * rows), min(per, N_REPLICATES - j * per)
                for i, e in enumerate(outs):
                    if take > 0:  # the sweep's reference: the pool's first M rows
                        logp[i].append(truth.log_prob(e[:take]).double().cpu())
                if reps > 0:  # the profile's replicates: consecutive blocks of m rows
                    w.append(torch.stack([sliced_w1_rows(e[:reps * m].reshape(reps, m, -1), theta_, ref)
                                          for e, ref in zip(outs, refs)], 1))
            null = torch.cat(w).cpu().numpy()  # (R, S)
            return ({f"reference{i}": np.sort(torch.cat(v).numpy()) for i, v in enumerate(logp)}
                    | {f"null{i}": null[:, i] for i in range(S)})

        stored = cached(truth.problem, "stop-time-nulls",
                        {"n": truth.n, "seed": truth.seed, "M": big, "m": m, "R": N_REPLICATES, "L": theta.shape[1],
                         "schedule": repr(schedule), "t_stops": list(t_stops), "dtype": str(NULL_DTYPE)}, build,
                        shapes={f"reference{i}": big for i in range(S)} | {f"null{i}": N_REPLICATES for i in range(S)})
        truth.nulls[key] = {"reference": [stored[f"reference{i}"] for i in range(S)], "theta": theta, "refs": refs,
                            "null": np.stack([stored[f"null{i}"] for i in range(S)], 1)}
    return truth.nulls[key]
