"""TMPD: Tweedie Moment Projected Diffusions (Boys, Girolami, Pidstrigach, Reich, Mosca &
Akyildiz, 2023, arXiv:2310.06721).

:class:`TMPD` replaces ``p(x0|x_t)`` by the Gaussian with its exact first two moments (Tweedie, paper
eq. 9), so the intermediate likelihood is ``N(y; A E[x0|x_t], A Cov Aᵀ + σ_y² I)`` (eq. 11); its score,
dropping ``∂Cov/∂x_t`` (eq. 12), turns the prior denoiser into the conditional one by a Kalman
update, followed by the DDPM ancestral step (``eta = 1``). ``variant="full"`` forms ``A Cov Aᵀ``
exactly from ``m`` vector-Jacobian products; ``variant="diagonal"`` is the paper's TMPD-D.

Derivation and details: docs/notes/samplers_tmpd.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Dense
    >>> prior = GaussianMixture([1.0], [[0.0, 0.0]], [1.0])
    >>> task = InverseProblem(prior, Dense([[1.0, 1.0]]), 0.1, [2.0]).task(steps=50)
    >>> x = TMPD()(task, 2000, torch.Generator().manual_seed(0))
    >>> round(float(x.sum(1).mean()), 1)  # posterior mean of x1 + x2: 2·2/(2 + 0.01)
    2.0
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.samplers._base import ReverseSampler, Step, ddim_update, x0_shift_to_score
from samplerlab.samplers._registry import register

__all__ = ["TMPD"]

VARIANTS = ("full", "diagonal")


@register(
    "tmpd",
    summary="TMPD: Gaussian projection of p(x0|x_t) with Tweedie's covariance, Kalman-updated denoiser",
    paper="Boys et al. 2023, Tweedie Moment Projected Diffusions for Inverse Problems, eqs. 9-12",
    params={
        "variant": ("full", "'full': exact A Cov Aᵀ from m VJPs; 'diagonal': TMPD-D row-sum diagonal, one VJP"),
        "eta": (1.0, "DDIM stochasticity of the reverse step; 1 = DDPM ancestral (paper's experiments)"),
    },
)
class TMPD(ReverseSampler):
    """TMPD (Boys et al. 2023): Kalman-corrected Tweedie denoiser inside a DDPM/DDIM chain."""

    def __init__(self, variant: str = "full", eta: float = 1.0):
        if variant not in VARIANTS:
            raise ValueError(f"tmpd: variant must be one of {VARIANTS}, got {variant!r}")
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"tmpd: eta must lie in [0, 1], got {eta!r}")
        self.variant, self.eta = variant, float(eta)

    def conditional_denoise(self, task, x: Tensor, t: Tensor) -> Tensor:
        """``E[x0|x_t, y]`` under the Gaussian projection (paper eqs. 11-12)."""
        op, a, s = task.operator, task.alpha(t), task.sigma(t)
        if float(s) == 0.0:
            return x
        scale = s**2 / a  # Cov = (s²/a) ∂E/∂x_t, and each VJP returns (∂E/∂x_t)ᵀ Aᵀ v
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            # Tweedie mean E[x0|x_t] and its image A E[x0|x_t]; the innovation y − A E.
            x0_hat = task.denoise(xg, t)
            y_hat = op.forward(x0_hat)
            innovation = task.y - y_hat.detach()
            m = y_hat.shape[-1]
            if self.variant == "full":
                # Columns of Cov Aᵀ, one VJP per measurement: Cov Aᵀ e_j = (s²/a) J_Eᵀ Aᵀ e_j.
                cols = [torch.autograd.grad(y_hat[:, j].sum(), xg, retain_graph=j < m - 1)[0]
                        for j in range(m)]
                cov_at = scale * torch.stack(cols, dim=-1)  # (n, d, m)
                # Innovation covariance A Cov Aᵀ + σ_y² I (symmetrised) and its solve.
                gram = op.forward(cov_at.transpose(-1, -2))  # (n, m, m)
                self._innovation_cov = (0.5 * (gram + gram.transpose(-1, -2))).detach()
                eye = torch.eye(m, device=x.device, dtype=x.dtype)
                gain_in = torch.linalg.solve(0.5 * (gram + gram.transpose(-1, -2)) + task.sigma_y**2 * eye,
                                             innovation[..., None])
                # Kalman update: E + Cov Aᵀ (A Cov Aᵀ + σ_y² I)⁻¹ (y − A E).
                correction = (cov_at @ gain_in)[..., 0]
            else:
                # TMPD-D: row sums of A Cov Aᵀ from one VJP with ones, used as its diagonal.
                ones = torch.ones_like(y_hat)
                cov_at_1 = scale * torch.autograd.grad(y_hat, xg, grad_outputs=ones, retain_graph=True)[0]
                diag = op.forward(cov_at_1) + task.sigma_y**2
                self._innovation_cov = torch.diag_embed(diag - task.sigma_y**2).detach()
                # Kalman update with the diagonal innovation covariance; Cov Aᵀ w is one more VJP.
                w = innovation / diag
                correction = scale * torch.autograd.grad(y_hat, xg, grad_outputs=w)[0]
        return (x0_hat.detach() + correction).detach()

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        a, s = task.alpha(t), task.sigma(t)
        a_next, s_next = task.alpha(t_next), task.sigma(t_next)
        # Conditional Tweedie estimate and the noise it implies: ε̂ = (x_t − a E[x0|x_t,y]) / s.
        x0_y = self.conditional_denoise(task, x, t)
        eps_y = (x - a * x0_y) / s
        guidance = cov = None
        if self.wants_guidance(task, t):  # the Kalman correction as the likelihood score it implies
            guidance = x0_shift_to_score(x0_y - task.denoise(x, t).detach(), a, s)
            m = task.y.shape[-1]  # A C_t Aᵀ + σ_y² I, per sample
            cov = self._innovation_cov + task.sigma_y**2 * torch.eye(m, dtype=x.dtype, device=x.device)
        # DDPM ancestral (eta = 1) / DDIM (eta < 1) step to t_next.
        noise = None
        if self.eta > 0 and float(s_next) > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return Step(ddim_update(x0_y, eps_y, a_next, s_next, s, a, self.eta, noise), x0_y, guidance, cov)
