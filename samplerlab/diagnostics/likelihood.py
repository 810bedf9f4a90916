"""Why a sampler fails: its intermediate likelihood guidance against the exact ``∇ log p(y | x_t)``.

With a Gaussian-mixture prior the exact likelihood score is, by Tweedie's formula, the posterior
denoiser minus the prior's, ``(a_t / s_t²) (E[x0 | x_t, y] − E[x0 | x_t])`` (:func:`exact_guidance`).
:func:`likelihood_check` (``likelihood_approximation``, ``role = "info"``) compares it with the
guidance a sampler reports through ``task.notify(..., guidance=g)`` along the sampler's own
trajectory: norm ratio, cosine, relative error in the observed subspace and its complement, and the
implied ``Cov[y | x_t]`` where reported. It says where the approximation departs; it explains the
verdicts and does not enter Holm's family.

Derivation and details: docs/notes/diagnostics_likelihood.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem, audit, samplers
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.25, 0.25]), Identity(1), 1.0, [0.4])
    >>> report = audit(samplers.get("oracle", problem=problem), problem, n=200, steps=50,
    ...                checks=["likelihood_approximation"])
    >>> c = report["likelihood_approximation"]
    >>> round(c.effect, 6), c.detail.startswith("guidance matches")
    (1.0, True)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.result import CheckResult, not_applicable
from samplerlab.diagnostics.truth import Truth, row_chunks

__all__ = ["likelihood_check", "exact_guidance", "COS_DEPART", "RATIO_BAND", "CHECK"]

COS_DEPART = 0.9
RATIO_BAND = (0.8, 1.25)
MAX_ROWS = 512  # samples per recorded time: quartiles of 512 iid rows are within a few percent


def exact_guidance(truth: Truth, x: Tensor, a: Tensor, s: Tensor) -> Tensor:
    """``∇_{x_t} log p(y | x_t) = (a/s²)(E[x0|x_t, y] − E[x0|x_t])`` in row chunks."""
    post, prior = truth.posterior, truth.prior
    out = torch.empty_like(x)
    for rows in row_chunks(len(x), max(post.n_components, prior.n_components)):
        out[rows] = (a / s**2) * (post.denoise(x[rows], a, s) - prior.denoise(x[rows], a, s))
    return out


def _observed_basis(truth: Truth, dtype, device) -> Tensor:
    V = truth.problem.operator.svd().V  # (d, r): orthonormal basis of the range of Aᵀ
    return V.to(device=device, dtype=dtype)


def _quartiles(v: Tensor) -> tuple[float, float, float]:
    q = torch.quantile(v.double().cpu(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return float(q[0]), float(q[1]), float(q[2])


def _departs(cos_med: float, ratio_q: tuple[float, float, float]) -> bool:
    lo, med, hi = ratio_q
    return cos_med < COS_DEPART or (not RATIO_BAND[0] <= med <= RATIO_BAND[1] and (lo > 1.0 or hi < 1.0))


def _cov_ratio(truth: Truth, x: Tensor, cov: Tensor, a: Tensor, s: Tensor, directions: int = 8) -> list[float]:
    """Median over samples of ``u_iᵀ C u_i / u_iᵀ Cov[y|x_t] u_i`` for the leading singular directions."""
    U, S, V = (M.to(device=x.device, dtype=x.dtype) for M in truth.problem.operator.svd())
    k = min(directions, S.shape[0])
    cov = cov.to(device=x.device, dtype=x.dtype)
    reported = torch.einsum("mi,...mn,ni->...i", U[:, :k], cov, U[:, :k])  # (k,) or (n, k)
    var = truth.prior.denoise_cov_quadratic(x.to(truth.dtype), V[:, :k].to(truth.dtype), a, s).to(x.dtype)  # (n, k)
    out = []
    for i in range(k):
        exact = S[i] ** 2 * var[:, i] + truth.problem.sigma_y ** 2
        rep = reported[..., i] if reported.dim() == 2 else reported[i].expand_as(exact)
        out.append(float((rep / exact).median()))
    return out


def likelihood_check(records: dict[float, tuple], truth: Truth, schedule) -> CheckResult:
    """Compare the reported guidance with the exact likelihood score at each recorded time (info).

    ``records[t] = (x_t, guidance or None[, likelihood_cov or None])``.
    """
    records = {t: (tuple(v) + (None,))[:3] for t, v in records.items()}
    reported = {t: v for t, v in records.items() if v[1] is not None}
    if not reported:
        return not_applicable("likelihood_approximation", "likelihood_approximation",
                              "the sampler does not report its guidance (task.notify(..., guidance=g))", role="info")
    times = sorted(reported, reverse=True)  # process order
    V = None
    rows = []
    for t in times:
        x, g, cov = reported[t]
        x, g = x[:MAX_ROWS], g[:MAX_ROWS]  # the rows are iid: the first ones are a random subset
        cov = cov[:MAX_ROWS] if cov is not None and cov.dim() == 3 else cov
        a, s = schedule.alpha(t).to(x), schedule.sigma(t).to(x)
        exact = exact_guidance(truth, x.to(truth.dtype), a.to(truth.dtype), s.to(truth.dtype)).to(x.dtype)
        V = _observed_basis(truth, x.dtype, x.device) if V is None else V
        norm = exact.norm(dim=1)
        ok = norm > torch.finfo(x.dtype).tiny
        if not ok.any():
            continue
        g, exact, norm = g[ok], exact[ok], norm[ok]
        err = g - exact
        err_obs = (err @ V) @ V.T
        ratio_q = _quartiles(g.norm(dim=1) / norm)
        cos_q = _quartiles(torch.nn.functional.cosine_similarity(g, exact, dim=1))
        cov_ratio = None if cov is None else _cov_ratio(truth, x[ok], cov[ok] if cov.dim() == 3 else cov,
                                                        a.to(truth.dtype), s.to(truth.dtype))
        rows.append({"t": float(t), "ratio": ratio_q, "cos": cos_q, "cov_ratio": cov_ratio,
                     "err_observed": float((err_obs.norm(dim=1) / norm).median()),
                     "err_complement": float(((err - err_obs).norm(dim=1) / norm).median()),
                     "departs": _departs(cos_q[1], ratio_q)})
    if not rows:
        return not_applicable("likelihood_approximation", "likelihood_approximation",
                              "the exact likelihood score vanishes at every recorded time", role="info")
    effect = float(np.median([r["ratio"][1] for r in rows]))  # median over times of the median ratio
    departed = [r for r in rows if r["departs"]]
    if departed:
        worst = max(departed, key=lambda r: abs(math.log(max(r["ratio"][1], 1e-300))) + (1 - r["cos"][1]))
        strength = worst["ratio"][1]
        how = (f"{strength:.2g}× too strong" if strength > 1 else f"{strength:.2g}× too weak (×{1 / strength:.2g} "
               "short)" if strength > 0 else "absent")
        span = f"t = {departed[0]['t']:.3g}" + (f" … {departed[-1]['t']:.3g}" if len(departed) > 1 else "")
        detail = (f"guidance departs from the exact ∇ log p(y|x_t) at {len(departed)} of {len(rows)} recorded times "
                  f"({span}); worst at t = {worst['t']:.3g}: {how}, cosine {worst['cos'][1]:.2f}, relative error "
                  f"{worst['err_observed']:.2g} in the observed subspace and {worst['err_complement']:.2g} in its "
                  "complement")
    else:
        detail = (f"guidance matches the exact ∇ log p(y|x_t) at every recorded time (median ratio within "
                  f"{RATIO_BAND[0]}–{RATIO_BAND[1]}, cosine ≥ {COS_DEPART})")
    covs = [(r["t"], i, v) for r in rows if r["cov_ratio"] for i, v in enumerate(r["cov_ratio"]) if v > 0]
    worst_cov = max(covs, key=lambda c: abs(math.log(c[2]))) if covs else None
    if worst_cov is not None and not RATIO_BAND[0] <= worst_cov[2] <= RATIO_BAND[1]:
        t_c, i_c, v_c = worst_cov
        detail += (f"; its implied Cov[y|x_t] is {v_c:.2g}× the exact along singular direction {i_c} at "
                   f"t = {t_c:.3g} ({'over' if v_c > 1 else 'under'}-estimated spread of y given x_t)")
    return CheckResult("likelihood_approximation", "likelihood_approximation",
                       statistic=float(np.median([r["cos"][1] for r in rows])), effect=effect, detail=detail,
                       role="info", data={"t": [r["t"] for r in rows], "ratio": [r["ratio"] for r in rows],
                                          "cos": [r["cos"] for r in rows],
                                          "err_observed": [r["err_observed"] for r in rows],
                                          "err_complement": [r["err_complement"] for r in rows],
                                          "departs": [r["departs"] for r in rows],
                                          "cov_ratio": [r["cov_ratio"] for r in rows],
                                          "t_depart": departed[0]["t"] if departed else None})


CHECK = Check("likelihood_approximation", ("likelihood_approximation",), "guidance", order=80, role="info",
              aliases=("why",), figures=("guidance_vs_t",),
              run=lambda i: [likelihood_check({t: (x, i.guidance.get(t), i.covs.get(t)) for t, x in i.records.items()},
                                              i.truth, i.schedule)])
