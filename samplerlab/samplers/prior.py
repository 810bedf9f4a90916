"""``prior``: the unconditional reverse process (ignores ``y``), a check of denoiser and schedule.

:class:`Prior` runs DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12) driven by
the prior denoiser ``task.denoise``; its samples should follow the *prior* up to discretisation error.
Derivation and details: docs/notes/samplers_prior.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[3.0]], [0.25]), Identity(1), 1.0, [0.0])
    >>> x = Prior()(problem.task(steps=200), 4000, torch.Generator().manual_seed(0))
    >>> abs(float(x.mean()) - 3.0) < 0.05, abs(float(x.var()) - 0.25) < 0.03  # N(3, 1/4)
    (True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.samplers._base import ReverseSampler, Step, ddim_update
from samplerlab.samplers._guidance import check_unit, ddim_noise, eps_from_x0
from samplerlab.samplers._registry import register

__all__ = ["Prior"]


@register(
    "prior",
    summary="unconditional DDPM/DDIM reverse process with the prior denoiser (ignores y)",
    paper="Ho et al. 2020 (DDPM, Alg. 2); Song et al. 2021 (DDIM, eq. 12)",
    params={"eta": (1.0, "DDIM stochasticity: 1 = DDPM ancestral, 0 = deterministic DDIM")},
)
class Prior(ReverseSampler):
    """Unconditional reverse process; its samples follow the prior."""

    def __init__(self, eta: float = 1.0):
        self.eta = check_unit("prior", "eta", eta)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
        # 1. Prior Tweedie mean x̂0 = E[x0 | x_t] and the noise it implies.
        x0_hat = task.denoise(x, t)
        eps_hat = eps_from_x0(x, x0_hat, a, s)
        guidance = torch.zeros_like(x) if self.wants_guidance(task, t) else None  # no likelihood term
        # 2. DDIM step to t_next.
        noise = ddim_noise(x, self.eta, s_next, generator)
        return Step(ddim_update(x0_hat, eps_hat, a_next, s_next, s, a, self.eta, noise), x0_hat, guidance)
