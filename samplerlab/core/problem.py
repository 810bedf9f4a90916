"""Linear-Gaussian inverse problems with a Gaussian-mixture prior: the exact truth.

``y = A x0 + σ_y n``. With ``G_k = A S_k Aᵀ + σ_y² I`` the posterior is the
mixture ``Σ w̄_k N(m̄_k, S̄_k)``, ``w̄_k ∝ w_k N(y; A m_k, G_k)``,
``m̄_k = m_k + S_k Aᵀ G_k⁻¹ (y − A m_k)``, ``S̄_k = S_k − S_k Aᵀ G_k⁻¹ A S_k``.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> prior = GaussianMixture([1.0], [[0.0]], [1.0])
    >>> post = InverseProblem(prior, Identity(1), 1.0, [2.0]).posterior()
    >>> post.means.item(), post.covariance_matrices().item()
    (1.0, 0.5)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from samplerlab.core.covariance import ComponentCovariance, CoordinateCovariance
from samplerlab.core.mixture import GaussianMixture
from samplerlab.core.schedules import Schedule, VPLinear
from samplerlab.errors import InputError
from samplerlab.operators import LinearOperator

__all__ = ["InverseProblem"]

_LOG2PI = math.log(2 * math.pi)


def _selected_coordinates(v: Tensor) -> Tensor | None:
    """Column ``i`` of ``V`` is ``±e_{j_i}`` for every ``i``: return the ``j_i``, else ``None``."""
    nonzero = v != 0
    if not bool((nonzero.sum(0) == 1).all()) or not bool((v.abs()[nonzero] == 1).all()):
        return None
    return nonzero.to(torch.int8).argmax(0)


def _non_finite(post: GaussianMixture) -> list[str]:
    """The parts of an exact posterior that overflowed or underflowed (``[]`` when it is usable)."""
    lam = post.cov_factors.lam
    bad = [] if bool(torch.isfinite(post.log_weights).any() and not post.log_weights.isnan().any()) else ["weights"]
    bad += [] if bool(torch.isfinite(post.means).all()) else ["means"]
    ok_cov = torch.isfinite(lam).all() and (lam > 0).all() and torch.isfinite(1 / lam).all()
    return bad + ([] if bool(ok_cov) else ["covariances"])


def _placed(operator: LinearOperator, device, dtype) -> LinearOperator:
    """``operator`` on ``device`` in ``dtype``: itself when it already is (its cached SVD, which a
    dense 4096-column operator takes seconds to compute, is kept), else a moved copy that carries
    the cached SVD along."""
    if operator.device == torch.device(device) and operator.dtype == dtype:
        return operator
    moved = operator.to(device=device, dtype=dtype)
    if operator._svd is not None and moved._svd is None:
        moved.keep_svd(type(operator._svd)(*(t.to(device=device, dtype=dtype) for t in operator._svd)))
    return moved


class InverseProblem:
    """Prior, operator, noise level and observation; every exact quantity derives from them."""

    def __init__(self, prior: GaussianMixture, operator: LinearOperator, sigma_y: float, y):
        if operator.in_dim != prior.dim:
            raise ValueError(
                f"operator: input dimension {operator.in_dim} does not match prior dimension {prior.dim}")
        if not (isinstance(sigma_y, (int, float)) and math.isfinite(sigma_y) and sigma_y > 0):
            raise ValueError(f"sigma_y: expected a positive finite number, got {sigma_y!r}")
        info = torch.finfo(prior.dtype)
        if not info.tiny <= float(sigma_y) * float(sigma_y) <= info.max:  # σ_y² and 1/σ_y² enter the posterior
            raise ValueError(f"sigma_y: expected a noise level whose square is a normal {str(prior.dtype)[6:]} "
                             f"number ({math.sqrt(info.tiny):.3g} to {math.sqrt(info.max):.3g}), got {sigma_y!r}")
        y = torch.as_tensor(y, device=prior.device, dtype=prior.dtype)
        if y.shape != (operator.out_dim,):
            raise ValueError(f"y: expected shape ({operator.out_dim},), got {tuple(y.shape)}")
        if not torch.isfinite(y).all():
            raise ValueError("y: contains NaN or Inf")
        self.prior = prior
        self.operator = _placed(operator, prior.device, prior.dtype)
        self.sigma_y = float(sigma_y)
        self.y = y
        self.x_star: Tensor | None = None
        self._posterior: GaussianMixture | None = None

    @classmethod
    def simulate(cls, prior: GaussianMixture, operator: LinearOperator, sigma_y: float,
                 generator: torch.Generator | None = None) -> "InverseProblem":
        """Draw ``x* ~ prior`` and ``y = A x* + σ_y n``; ``x*`` is kept as ``problem.x_star``."""
        x = prior.sample(1, generator=generator)[0]
        op = _placed(operator, prior.device, prior.dtype)
        noise = torch.randn(op.out_dim, generator=generator, device=prior.device, dtype=prior.dtype)
        problem = cls(prior, operator, sigma_y, op.forward(x) + sigma_y * noise)
        problem.x_star = x
        return problem

    @property
    def dim(self) -> int:
        return self.prior.dim

    def to(self, device=None, dtype=None) -> "InverseProblem":
        """The same problem on ``device`` in ``dtype`` (itself when nothing changes): prior, operator
        (with its cached SVD), observation and ``x_star`` move together; the exact posterior is
        recomputed on first use there."""
        device = self.y.device if device is None else torch.device(device)
        dtype = self.y.dtype if dtype is None else dtype
        if device == self.y.device and dtype == self.y.dtype:
            return self
        moved = InverseProblem(self.prior.to(device=device, dtype=dtype), _placed(self.operator, device, dtype),
                               self.sigma_y, self.y.to(device=device, dtype=dtype))
        moved.x_star = None if self.x_star is None else self.x_star.to(device=device, dtype=dtype)
        return moved

    def __repr__(self) -> str:
        return (f"InverseProblem(prior={self.prior!r}, operator={type(self.operator).__name__}"
                f"{self.operator.shape}, sigma_y={self.sigma_y:g})")

    # -- exact posterior -------------------------------------------------------------------
    def posterior(self) -> GaussianMixture:
        """Exact posterior ``p(x0 | y)`` (computed once, cached)."""
        if self._posterior is None:
            iso = self.prior.cov_factors.kind == "isotropic"
            post = self._posterior_isotropic() if iso else self._posterior_dense()
            bad = _non_finite(post)
            if bad:
                raise InputError(f"sigma_y: expected a noise level with which the exact posterior is finite in "
                                 f"{str(post.dtype)[6:]} (for this prior and y), got sigma_y = {self.sigma_y:g} "
                                 f"and non-finite posterior {' and '.join(bad)}")
            self._posterior = post
        return self._posterior

    def _posterior_isotropic(self) -> GaussianMixture:
        """Isotropic prior: every posterior covariance is diagonal in the operator's right basis."""
        prior, op, s2 = self.prior, self.operator, self.sigma_y**2
        svd = op.svd()
        r, m = svd.S.shape[0], op.out_dim
        v = prior.cov_factors.lam[:, 0]  # (K,)
        sv2 = svd.S**2
        g = v[:, None] * sv2 + s2  # eigenvalues of G_k on range(U), (K, r)
        resid = self.y - op.forward(prior.means)  # (K, m)
        ru = resid @ svd.U  # (K, r)
        # G_k⁻¹ r = U diag(1/g − 1/σ²) Uᵀ r + r / σ²
        ginv_r = (ru * (1 / g - 1 / s2)) @ svd.U.T + resid / s2
        maha = (resid * ginv_r).sum(-1)
        logdet = g.log().sum(-1) + (m - r) * math.log(s2)
        log_w = prior.log_weights - 0.5 * (maha + logdet + m * _LOG2PI)
        means = (v[:, None] * op.adjoint(ginv_r)).add_(prior.means)  # added in place: one K×d temporary fewer
        lam = v[:, None].expand(-1, prior.dim).clone()
        coords = _selected_coordinates(svd.V)
        if coords is not None:  # V selects coordinates (mask, identity): the posterior is diagonal
            lam[:, coords] = v[:, None] * s2 / g
            cov = CoordinateCovariance(lam, prior.dim)
        else:
            basis = torch.linalg.qr(svd.V, mode="complete")[0]  # first r columns span range(V)
            lam[:, :r] = v[:, None] * s2 / g
            cov = CoordinateCovariance(lam, prior.dim, basis)
        return GaussianMixture.from_factored(log_w, means, cov, prior.max_elements, prior.labels)

    def _posterior_dense(self) -> GaussianMixture:
        """General prior: dense Kalman update per component, factored once."""
        prior, s2 = self.prior, self.sigma_y**2
        A = self.operator.matrix()
        S = prior.covariance_matrices()
        AS = A @ S  # (K, m, d)
        G = AS @ A.T + s2 * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
        L = torch.linalg.cholesky(G)
        resid = self.y - prior.means @ A.T
        sol = torch.cholesky_solve(resid[..., None], L)[..., 0]
        maha = (resid * sol).sum(-1)
        logdet = 2 * torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)
        log_w = prior.log_weights - 0.5 * (maha + logdet + A.shape[0] * _LOG2PI)
        means = prior.means + (AS.transpose(-1, -2) @ sol[..., None])[..., 0]
        post = S - AS.transpose(-1, -2) @ torch.cholesky_solve(AS, L)
        lam, u = torch.linalg.eigh(0.5 * (post + post.transpose(-1, -2)))
        lam = lam.clamp_min(torch.finfo(lam.dtype).tiny)
        return GaussianMixture.from_factored(log_w, means, ComponentCovariance(lam, u), prior.max_elements,
                                             prior.labels)

    def noised_posterior(self, alpha, sigma) -> GaussianMixture:
        """``p_t(x_t | y) = Σ w̄_k N(a m̄_k, a² S̄_k + s² I)``."""
        return self.posterior().noised(alpha, sigma)

    # -- exact intermediate likelihood -----------------------------------------------------
    def log_likelihood(self, x_t, alpha, sigma) -> Tensor:
        """Exact ``log p(y | x_t) = log Σ π_k(x_t) N(y; A μ_k(x_t), A P_k Aᵀ + σ_y² I)``.

        Differentiable in ``x_t``; shape ``(N,)``.
        """
        x = torch.as_tensor(x_t, device=self.prior.device, dtype=self.prior.dtype)
        x = x.reshape(-1, self.dim)
        pi, mu, p = self.prior.tweedie_components(x, alpha, sigma)
        A = self.operator.matrix()
        m = A.shape[0]
        cov = self.prior.cov_factors
        if cov.kind == "isotropic":
            gram = A @ A.T
            G = p[:, 0, None, None] * gram + self.sigma_y**2 * torch.eye(m, dtype=A.dtype, device=A.device)
        else:
            P = cov.with_eigenvalues(p if cov.lam.shape[1] > 1 else p[:, :1]).dense()
            G = A @ P @ A.T + self.sigma_y**2 * torch.eye(m, dtype=A.dtype, device=A.device)
        L = torch.linalg.cholesky(G)  # (K, m, m)
        resid = self.y - self.operator.forward(mu)  # (N, K, m)
        white = torch.linalg.solve_triangular(L, resid.permute(1, 2, 0), upper=False)  # (K, m, N)
        maha = white.square().sum(1).T  # (N, K)
        logdet = 2 * torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)
        comp = -0.5 * (maha + logdet + m * _LOG2PI)
        return torch.logsumexp(pi.clamp_min(torch.finfo(x.dtype).tiny).log() + comp, -1)

    # -- what a sampler may see ------------------------------------------------------------
    def task(self, schedule: Schedule | None = None, steps: int = 1000, t_stop: float = 0.0,
             observe=None):
        """The :class:`~samplerlab.core.task.Task` a sampler is run on (prior denoiser, no posterior)."""
        from samplerlab.core.task import Task

        schedule = schedule or VPLinear()
        grid = schedule.timesteps(steps, t_stop, device=self.prior.device, dtype=self.prior.dtype)
        # The sampler gets a copy of y: writing into it cannot reach the exact reference.
        return Task.from_prior(self.prior, schedule, grid, self.operator, self.y.clone(), self.sigma_y, observe)
