"""Gaussian mixtures with exact noising, score and Tweedie moments.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture
    >>> gm = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [1.0, 1.0])
    >>> round(gm.log_prob(torch.zeros(1, 1)).item(), 4)
    -2.9189
    >>> gm.noised(1.0, 1.0).covariance_matrices().flatten().tolist()
    [2.0, 2.0]
    >>> gm.denoise(torch.tensor([[3.0]]), 1.0, 1.0).item()  # shrinks towards the nearer mode
    2.4...
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from samplerlab.core.covariance import CoordinateCovariance, Covariance, make_covariance
from samplerlab.core.logspace import logsumexp
from samplerlab.core.tweedie import DEFAULT_MAX_ELEMENTS, TweedieKernel

__all__ = ["GaussianMixture"]


def _validate_weights(weights, device, dtype) -> Tensor:
    w = torch.as_tensor(weights, device=device, dtype=dtype)
    if w.dim() != 1 or w.numel() == 0:
        raise ValueError(f"weights: expected a non-empty 1-D array, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("weights: contains NaN or Inf")
    if (w < 0).any():
        raise ValueError(f"weights: must be non-negative, got min {w.min().item():.3g}")
    if w.sum() <= 0:
        raise ValueError("weights: all weights are zero")
    return w / w.sum()


def _validate_labels(labels, k: int):
    """``None`` or a tuple of ``k`` labels (ints or strings)."""
    if labels is None:
        return None
    labels = tuple(int(v) if isinstance(v, (np.integer,)) else v for v in
                   (labels.tolist() if hasattr(labels, "tolist") else labels))
    if len(labels) != k:
        raise ValueError(f"labels: expected one per component ({k}), got {len(labels)}")
    if not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in labels):
        raise ValueError("labels: expected ints or strings")
    return labels


class GaussianMixture:
    """``Σ_k w_k N(m_k, S_k)`` in ``R^d`` with factored covariances.

    Args:
        weights: ``(K,)`` non-negative, normalised internally.
        means: ``(K, d)``.
        covariances: isotropic variances ``(K,)``, diagonal ``(K, d)`` or full ``(K, d, d)``.
        device, dtype: where and in what precision to compute (float64 by default).
        max_elements: memory bound (in tensor elements) for any ``N×K×d`` intermediate.
        labels: optional label per component (a digit's class, a face's identity, "lesion" /
            "no lesion"), kept by noising, conditioning and moves; the ``label_weights`` check
            tests the sampler's label frequencies against the exact posterior label probabilities.
    """

    def __init__(self, weights, means, covariances, *, device=None, dtype=torch.float64,
                 max_elements: int = DEFAULT_MAX_ELEMENTS, labels=None):
        w = _validate_weights(weights, device, dtype)
        m = torch.as_tensor(means, device=device, dtype=dtype)
        if m.dim() != 2 or m.shape[0] != w.shape[0]:
            raise ValueError(f"means: expected shape ({w.shape[0]}, d), got {tuple(m.shape)}")
        if not torch.isfinite(m).all():
            raise ValueError("means: contains NaN or Inf")
        cov = make_covariance(covariances, w.shape[0], m.shape[1], device=device, dtype=dtype)
        self._init(w.log(), m, cov, max_elements, _validate_labels(labels, w.shape[0]))

    def _init(self, log_weights: Tensor, means: Tensor, cov: Covariance, max_elements: int, labels=None) -> None:
        self.labels = labels  # validated by the public constructors; passed through by the others
        self.log_weights = log_weights
        self.means = means
        self.cov_factors = cov
        self.max_elements = max_elements
        self._kernel = TweedieKernel(log_weights, means, cov, max_elements)

    @classmethod
    def from_factored(cls, log_weights: Tensor, means: Tensor, cov: Covariance,
                      max_elements: int = DEFAULT_MAX_ELEMENTS, labels=None) -> "GaussianMixture":
        """Build from already-validated factored parts (used by conditioning and noising)."""
        gm = cls.__new__(cls)
        gm._init(log_weights - torch.logsumexp(log_weights, 0), means, cov, max_elements, labels)
        return gm

    @classmethod
    def from_samples(cls, samples, bandwidth: float, *, device=None, dtype=torch.float64,
                     max_elements: int = DEFAULT_MAX_ELEMENTS, labels=None) -> "GaussianMixture":
        """Finite-sample prior ``Σ_i (1/n) N(x_i, h² I)``: one isotropic component per row."""
        x = torch.as_tensor(samples, device=device, dtype=dtype)
        if x.dim() != 2 or x.shape[0] == 0:
            raise ValueError(f"samples: expected a non-empty (n, d) array, got shape {tuple(x.shape)}")
        if not (bandwidth > 0 and math.isfinite(bandwidth)):
            raise ValueError(f"bandwidth: must be a positive finite number, got {bandwidth}")
        n = x.shape[0]
        lam = torch.full((n, 1), float(bandwidth) ** 2, device=x.device, dtype=dtype)
        log_w = torch.full((n,), -math.log(n), device=x.device, dtype=dtype)
        return cls.from_factored(log_w, x.clone(), CoordinateCovariance(lam, x.shape[1]), max_elements,
                                 _validate_labels(labels, n))

    # -- basic properties ------------------------------------------------------------------
    @property
    def weights(self) -> Tensor:
        return self.log_weights.exp()

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.means.dtype

    @property
    def device(self) -> torch.device:
        return self.means.device

    def __repr__(self) -> str:
        return (f"GaussianMixture(K={self.n_components}, d={self.dim}, "
                f"covariance={self.cov_factors.kind}, dtype={self.dtype}, device={self.device})")

    def to(self, device=None, dtype=None) -> "GaussianMixture":
        return GaussianMixture.from_factored(
            self.log_weights.to(device=device, dtype=dtype), self.means.to(device=device, dtype=dtype),
            self.cov_factors.to(device=device, dtype=dtype), self.max_elements, self.labels)

    def with_max_elements(self, max_elements: int) -> "GaussianMixture":
        """The same mixture with another memory bound for ``N×K×d`` / ``N×K`` intermediates."""
        if max_elements < 1:
            raise ValueError(f"max_elements: expected a positive integer, got {max_elements}")
        return GaussianMixture.from_factored(self.log_weights, self.means, self.cov_factors, max_elements,
                                             self.labels)

    def covariance_matrices(self) -> Tensor:
        """Dense component covariances ``(K, d, d)``."""
        return self.cov_factors.dense()

    def mean(self) -> Tensor:
        """Mixture mean ``Σ w_k m_k``."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Mixture covariance ``Σ w_k (S_k + m_k m_kᵀ) − m mᵀ``."""
        w, m = self.weights, self.means
        mu = w @ m
        second = torch.einsum("k,kij->ij", w, self.covariance_matrices()) + (m.T * w) @ m
        return second - torch.outer(mu, mu)

    # -- densities -------------------------------------------------------------------------
    def _rows(self, x) -> Tensor:
        x = torch.as_tensor(x, device=self.device, dtype=self.dtype)
        if x.shape[-1] != self.dim:
            raise ValueError(f"x: last dimension is {x.shape[-1]}, expected d = {self.dim}")
        return x.reshape(-1, self.dim)

    def component_log_prob(self, x) -> Tensor:
        """``log w_k + log N(x; m_k, S_k)``, shape ``(..., K)``."""
        x = torch.as_tensor(x, device=self.device, dtype=self.dtype)
        out = self._kernel.logits(self._rows(x), 1.0, 0.0)
        return out.reshape(*x.shape[:-1], self.n_components)

    def log_prob(self, x) -> Tensor:
        """``log p(x)`` (log-sum-exp over components), shape ``(...)``."""
        return logsumexp(self.component_log_prob(x), -1, overwrite=True)  # the logits are ours

    def responsibilities(self, x) -> Tensor:
        """``π_k(x) = p(k | x)``, shape ``(..., K)``."""
        return torch.softmax(self.component_log_prob(x), -1)

    def score(self, x) -> Tensor:
        """``∇ log p(x) = Σ π_k S_k⁻¹ (m_k − x)`` (exact)."""
        x = torch.as_tensor(x, device=self.device, dtype=self.dtype)
        return self._kernel.score(self._rows(x), 1.0, 0.0).reshape(x.shape)

    def sample(self, n: int, generator: torch.Generator | None = None,
               return_labels: bool = False, dtype: torch.dtype | None = None):
        """``n`` exact draws (and their component labels if asked); ``dtype`` (default the mixture's)
        is the precision of the normals and the ``(n, d)`` arithmetic."""
        if n < 0:
            raise ValueError(f"n: must be non-negative, got {n}")
        x, labels = self._draws(n, generator, self.dtype if dtype is None else dtype)
        return (x, labels) if return_labels else x

    def _draws(self, n: int, generator: torch.Generator | None, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """``n`` exact draws made in ``dtype`` (normals and arithmetic), and their labels."""
        labels = self._component_draws(n, generator)
        z = torch.randn(n, self.dim, generator=generator, device=self.device, dtype=dtype)
        return self.means[labels].to(dtype) + self.cov_factors.sqrt_apply(z, labels), labels

    def _component_draws(self, n: int, generator: torch.Generator | None) -> Tensor:
        """``n`` component indices drawn from the weights."""
        if not n:
            return torch.zeros(0, dtype=torch.long, device=self.device)
        return torch.multinomial(self.weights, n, replacement=True, generator=generator)

    def sample_projected(self, n: int, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact draws of ``θᵀ x`` (``(n, L)`` for ``θ`` of shape ``(d, L)``), in ``θ``'s precision.

        When every component has the same covariance ``S`` (isotropic priors, and their posteriors
        under a linear operator), ``θᵀ x = θᵀ m_k + L z`` with ``L Lᵀ = θᵀ S θ`` and ``z ∈ R^L``: ``L``
        numbers per draw instead of ``d``. Otherwise ``θᵀ`` of full draws. A ``θ`` of lower
        precision than the mixture's (float32 for a float64 mixture) draws the normals and does the
        ``(n, ·)`` arithmetic in that precision; ``θᵀ S θ`` and its Cholesky factor stay in the
        mixture's.
        """
        cov, dtype = self.cov_factors, theta.dtype
        if not (isinstance(cov, CoordinateCovariance) and cov.equal_eigenvalues()) or theta.shape[1] >= self.dim:
            return self._draws(n, generator, dtype)[0] @ theta
        rot = cov.rotate(theta.T.to(self.dtype))  # (L, d): θ in the covariance's basis
        gram = (rot * cov.lam[0]) @ rot.T  # θᵀ S θ
        chol = torch.linalg.cholesky(0.5 * (gram + gram.T))
        labels = self._component_draws(n, generator)
        z = torch.randn(n, theta.shape[1], generator=generator, device=self.device, dtype=dtype)
        return (self.means @ theta.to(self.dtype))[labels].to(dtype) + z @ chol.T.to(dtype)

    # -- diffusion -------------------------------------------------------------------------
    def noised(self, alpha, sigma) -> "GaussianMixture":
        """Law of ``x_t = a x0 + s ε``: ``Σ w_k N(a m_k, a² S_k + s² I)`` (no refactorisation)."""
        return GaussianMixture.from_factored(self.log_weights, alpha * self.means,
                                             self.cov_factors.noised(alpha, sigma), self.max_elements, self.labels)

    def denoise(self, x_t, alpha, sigma) -> Tensor:
        """Tweedie mean ``E[x0 | x_t]`` (differentiable by autograd)."""
        x = torch.as_tensor(x_t, device=self.device, dtype=self.dtype)
        return self._kernel.mean(self._rows(x), alpha, sigma, need_logp=False)[0].reshape(x.shape)

    def noised_log_prob(self, x_t, alpha, sigma) -> Tensor:
        """``log p_t(x_t)`` without building the noised mixture."""
        x = torch.as_tensor(x_t, device=self.device, dtype=self.dtype)
        return self._kernel.mean(self._rows(x), alpha, sigma)[1].reshape(x.shape[:-1])

    def denoise_sample(self, x_t, alpha, sigma, generator: torch.Generator | None = None) -> Tensor:
        """An exact draw of ``x0 ~ p(x0 | x_t)`` per row (a mixture of Gaussians ``N(μ_k, P_k)``)."""
        x = torch.as_tensor(x_t, device=self.device, dtype=self.dtype)
        return self._kernel.sample(self._rows(x), alpha, sigma, generator).reshape(x.shape)

    def denoise_cov(self, x_t, alpha, sigma) -> Tensor:
        """Second-order Tweedie ``Cov[x0 | x_t]``, shape ``(N, d, d)``."""
        x = self._rows(x_t)
        pi, mu, p = self._kernel.components(x, alpha, sigma)
        post = self.cov_factors.with_eigenvalues(p[:, : self.cov_factors.lam.shape[1]]).dense()
        e = torch.einsum("nk,nkd->nd", pi, mu)
        second = torch.einsum("nk,kij->nij", pi, post) + torch.einsum("nk,nki,nkj->nij", pi, mu, mu)
        return second - e[:, :, None] * e[:, None, :]

    def denoise_cov_vec(self, x_t, g, alpha, sigma) -> Tensor:
        """``Cov[x0 | x_t] g`` row by row without forming ``d×d`` matrices."""
        return self._kernel.cov_vec(self._rows(x_t), self._rows(g), alpha, sigma)

    def denoise_cov_quadratic(self, x_t, u, alpha, sigma) -> Tensor:
        """``u_iᵀ Cov[x0 | x_t] u_i`` per row for the columns of ``u`` (d, k), shape ``(N, k)``."""
        return self._kernel.cov_quadratic(self._rows(x_t), torch.as_tensor(u, device=self.device, dtype=self.dtype),
                                          alpha, sigma)

    def denoise_with_state(self, x_t, alpha, sigma) -> tuple[Tensor, tuple]:
        """``E[x0|x_t]`` and an opaque state for :meth:`denoise_cov_vec_from_state` (autograd)."""
        x = torch.as_tensor(x_t, device=self.device, dtype=self.dtype)
        e, state = self._kernel.mean_with_state(self._rows(x), alpha, sigma)
        return e.reshape(x.shape), state

    def denoise_cov_vec_from_state(self, state: tuple, g: Tensor) -> Tensor:
        """``Cov[x0|x_t] g`` reusing the forward pass's responsibilities where possible."""
        return self._kernel.cov_vec_from_state(state, self._rows(g))

    def tweedie_components(self, x_t, alpha, sigma):
        """``(π, μ, p)``: responsibilities, per-component means ``μ_k(x_t)`` and eigenvalues of ``P_k``."""
        return self._kernel.components(self._rows(x_t), alpha, sigma)
