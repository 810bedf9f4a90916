"""Factored covariances for Gaussian mixtures.

Every component covariance is kept in eigen-factored form ``S_k = B_k diag(λ_k) B_kᵀ`` so
that the two operations diffusion needs — noising (``a² S + s² I``) and functions of ``S``
such as ``a S (a² S + s² I)⁻¹`` — act on the eigenvalues only and never re-factorise.

Two families cover everything:

* :class:`CoordinateCovariance` — one basis ``Q`` shared by all components (``None`` means
  the coordinate axes). Isotropic variances are ``λ`` of shape ``(K, 1)``; diagonal ones
  ``(K, d)``; a shared rotation (e.g. the right singular vectors of an operator, which is what
  conditioning an isotropic prior produces) is ``(K, d)`` with ``Q`` of shape ``(d, d)``.
  Mahalanobis distances and Tweedie means cost one or two ``N×d`` by ``d×K`` GEMMs.
* :class:`ComponentCovariance` — a basis ``U_k`` per component (full covariances).

Example:
    >>> import torch
    >>> c = CoordinateCovariance(torch.tensor([[1.0], [4.0]]), dim=3)
    >>> c.kind, c.noised(1.0, 1.0).lam.flatten().tolist()
    ('isotropic', [2.0, 5.0])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["Covariance", "CoordinateCovariance", "ComponentCovariance", "make_covariance"]


class Covariance:
    """Common interface of the factored covariance families."""

    lam: Tensor
    dim: int

    @property
    def n_components(self) -> int:
        return self.lam.shape[0]

    def full_eigenvalues(self) -> Tensor:
        """Eigenvalues as a ``(K, d)`` tensor (isotropic ones expanded)."""
        return self.lam.expand(self.n_components, self.dim)

    def equal_eigenvalues(self) -> bool:
        """Whether every component has the same eigenvalues (isotropic priors of one width, and
        their posteriors under a linear operator); computed once, factors are never modified."""
        if getattr(self, "_equal", None) is None:
            self._equal = bool((self.lam == self.lam[:1]).all())
        return self._equal

    def logdet(self) -> Tensor:
        """``log det S_k`` for every component, shape ``(K,)``."""
        return self.full_eigenvalues().log().sum(-1)

    def with_eigenvalues(self, lam: Tensor) -> "Covariance":
        """The same basis with new eigenvalues (a spectral function of ``S``)."""
        raise NotImplementedError

    def noised(self, alpha: float | Tensor, sigma: float | Tensor) -> "Covariance":
        """``a² S_k + s² I`` — same basis, shifted eigenvalues."""
        return self.with_eigenvalues(alpha**2 * self.lam + sigma**2)

    def dense(self) -> Tensor:
        """Dense ``(K, d, d)`` matrices."""
        raise NotImplementedError

    def sqrt_apply(self, z: Tensor, labels: Tensor) -> Tensor:
        """``S_{k_i}^{1/2} z_i`` for rows ``z`` (n, d) and component labels (n,)."""
        raise NotImplementedError

    def to(self, device=None, dtype=None) -> "Covariance":
        raise NotImplementedError


class CoordinateCovariance(Covariance):
    """Covariances sharing one orthonormal basis ``Q`` (``None``: the coordinate axes)."""

    def __init__(self, lam: Tensor, dim: int, basis: Tensor | None = None):
        if lam.dim() != 2 or lam.shape[1] not in (1, dim):
            raise ValueError(f"eigenvalues must have shape (K, 1) or (K, {dim}), got {tuple(lam.shape)}")
        self.lam = lam
        self.dim = dim
        self.basis = basis

    @property
    def kind(self) -> str:
        if self.basis is not None:
            return "shared"
        return "isotropic" if self.lam.shape[1] == 1 else "diagonal"

    def rotate(self, x: Tensor) -> Tensor:
        """Coordinates of ``x`` (…, d) in the shared basis."""
        return x if self.basis is None else x @ self.basis

    def unrotate(self, z: Tensor) -> Tensor:
        return z if self.basis is None else z @ self.basis.T

    def with_eigenvalues(self, lam: Tensor) -> "CoordinateCovariance":
        return CoordinateCovariance(lam, self.dim, self.basis)

    def dense(self) -> Tensor:
        lam = self.full_eigenvalues()
        if self.basis is None:
            return torch.diag_embed(lam)
        q = self.basis
        return torch.einsum("ij,kj,lj->kil", q, lam, q)

    def sqrt_apply(self, z: Tensor, labels: Tensor) -> Tensor:
        """``S_{k_i}^{1/2} z_i``, in ``z``'s precision."""
        if self.lam.shape[1] > 1 and self.equal_eigenvalues():
            scaled = z * self.lam[0].sqrt().to(z.dtype)  # one diagonal for all: no (n, d) gather
        else:
            scaled = z * self.lam[labels].sqrt().to(z.dtype)
        return scaled if self.basis is None else scaled @ self.basis.T.to(z.dtype)

    def to(self, device=None, dtype=None) -> "CoordinateCovariance":
        basis = None if self.basis is None else self.basis.to(device=device, dtype=dtype)
        return CoordinateCovariance(self.lam.to(device=device, dtype=dtype), self.dim, basis)


class ComponentCovariance(Covariance):
    """Full covariances, each with its own eigenbasis ``U_k`` (``(K, d, d)``)."""

    kind = "full"

    def __init__(self, lam: Tensor, basis: Tensor):
        self.lam = lam
        self.basis = basis
        self.dim = basis.shape[-1]

    def with_eigenvalues(self, lam: Tensor) -> "ComponentCovariance":
        return ComponentCovariance(lam, self.basis)

    def stacked_basis(self) -> Tensor:
        """All bases side by side, ``(d, K·d)``: one GEMM rotates into every component."""
        return self.basis.permute(1, 0, 2).reshape(self.dim, -1)

    def dense(self) -> Tensor:
        u = self.basis
        return (u * self.lam[:, None, :]) @ u.transpose(-1, -2)

    def sqrt_apply(self, z: Tensor, labels: Tensor) -> Tensor:
        """``S_{k_i}^{1/2} z_i``, in ``z``'s precision."""
        return torch.einsum("nij,nj->ni", self.basis[labels].to(z.dtype), z * self.lam[labels].sqrt().to(z.dtype))

    def to(self, device=None, dtype=None) -> "ComponentCovariance":
        return ComponentCovariance(
            self.lam.to(device=device, dtype=dtype), self.basis.to(device=device, dtype=dtype)
        )


def _check_finite(t: Tensor, field: str) -> None:
    if not torch.isfinite(t).all():
        raise ValueError(f"{field}: contains NaN or Inf")


def make_covariance(cov, n_components: int, dim: int, *, device=None, dtype=torch.float64) -> Covariance:
    """Validate user covariances and factor them once.

    ``cov`` may be isotropic variances ``(K,)``, diagonal variances ``(K, d)`` or full
    matrices ``(K, d, d)``. Raises ``ValueError`` naming ``covariances`` and the problem.
    """
    c = torch.as_tensor(cov, device=device, dtype=dtype)
    k, d = n_components, dim
    if c.dim() == 0:
        c = c.expand(k)
    if c.dim() == 1 and c.shape == (k,):
        _check_finite(c, "covariances")
        if (c <= 0).any():
            raise ValueError(f"covariances: isotropic variances must be > 0, got min {c.min().item():.3g}")
        return CoordinateCovariance(c[:, None].clone(), d)
    if c.dim() == 2 and c.shape == (k, d):
        _check_finite(c, "covariances")
        if (c <= 0).any():
            raise ValueError(f"covariances: diagonal variances must be > 0, got min {c.min().item():.3g}")
        return CoordinateCovariance(c.clone(), d)
    if c.dim() == 3 and c.shape == (k, d, d):
        _check_finite(c, "covariances")
        asym = (c - c.transpose(-1, -2)).abs().amax(dim=(-1, -2))
        scale = c.abs().amax(dim=(-1, -2)).clamp_min(torch.finfo(dtype).tiny)
        tol = 1e-6 if dtype == torch.float32 else 1e-10
        bad = torch.nonzero(asym > tol * scale).flatten()
        if len(bad):
            raise ValueError(f"covariances[{bad[0].item()}]: matrix is not symmetric")
        lam, u = torch.linalg.eigh(0.5 * (c + c.transpose(-1, -2)))
        floor = 10 * torch.finfo(dtype).eps * lam.abs().amax(-1)
        bad = torch.nonzero(lam[:, 0] <= floor).flatten()
        if len(bad):
            k0 = bad[0].item()
            raise ValueError(
                f"covariances[{k0}]: matrix is not symmetric positive definite "
                f"(smallest eigenvalue {lam[k0, 0].item():.3g})"
            )
        return ComponentCovariance(lam, u)
    raise ValueError(
        f"covariances: expected shape ({k},), ({k}, {d}) or ({k}, {d}, {d}), got {tuple(c.shape)}"
    )


def gaussian_log_norm(logdet: Tensor, dim: int) -> Tensor:
    """``-½ (log det C + d log 2π)`` for each component."""
    return -0.5 * (logdet + dim * math.log(2 * math.pi))
