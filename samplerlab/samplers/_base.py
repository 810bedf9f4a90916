"""Shared skeleton of reverse-process samplers: walk the grid, observe, stop early.

Subclasses implement :meth:`ReverseSampler.step`; the loop, the observer calls and the
early-stopping contract (a grid that ends above ``t = 0`` returns the final denoised estimate)
live here once.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ReverseSampler", "ddim_update"]


def ddim_update(x0_hat: Tensor, eps_hat: Tensor, a_next: Tensor, s_next: Tensor, s_cur: Tensor,
                a_cur: Tensor, eta: float, noise: Tensor | None) -> Tensor:
    """One DDIM step (Song et al. 2021, eq. 12) from ``(x0_hat, eps_hat)`` to time ``t_next``.

    Written for general ``(alpha, sigma)`` schedules: the stochastic part has standard deviation
    ``c = eta · s_next · sqrt(1 − (a_cur s_next / (a_next s_cur))²)``; ``eta = 1`` is DDPM's
    ancestral step, ``eta = 0`` the deterministic DDIM/probability-flow step.
    """
    if eta == 0.0 or float(s_next) == 0.0:
        return a_next * x0_hat + s_next * eps_hat
    ratio = (a_cur * s_next) / (a_next * s_cur)
    c = eta * s_next * (1 - ratio**2).clamp_min(0).sqrt()
    return a_next * x0_hat + (s_next**2 - c**2).clamp_min(0).sqrt() * eps_hat + c * noise


class ReverseSampler:
    """Base class: ``__call__`` runs ``x_1 → … → x_{t_end}`` and returns samples ``(n, d)``."""

    @property
    def stop_from_notify(self) -> bool:
        """True: on a grid truncated at ``t``, the output is ``task.denoise(x_t, t)`` for the ``x_t``
        this sampler notifies at ``t`` on the full grid, bit for bit (the prefix of the run, random
        numbers included, does not depend on where the grid ends). The audit's stop-time sweep then
        reads its outputs off the main run instead of re-running the sampler."""
        return type(self).final_estimate is ReverseSampler.final_estimate

    @property
    def floor_eta(self) -> float | None:
        """DDIM ``η`` of this sampler's reverse step: its discretisation floor (``samplerlab.floor``)."""
        return float(getattr(self, "eta", 1.0))

    def init(self, task, n: int, generator: torch.Generator | None) -> Tensor:
        """Starting point ``x_1`` (reference noise by default)."""
        return task.initial_noise(n, generator)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> tuple[Tensor, Tensor]:
        """Advance ``x_t`` to ``x_{t_next}``; return ``(x_next, x0_hat at t)``."""
        raise NotImplementedError

    def final_estimate(self, task, x: Tensor, t: Tensor) -> Tensor:
        """Denoised estimate returned when the grid stops above 0 (prior Tweedie by default)."""
        return task.denoise(x, t)

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        x = self.init(task, n, generator)
        grid = task.timesteps
        for t, t_next in zip(grid[:-1], grid[1:]):
            x_next, x0_hat = self.step(task, x, t, t_next, generator)
            task.notify(t, x, x0_hat)
            x = x_next
        if task.finishes_at_zero:
            return x.detach()
        return self.final_estimate(task, x, grid[-1]).detach()
