"""DAPS: Decoupled Annealing Posterior Sampling (Zhang, Chu, Berner, Sun, Yue, Azizzadenesheli
& Anandkumar, CVPR 2025, "Improving Diffusion Inverse Problem Solving with Decoupled Noise
Annealing", arXiv:2407.01521).

:class:`DAPS` runs Algorithm 1 over the task's grid as the annealing schedule: from each level
``x_{t_i}`` it solves the prior's probability-flow ODE for ``x̂0``, runs Langevin dynamics on ``x0``
targeting ``N(x0; x̂0, r_t² I) · N(y; A x0, σ_y² I)`` (paper eq. 9 with the Gaussian approximation of
eq. 10) and re-noises the result to the next level. Defaults (``ode_steps = 5``,
``langevin_steps = 100``, a relative Langevin step ``lr = 0.5``, ``sigma_min = 0``) follow the
official code and the paper.

Derivation and details: docs/notes/samplers_daps.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> prior = GaussianMixture([1.0], [[0.0, 0.0]], [1.0])
    >>> task = InverseProblem(prior, Identity(2), 0.5, [1.0, 1.0]).task(steps=10)
    >>> DAPS(langevin_steps=5)(task, 3, torch.Generator().manual_seed(0)).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.samplers._base import ddim_update, x0_shift_to_score
from samplerlab.samplers._guidance import gram_solve
from samplerlab.samplers._registry import register

__all__ = ["DAPS"]


@register(
    "daps",
    summary="DAPS: decoupled annealing; ODE denoise, Langevin on x0 given (x_t, y), re-noise",
    paper="Zhang et al. 2025, Improving Diffusion Inverse Problem Solving with Decoupled Noise Annealing, Alg. 1",
    params={
        "ode_steps": (5, "PF-ODE (DDIM) steps from x_t to x̂0 (DAPS-1K: 5; 1 = one Tweedie step)"),
        "langevin_steps": (100, "Langevin steps on x0 per annealing level (official code: 100)"),
        "lr": (0.5, "Langevin step relative to min(r_t², τ²/‖A‖²) (official: absolute 1e-4 ≈ 1·τ² at τ = 0.01)"),
        "lr_min_ratio": (0.01, "step size decays linearly to lr · lr_min_ratio at t = 0 (official: 0.01)"),
        "tau": (None, "likelihood std in the Langevin target; None = the task's σ_y (official: 0.01)"),
        "sigma_min": (0.0, "annealing ends at the last level with r_t >= sigma_min, returning its x0 "
                           "(paper: 0.1 on images in [-1, 1]; 0 = the task's whole grid)"),
    },
)
class DAPS:
    """DAPS (Zhang et al. 2025, Algorithm 1) over the task's grid as the annealing schedule."""

    # Discretisation floor (samplerlab.auditing.floor): DAPS re-noises an x0 draw at each level, so with
    # exact x0 | x_t, y draws it is exact on any grid: its floor is the exact reverse chain.
    floor_eta = None
    def __init__(self, ode_steps: int = 5, langevin_steps: int = 100, lr: float = 0.5,
                 lr_min_ratio: float = 0.01, tau: float | None = None, sigma_min: float = 0.0):
        for name, value in (("ode_steps", ode_steps), ("langevin_steps", langevin_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"daps: {name} must be a positive integer, got {value!r}")
        if not 0 < float(lr) < 1:
            raise ValueError(f"daps: lr (relative step) must lie in (0, 1), got {lr!r}")
        if not 0.0 < float(lr_min_ratio) <= 1.0:
            raise ValueError(f"daps: lr_min_ratio must lie in (0, 1], got {lr_min_ratio!r}")
        if tau is not None and not float(tau) > 0:
            raise ValueError(f"daps: tau must be positive or None, got {tau!r}")
        if not float(sigma_min) >= 0:
            raise ValueError(f"daps: sigma_min must be >= 0, got {sigma_min!r}")
        self.ode_steps, self.langevin_steps = ode_steps, langevin_steps
        self.lr, self.lr_min_ratio = float(lr), float(lr_min_ratio)
        self.tau = None if tau is None else float(tau)
        self.sigma_min = float(sigma_min)

    @property
    def stop_from_notify(self) -> bool:
        """Whether the stop-time sweep may read the main run: the prefix does not depend on where
        the grid ends and a truncated run returns ``task.denoise(x_t, t)`` of the notified ``x_t``.
        With ``sigma_min > 0`` a run can end before its grid does, so the sweep re-runs it."""
        return self.sigma_min == 0.0

    def ode_denoise(self, task, x: Tensor, t: Tensor) -> Tensor:
        """Step (1): ``x̂0`` by ``ode_steps`` DDIM(η=0) steps of the prior PF-ODE from ``t`` to 0."""
        grid = torch.linspace(float(t), 0.0, self.ode_steps + 1, device=x.device, dtype=x.dtype)
        for u, u_next in zip(grid[:-1], grid[1:]):
            x0_hat = task.denoise(x, u)
            if float(u_next) == 0.0:
                break
            a, s = task.alpha(u), task.sigma(u)
            x = ddim_update(x0_hat, (x - a * x0_hat) / s, task.alpha(u_next), task.sigma(u_next), s, a, 0.0, None)
        return x0_hat

    def langevin(self, task, x0_hat: Tensor, t: Tensor, generator) -> Tensor:
        """Step (2): Langevin on ``N(x0; x̂0, r_t² I) N(y; A x0, τ² I)`` started at ``x̂0``."""
        op = task.operator
        r2 = (task.sigma(t) / task.alpha(t)) ** 2
        tau2 = (task.sigma_y if self.tau is None else self.tau) ** 2
        # Step relative to the stiffest term of the target, decaying linearly over the annealing
        # from lr at t = 1 to lr·lr_min_ratio at t = 0.
        norm2 = float(op.svd().S.max()) ** 2
        lr = self.lr * (1 + (1 - float(t)) * (self.lr_min_ratio - 1)) * min(float(r2), tau2 / norm2)
        x0 = x0_hat
        for _ in range(self.langevin_steps):
            # ∇ log target: pull to x̂0 with precision 1/r_t², and to the data with precision 1/τ².
            grad = (x0_hat - x0) / r2 - op.adjoint(op.forward(x0) - task.y) / tau2
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            x0 = x0 + lr * grad + (2 * lr) ** 0.5 * noise
        return x0

    def implied_score(self, task, x0_hat: Tensor, t: Tensor) -> Tensor:
        """The likelihood score DAPS's Langevin target implies: its mean is
        ``x̂0 + r_t² Aᵀ (r_t² A Aᵀ + τ² I)⁻¹ (y − A x̂0)``, a shift read as ``(a/s²) Δx̂0``."""
        op, a, s = task.operator, task.alpha(t), task.sigma(t)
        r2 = (s / a) ** 2
        tau2 = (task.sigma_y if self.tau is None else self.tau) ** 2
        shift = r2 * op.adjoint(gram_solve(op, task.y - op.forward(x0_hat), r2, tau2))
        return x0_shift_to_score(shift, a, s)

    def implied_cov(self, task, t: Tensor) -> Tensor:
        """``Cov[y | x_t]`` of DAPS's Gaussian ``p(x0 | x_t)``: ``r_t² A Aᵀ + τ² I``."""
        A = task.operator.matrix().to(task.y)
        r2 = (task.sigma(t) / task.alpha(t)) ** 2
        tau2 = (task.sigma_y if self.tau is None else self.tau) ** 2
        return r2 * (A @ A.T) + tau2 * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        x = task.initial_noise(n, generator)
        grid = task.timesteps
        for t, t_next in zip(grid[:-1], grid[1:]):
            # (1)-(2): ODE to x̂0, then Langevin on x0 | x_t, y.
            x0_hat = self.ode_denoise(task, x, t)
            x0 = self.langevin(task, x0_hat, t, generator)
            wants = task.wants_guidance(t)
            task.notify(t, x, x0, guidance=self.implied_score(task, x0_hat, t) if wants else None,
                        likelihood_cov=self.implied_cov(task, t) if wants else None)
            # The paper's end of the annealing: below σ_min the last Langevin draw is the output.
            if self.sigma_min > 0 and float(task.sigma(t_next) / task.alpha(t_next)) < self.sigma_min:
                return x0.detach()
            # (3): decoupled re-noising to the next level, x_{t'} = a' x0 + s' ε.
            s_next = task.sigma(t_next)
            x = task.alpha(t_next) * x0
            if float(s_next) > 0:
                x = x + s_next * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if task.finishes_at_zero:
            return x.detach()
        return task.denoise(x, grid[-1]).detach()  # the early-stop contract: the prior's estimate
