"""``dps``: Diffusion Posterior Sampling (Chung et al. 2023, ICLR, Algorithm 1, Gaussian noise).

Chung, Kim, Mccann, Klasky, Ye, "Diffusion Posterior Sampling for General Noisy Inverse
Problems". :class:`DPS` takes the DDPM ancestral step from the prior denoiser's ``x̂0`` and then the
guidance step ``x_{i-1} = x'_{i-1} − ζ ∇_{x_i} L(x̂0(x_i))`` on the residual ``r = y − A x̂0``:
``L = ‖r‖`` by default (the official code's guidance), ``L = ‖r‖²`` with ``squared=True``
(Algorithm 1 read literally). ``ζ`` (``zeta``) defaults to 1.0, the official default ``scale``.

Derivation and details: docs/notes/samplers_dps.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), Identity(2), 0.5, [2.0, 2.0])
    >>> x = DPS()(problem.task(steps=100), 500, torch.Generator().manual_seed(0))
    >>> x.shape, bool((x.mean(0) - 2.0).abs().max() < 0.2)  # near y = 2; posterior mean 1.6
    (torch.Size([500, 2]), True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.samplers._base import ReverseSampler, Step, ddim_update, shift_to_score
from samplerlab.samplers._guidance import check_nonneg, ddim_noise, denoise_and_pullback, eps_from_x0
from samplerlab.samplers._registry import register

__all__ = ["DPS"]


@register(
    "dps",
    summary="DDPM ancestral step, then a gradient step on ‖y − A x̂0(x_t)‖ through the denoiser",
    paper="Chung et al. 2023, Diffusion Posterior Sampling for General Noisy Inverse Problems, Alg. 1",
    params={
        "zeta": (1.0, "step size ζ (official code's default scale; its FFHQ configs use 0.3-0.5)"),
        "squared": (False, "False: ζ ∇‖y − A x̂0‖ (official code); True: ζ ∇‖y − A x̂0‖² (Alg. 1)"),
    },
)
class DPS(ReverseSampler):
    """Diffusion Posterior Sampling with step size ``zeta``."""

    def __init__(self, zeta: float = 1.0, squared: bool = False):
        self.zeta = check_nonneg("dps", "zeta", zeta)
        if not isinstance(squared, bool):
            raise ValueError(f"dps: squared must be a bool, got {squared!r}")
        self.squared = squared

    def _loss_gradient(self, task, x0_hat: Tensor) -> Tensor:
        """``∇_{x̂0} L``: ``−2 Aᵀ r`` for ``‖r‖²``, ``−Aᵀ r / ‖r‖`` for ``‖r‖`` (0 where ``r = 0``)."""
        r = task.y - task.operator.forward(x0_hat)
        if self.squared:
            return -2.0 * task.operator.adjoint(r)
        norm = r.norm(dim=-1, keepdim=True)
        return -task.operator.adjoint(r / norm.clamp_min(torch.finfo(r.dtype).tiny)) * (norm > 0)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
        # 1. Tweedie x̂0 = E[x0 | x_t] and ∇_{x_t} L(x̂0(x_t)) by one pass back through the denoiser.
        x0_hat, grad = denoise_and_pullback(task, x, t, lambda x0: self._loss_gradient(task, x0))
        # 2. Unconditional DDPM ancestral step x'_{t_next} (DDIM with eta = 1).
        eps_hat = eps_from_x0(x, x0_hat, a, s)
        x_prime = ddim_update(x0_hat, eps_hat, a_next, s_next, s, a, 1.0, ddim_noise(x, 1.0, s_next, generator))
        # 3. Measurement-consistency gradient step (reported as the likelihood score it implies).
        guidance = cov = None
        if self.wants_guidance(task, t):
            guidance = shift_to_score(-self.zeta * grad, a, s, a_next, s_next, 1.0)
            m = task.y.shape[-1]  # the Dirac approximation's Cov[y | x_t]: σ_y² I
            cov = task.sigma_y**2 * torch.eye(m, dtype=x.dtype, device=x.device)
        return Step(x_prime - self.zeta * grad, x0_hat, guidance, cov)
