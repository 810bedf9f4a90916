"""``pigdm``: Pseudoinverse-Guided Diffusion Models (Song, Vahdat, Mardani, Kautz, ICLR 2023).

:class:`PiGDM` replaces ``p(y | x_t)`` by ``N(y; A x̂0(x_t), r_t² A Aᵀ + σ_y² I)`` (Sec. 3.2), adds the
score of that likelihood, back-propagated through the denoiser only (eq. 8), to the prior score with
weight ``w`` (``weight``), and takes the DDIM step (``η = 1`` by default) from the resulting conditional
Tweedie estimate ``x̂0_y``. On a standard-normal prior it is exactly the exact-denoiser DDIM chain.
The authors' released code adds the guidance to each step instead: ``pigdm_reddiff``.

Derivation and details: docs/notes/samplers_pigdm.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), Identity(2), 0.5, [2.0, 2.0])
    >>> x = PiGDM()(problem.task(steps=200), 4000, torch.Generator().manual_seed(0))
    >>> bool((x.mean(0) - 1.6).abs().max() < 0.05), bool((x.var(0) - 0.2).abs().max() < 0.03)  # N(1.6, 0.2)
    (True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.samplers._base import ReverseSampler, Step, ddim_update
from samplerlab.samplers._guidance import (
    check_nonneg,
    check_unit,
    ddim_noise,
    denoise_and_pullback,
    eps_from_x0,
    gram_solve,
)
from samplerlab.samplers._registry import register

__all__ = ["PiGDM"]


@register(
    "pigdm",
    summary="ΠGDM: prior score plus the pseudoinverse guidance score (Gaussian p(y|x_t) guess), DDIM steps",
    paper="Song, Vahdat, Mardani, Kautz 2023, Pseudoinverse-Guided Diffusion Models for Inverse Problems, eq. 8",
    params={
        "eta": (1.0, "DDIM stochasticity in [0, 1] (1 = ancestral, 0 = deterministic DDIM)"),
        "weight": (1.0, "guidance weight w on the likelihood score (1 in the paper's derivation)"),
    },
)
class PiGDM(ReverseSampler):
    """ΠGDM (score form) with DDIM parameter ``eta`` and guidance weight ``weight``."""

    key = "pigdm"

    def __init__(self, eta: float = 1.0, weight: float = 1.0):
        self.eta = check_unit(self.key, "eta", eta)
        self.weight = check_nonneg(self.key, "weight", weight)

    def guidance(self, task, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Steps 1-2: ``(x̂0, g, r_t²)`` with ``g = Jᵀ Aᵀ (r² A Aᵀ + σ_y² I)⁻¹ (y − A x̂0)``."""
        a, s = task.alpha(t), task.sigma(t)
        r2 = s**2 / (a**2 + s**2)
        op = task.operator

        # The Gaussian log-likelihood's gradient (covariance held fixed), pulled back through the denoiser.
        def cotangent(x0: Tensor) -> Tensor:
            return op.adjoint(gram_solve(op, task.y - op.forward(x0), r2, task.sigma_y**2))

        x0_hat, g = denoise_and_pullback(task, x, t, cotangent)
        return x0_hat, g, r2

    @staticmethod
    def implied_cov(task, t) -> Tensor:
        """ΠGDM's ``Cov[y | x_t] = r_t² A Aᵀ + σ_y² I`` (dense, ``(m, m)``)."""
        a, s = task.alpha(t), task.sigma(t)
        A = task.operator.matrix().to(task.y)
        return (s**2 / (a**2 + s**2)) * (A @ A.T) + task.sigma_y**2 * torch.eye(A.shape[0], dtype=A.dtype,
                                                                              device=A.device)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
        # 1-2. x̂0 and the likelihood score g.
        x0_hat, g, _ = self.guidance(task, x, t)
        # 3. Tweedie's formula with the guided score: x̂0_y = x̂0 + (s² / a) w g.
        x0_y = x0_hat + (s**2 / a) * self.weight * g
        guidance = self.weight * g  # ΠGDM's likelihood score, reported as it is
        cov = self.implied_cov(task, t) if self.wants_guidance(task, t) else None
        eps_y = eps_from_x0(x, x0_y, a, s)
        # 4. DDIM step from the conditional estimate.
        noise = ddim_noise(x, self.eta, s_next, generator)
        return Step(ddim_update(x0_y, eps_y, a_next, s_next, s, a, self.eta, noise), x0_y, guidance, cov)
