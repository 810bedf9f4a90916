"""Shared skeleton of reverse-process samplers: walk the grid, observe, stop early.

Subclasses implement :meth:`ReverseSampler.step`; the loop, the observer calls and the
early-stopping contract (a grid that ends above ``t = 0`` returns the final denoised estimate)
live here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Step", "ReverseSampler", "ddim_update"]


@dataclass(frozen=True)
class Step:
    """What one reverse step returns: the next state, the denoised estimate at ``t`` and, when the
    observer asked for it, the likelihood guidance (in score units) and the implied ``Cov[y | x_t]``."""

    x_next: Tensor
    x0_hat: Tensor
    guidance: Tensor | None = None
    likelihood_cov: Tensor | None = None


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


def ddim_kappa(a_next: Tensor, s_next: Tensor, s_cur: Tensor, a_cur: Tensor, eta: float) -> Tensor:
    """``∂x_{t'}/∂x̂0`` of :func:`ddim_update`: ``κ = a' − a √(s'² − c²) / s``."""
    if eta == 0.0 or float(s_next) == 0.0:
        return a_next - a_cur * s_next / s_cur
    ratio = (a_cur * s_next) / (a_next * s_cur)
    c = eta * s_next * (1 - ratio**2).clamp_min(0).sqrt()
    return a_next - a_cur * (s_next**2 - c**2).clamp_min(0).sqrt() / s_cur


def x0_shift_to_score(shift: Tensor, a: Tensor, s: Tensor) -> Tensor:
    """A shift of the denoised estimate as the likelihood score it implies: ``(a / s²) Δx̂0``
    (Tweedie: ``E[x0|x_t, y] − E[x0|x_t] = (s²/a) ∇ log p(y|x_t)``)."""
    return (a / s**2) * shift


def shift_to_score(delta: Tensor, a: Tensor, s: Tensor, a_next: Tensor, s_next: Tensor, eta: float) -> Tensor:
    """A term ``δ`` added to a DDIM(η) step to ``t'`` as the likelihood score it implies:
    the score ``g`` moves ``x̂0`` by ``(s²/a) g`` and so ``x_{t'}`` by ``κ (s²/a) g``."""
    return x0_shift_to_score(delta / ddim_kappa(a_next, s_next, s, a, eta), a, s)


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
        """DDIM ``η`` of this sampler's reverse step: its discretisation floor (``samplerlab.auditing.floor``)."""
        return float(getattr(self, "eta", 1.0))

    def init(self, task, n: int, generator: torch.Generator | None) -> Tensor:
        """Starting point ``x_1`` (reference noise by default)."""
        return task.initial_noise(n, generator)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        """Advance ``x_t`` to ``x_{t_next}``: a :class:`Step` with ``x0_hat`` at ``t`` and, when the
        observer wants it (:meth:`wants_guidance`), the likelihood guidance the step applied."""
        raise NotImplementedError

    def final_estimate(self, task, x: Tensor, t: Tensor) -> Tensor:
        """Denoised estimate returned when the grid stops above 0 (prior Tweedie by default)."""
        return task.denoise(x, t)

    @staticmethod
    def wants_guidance(task, t) -> bool:
        """Whether this step's likelihood guidance should be computed for the observer."""
        return task.wants_guidance(t)

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        x = self.init(task, n, generator)
        grid = task.timesteps
        for t, t_next in zip(grid[:-1], grid[1:]):
            step = self.step(task, x, t, t_next, generator)
            if not isinstance(step, Step):  # a subclass written before Step: ``(x_next, x0_hat)``
                step = Step(*step)
            task.notify(t, x, step.x0_hat, guidance=step.guidance, likelihood_cov=step.likelihood_cov)
            x = step.x_next
        if task.finishes_at_zero:
            return x.detach()
        return self.final_estimate(task, x, grid[-1]).detach()
