"""What a sampler may see: a differentiable prior denoiser, the schedule and grid, ``A``, ``y``.

The prior's parameters and the posterior are not reachable from a :class:`Task`: the denoiser
is a closure, as a trained network would be. Its backward pass is the exact Jacobian-vector
product ``(a/s²) Cov[x0|x_t] g`` (second-order Tweedie), so guidance through the denoiser
costs a few GEMMs rather than a second autograd pass through the mixture density.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> prior = GaussianMixture([1.0], [[0.0, 0.0]], [1.0])
    >>> task = InverseProblem(prior, Identity(2), 0.5, [1.0, 0.0]).task(steps=10)
    >>> x0 = task.denoise(torch.zeros(3, 2), task.timesteps[0])
    >>> x0.shape, len(task.timesteps), hasattr(task, "prior")
    (torch.Size([3, 2]), 11, False)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

import torch
from torch import Tensor

from samplerlab.core.schedules import Schedule
from samplerlab.operators import LinearOperator

__all__ = ["Task", "Observer"]

Observer = Callable[[Tensor, Tensor, Tensor], None]


class _ExactDenoise(torch.autograd.Function):
    """``E[x0|x_t]`` with the analytic vector-Jacobian product.

    Written with ``setup_context`` so that ``torch.func`` transforms (``vjp``, ``grad``,
    ``jacrev``) go through it as well as ``torch.autograd`` does (library samplers built on
    ``torch.func``, e.g. deepinv's ΠGDM, take that route). ``vmap`` runs the forward and backward
    per batch entry (``generate_vmap_rule``), so ``vmap(jacrev(...))`` gives per-sample Jacobians
    for isotropic and diagonal priors.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, a, s, mixture):
        x0, state = mixture.denoise_with_state(x, a, s)
        return x0, state

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, a, s, mixture = inputs
        ctx.state, ctx.scale, ctx.mixture, ctx.shape = output[1], a / s**2, mixture, x.shape
        ctx.mark_non_differentiable(*[t for t in _tensors(output[1])])

    @staticmethod
    def backward(ctx, grad, *_):
        jvp = ctx.mixture.denoise_cov_vec_from_state(ctx.state, grad.reshape(-1, grad.shape[-1]))
        return (jvp * ctx.scale).reshape(ctx.shape), None, None, None


def _tensors(state) -> list[Tensor]:
    """The tensors inside the denoiser's opaque state (a tuple, possibly nested)."""
    if isinstance(state, Tensor):
        return [state]
    if isinstance(state, (tuple, list)):
        return [t for item in state for t in _tensors(item)]
    return []


def _make_denoiser(mixture, schedule: Schedule) -> Callable[[Tensor, Tensor], Tensor]:
    def denoise(x_t: Tensor, t) -> Tensor:
        a = schedule.alpha(t).to(x_t.device, x_t.dtype)
        s = schedule.sigma(t).to(x_t.device, x_t.dtype)
        if float(s) == 0.0:
            return x_t
        x = x_t.to(mixture.dtype)
        if x.requires_grad:
            out = _ExactDenoise.apply(x, a.to(mixture.dtype), s.to(mixture.dtype), mixture)[0]
        else:
            out = mixture.denoise(x, a.to(mixture.dtype), s.to(mixture.dtype))
        return out.to(x_t.dtype)

    return denoise


@dataclass(frozen=True)
class Task:
    """Everything a sampler may use, nothing more.

    Attributes:
        denoise: ``denoise(x_t, t) -> E[x0|x_t]`` under the prior, differentiable in ``x_t``.
        schedule: gives ``alpha(t)`` and ``sigma(t)`` (see :mod:`samplerlab.core.schedules`).
        timesteps: decreasing grid; when it ends above 0, return the last denoised estimate.
        operator: the forward operator ``A`` (with ``svd()``).
        y: observation ``(m,)``; sigma_y: its noise standard deviation.
        observe: optional ``observe(t, x_t, x0_hat)`` to call once per step. An observer with
            ``wants_guidance = True`` is also given the sampler's reported ``guidance`` (see
            :meth:`notify`) as a keyword, and ``likelihood_cov`` if it sets ``wants_likelihood_cov``.
    """

    denoise: Callable[[Tensor, Tensor], Tensor]
    schedule: Schedule
    timesteps: Tensor
    operator: LinearOperator
    y: Tensor
    sigma_y: float
    observe: Optional[Observer] = None

    @classmethod
    def from_prior(cls, prior, schedule, timesteps, operator, y, sigma_y, observe=None) -> "Task":
        return cls(_make_denoiser(prior, schedule), schedule, timesteps, operator, y, sigma_y, observe)

    @property
    def dim(self) -> int:
        return self.operator.in_dim

    @property
    def dtype(self) -> torch.dtype:
        return self.y.dtype

    @property
    def device(self) -> torch.device:
        return self.y.device

    def alpha(self, t) -> Tensor:
        return self.schedule.alpha(t).to(self.device, self.dtype)

    def sigma(self, t) -> Tensor:
        return self.schedule.sigma(t).to(self.device, self.dtype)

    def score(self, x_t: Tensor, t) -> Tensor:
        """Prior score from the denoiser: ``(a E[x0|x_t] − x_t) / s²``."""
        a, s = self.alpha(t), self.sigma(t)
        return (a * self.denoise(x_t, t) - x_t) / s**2

    def denoise_sigma(self, x: Tensor, sigma) -> Tensor:
        """``E[x0 | x]`` for ``x = x0 + σ n`` (the σ-parametrised denoiser libraries call).

        With ``t`` such that ``σ(t)/α(t) = σ`` (:meth:`Schedule.time_of_ratio`), ``α(t) x`` is
        distributed as ``x_t``, so this is ``denoise(α(t) x, t)``: exact, differentiable in ``x``.
        ``sigma`` is a number, or one per row of ``x``.
        """
        t = self.schedule.time_of_ratio(torch.as_tensor(sigma, dtype=torch.float64).cpu())
        if t.dim() == 0:
            return self.denoise(self.alpha(t) * x, t)
        return torch.cat([self.denoise(self.alpha(ti) * x[i:i + 1], ti) for i, ti in enumerate(t)])

    def initial_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``x_1 ~ N(0, σ_ref² I)``, the reference law samplers start from."""
        z = torch.randn(n, self.dim, generator=generator, device=self.device, dtype=self.dtype)
        return self.schedule.reference_std() * z

    def notify(self, t, x_t: Tensor, x0_hat: Tensor, guidance: Tensor | None = None,
               likelihood_cov: Tensor | None = None) -> None:
        """Call the observer, if any (samplers call this once per step).

        ``guidance`` (optional, ``(n, d)``): the sampler's estimate of ``∇_{x_t} log p(y | x_t)``
        at this step — or the term it adds, converted to those units — which the
        ``likelihood_approximation`` diagnostic compares with the exact one. A sampler that
        shifts the denoised estimate reports ``(a_t / s_t²) (x̂0_y − x̂0)`` (Tweedie's formula); one
        that adds ``δ`` to its DDIM(η) step to ``t'`` reports ``a_t δ / (κ s_t²)`` with
        ``κ = a_{t'} − a_t √(s_{t'}² − c²) / s_t`` (:func:`samplerlab.samplers._base.shift_to_score`).
        ``likelihood_cov`` (optional, ``(m, m)`` or ``(n, m, m)``): the covariance of ``y`` given
        ``x_t`` the sampler's approximation implies (DPS ``σ_y² I``, ΠGDM ``r_t² A Aᵀ + σ_y² I``,
        TMPD ``A C_t Aᵀ + σ_y² I``), compared with the exact ``Cov[y | x_t]`` per singular direction.
        """
        if self.observe is None:
            return
        if guidance is not None and getattr(self.observe, "wants_guidance", False):
            wants_cov = likelihood_cov is not None and getattr(self.observe, "wants_likelihood_cov", False)
            extra = {"likelihood_cov": likelihood_cov} if wants_cov else {}
            self.observe(t, x_t, x0_hat, guidance=guidance, **extra)
        else:
            self.observe(t, x_t, x0_hat)

    def wants_guidance(self, t) -> bool:
        """Whether the observer asks for the sampler's guidance at grid time ``t`` (an observer with
        ``wants_guidance = True`` and, optionally, ``guidance_times``: the only times it records)."""
        if not getattr(self.observe, "wants_guidance", False):
            return False
        times = getattr(self.observe, "guidance_times", None)
        return times is None or float(t) in times

    @property
    def finishes_at_zero(self) -> bool:
        return float(self.timesteps[-1]) == 0.0

    def with_timesteps(self, timesteps: Tensor) -> "Task":
        return replace(self, timesteps=timesteps)

    def with_observer(self, observe: Optional[Observer]) -> "Task":
        return replace(self, observe=observe)
