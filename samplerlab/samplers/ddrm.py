"""DDRM: Denoising Diffusion Restoration Models (Kawar, Elad, Ermon & Song, NeurIPS 2022).

:class:`DDRM` runs the paper's spectral updates (arXiv:2201.11793, eq. 7 for the initialisation,
eq. 8 for one step ``t → t'``) in the SVD basis of the operator, on any schedule: a VP chain is mapped
to the paper's variance-exploding form by ``x̄_t = x_t / a_t``, ``σ_t = s_t / a_t``. Defaults
``η = 0.85``, ``η_b = 1`` are the paper's main-experiment values.

Derivation and details: docs/notes/samplers_ddrm.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Mask
    >>> prior = GaussianMixture([1.0], [[0.0, 0.0, 0.0]], [1.0])
    >>> task = InverseProblem(prior, Mask(3, [0, 2]), 0.1, [1.0, -1.0]).task(steps=20)
    >>> x = DDRM()(task, 4, torch.Generator().manual_seed(0))
    >>> x.shape, bool(torch.isfinite(x).all())
    (torch.Size([4, 3]), True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from samplerlab.samplers._base import ReverseSampler, Step
from samplerlab.samplers._registry import register

__all__ = ["DDRM"]


class _Spectral(NamedTuple):
    """The operator in DDRM's coordinates: completed basis, observed ``ȳ`` and its noise."""

    basis: Tensor  # (d, d) orthonormal; first r columns are V
    y_bar: Tensor  # (r,) ȳ = Σ⁻¹ Uᵀ y
    sigma_bar: Tensor  # (r,) σ_y / s_i, the noise level of each ȳ⁽ⁱ⁾

    @property
    def rank(self) -> int:
        return self.y_bar.shape[0]

    @classmethod
    def of(cls, task) -> "_Spectral":
        U, S, V = task.operator.svd()
        U, S, V = (M.to(task.device, task.dtype) for M in (U, S, V))
        r = S.shape[0]
        # Complete V to an orthonormal basis; QR's first r columns span range(V) but may differ
        # in sign, so keep V itself and take only the complement from QR.
        complement = torch.linalg.qr(V, mode="complete")[0][:, r:]
        basis = torch.cat([V, complement], dim=1)
        return cls(basis, (task.y @ U) / S, task.sigma_y / S)


def _ve(task, t) -> tuple[Tensor, Tensor]:
    """``(a_t, σ_t = s_t / a_t)``: the VE-equivalent noise level of the chain at ``t``."""
    a = task.alpha(t)
    return a, task.sigma(t) / a


@register(
    "ddrm",
    summary="DDRM: spectral-space variational posterior steps (eta, eta_b)",
    paper="Kawar et al. 2022, Denoising Diffusion Restoration Models, eqs. 7-8",
    params={
        "eta": (0.85, "η: stochasticity of unobserved / less-noisy-than-y coordinates (paper §5: 0.85)"),
        "eta_b": (1.0, "η_b: weight of ȳ in coordinates noisier than y (paper §5: 1.0)"),
    },
)
class DDRM(ReverseSampler):
    """DDRM (Kawar et al. 2022, eqs. 7-8) on any schedule via ``x̄_t = x_t / a_t``."""

    def __init__(self, eta: float = 0.85, eta_b: float = 1.0):
        for name, value in (("eta", eta), ("eta_b", eta_b)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"ddrm: {name} must lie in [0, 1], got {value!r}")
        self.eta, self.eta_b = float(eta), float(eta_b)
        self._spectral: _Spectral | None = None  # set by init() at the start of each call

    def init(self, task, n: int, generator: torch.Generator | None) -> Tensor:
        """Eq. 7: ``x̄_T = ȳ + √(σ_T² − σ_y²/s_i²) ε`` on observed coordinates, ``σ_T ε`` elsewhere."""
        sp = self._spectral = _Spectral.of(task)
        r = sp.rank
        a_T, sig_T = _ve(task, task.timesteps[0])
        z = torch.randn(n, task.dim, generator=generator, device=task.device, dtype=task.dtype)
        xbar = sig_T * z
        # Observed coordinates that are less noisy than the start: centre them on ȳ.
        seen = sig_T > sp.sigma_bar
        centred = sp.y_bar + (sig_T**2 - sp.sigma_bar**2).clamp_min(0).sqrt() * z[:, :r]
        xbar[:, :r] = torch.where(seen, centred, xbar[:, :r])
        # Back to the chain's scale: x_T = a_T V̄ x̄_T (official code: divides by σ_T ≈ 1/a_T).
        return a_T * (xbar @ sp.basis.T)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        sp = self._spectral if self._spectral is not None else _Spectral.of(task)
        r, eta, eta_b = sp.rank, self.eta, self.eta_b
        a, sig = _ve(task, t)
        a_next, sig_next = _ve(task, t_next)
        # Prior denoiser and everything in spectral coordinates: x̄_θ, x̄_t, ε̂ = (x̄_t − x̄_θ)/σ_t.
        x0_hat = task.denoise(x, t)
        x0_spec = x0_hat @ sp.basis
        eps_spec = ((x / a) @ sp.basis - x0_spec) / sig
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        keep = (1 - eta**2) ** 0.5
        # Eq. 8, unobserved coordinates (s_i = 0): a DDIM-like step with the prior alone.
        new = x0_spec + keep * sig_next * eps_spec + eta * sig_next * z
        # Eq. 8, σ_{t'} < σ_y/s_i: y is noisier than x̄_{t'}; pull towards ȳ through its residual.
        x0_obs, z_obs = x0_spec[:, :r], z[:, :r]
        sig_y = sp.sigma_bar.clamp_min(torch.finfo(x.dtype).tiny)
        less_noisy = x0_obs + keep * sig_next * (sp.y_bar - x0_obs) / sig_y
        # Eq. 8, σ_{t'} ≥ σ_y/s_i: x̄_{t'} is noisier than y; centre on ȳ, top the noise up to σ_{t'}.
        top_up = (sig_next**2 - (eta_b * sp.sigma_bar) ** 2).clamp_min(0).sqrt()
        noisier = (1 - eta_b) * x0_obs + eta_b * sp.y_bar
        less = sig_next < sp.sigma_bar
        mean_obs = torch.where(less, less_noisy, noisier)
        new[:, :r] = mean_obs + torch.where(less, eta * sig_next * z_obs, top_up * z_obs)
        guidance = None
        if self.wants_guidance(task, t):
            # The likelihood score the observed-coordinate update implies: its mean minus the
            # unconditional DDIM(η) mean x̄_θ + √(1−η²) σ_{t'} ε̂ (the unobserved coordinates get
            # exactly that), in x-space, over κ (s²/a) with κ = a' − √(1−η²) s' a / s.
            a_t, s_t, a_n, s_n = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
            delta = a_n * ((mean_obs - x0_obs - keep * sig_next * eps_spec[:, :r]) @ sp.basis[:, :r].T)
            guidance = (a_t / s_t**2) * delta / (a_n - keep * s_n * a_t / s_t)
        # Back to x-space and to the chain's scale: x_{t'} = a_{t'} V̄ x̄_{t'}.
        return Step(a_next * (new @ sp.basis.T), x0_hat, guidance)

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        try:
            return super().__call__(task, n, generator)
        finally:
            self._spectral = None
