"""``oracle``: the reverse process driven by the exact noised-posterior score (a control).

:class:`Oracle` drives a DDPM / DDIM reverse process with the exact Tweedie denoiser
``E[x0|x_t, y]`` of the Gaussian-mixture posterior — the sampler every audit must pass up to
discretisation error: ``variant="ddpm"`` (Ho et al. 2020, Algorithm 2), ``variant="ode"`` (DDIM with
``η = 0``; Song et al. 2021, score SDEs, eq. 13), ``eta=η`` (DDIM(η), a discretisation floor) and
``variant="exact"`` (the exact reverse Markov chain, no discretisation error). It starts from an
exact draw of ``p_1(x_1|y)``; a truncated grid returns the prior denoiser's estimate.

Derivation and details: docs/notes/samplers_oracle.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 1.0, [2.0])
    >>> x = Oracle(problem=problem)(problem.task(steps=200), 4000, torch.Generator().manual_seed(0))
    >>> abs(float(x.mean()) - 1.0) < 0.05, abs(float(x.var()) - 0.5) < 0.05  # N(1, 1/2)
    (True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.core.problem import InverseProblem
from samplerlab.samplers._base import ReverseSampler, Step, ddim_update, x0_shift_to_score
from samplerlab.samplers._guidance import ddim_noise, eps_from_x0
from samplerlab.samplers._registry import register

__all__ = ["Oracle"]

_VARIANTS = {"ddpm": 1.0, "ode": 0.0, "exact": None}  # variant -> DDIM eta (None: exact transitions)


@register(
    "oracle",
    summary="control: reverse process driven by the exact noised-posterior denoiser",
    paper="exact posterior score (samplerlab.core.problem); Ho et al. 2020 / Song et al. 2021 (DDIM)",
    params={
        "problem": (None, "the InverseProblem whose exact posterior drives the process (required)"),
        "variant": ("exact", "'exact' (exact reverse transitions, no discretisation error), 'ddpm' "
                             "(ancestral, eta 1) or 'ode' (DDIM eta 0, probability-flow ODE)"),
        "eta": (None, "DDIM η in [0, 1] overriding the variant's (the floor of a DDIM(η) sampler); "
                      "None: the variant's"),
    },
    control=True,
)
class Oracle(ReverseSampler):
    """Exact-posterior reverse process; passes every audit (``exact``) or up to discretisation error."""

    def __init__(self, problem: InverseProblem | None = None, variant: str = "exact", eta: float | None = None):
        if not isinstance(problem, InverseProblem):
            raise ValueError(f"oracle: problem must be an InverseProblem, got {type(problem).__name__}")
        if variant not in _VARIANTS:
            raise ValueError(f"oracle: variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
        self.problem = problem
        self.variant = variant
        self.eta = _VARIANTS[variant]
        if eta is not None:
            if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= float(eta) <= 1.0:
                raise ValueError(f"oracle: eta must be a number in [0, 1] or None, got {eta!r}")
            self.eta = float(eta)
            self.variant = "ddpm" if self.eta == 1.0 else "ode" if self.eta == 0.0 else f"ddim(eta={self.eta:g})"
        self._moved: dict = {}

    @property
    def floor_eta(self) -> float | None:
        """The oracle is its own floor (``None``: exact transitions)."""
        return self.eta

    def _posterior(self, task):
        if task.dim != self.problem.dim:
            raise ValueError(f"oracle: task dimension {task.dim} does not match problem dimension {self.problem.dim}")
        post = self.problem.posterior()
        if post.device == task.device and post.dtype == task.dtype:
            return post
        key = (task.device, task.dtype)
        if key not in self._moved:  # moved once per (device, dtype), not once per step
            self._moved[key] = post.to(device=task.device, dtype=task.dtype)
        return self._moved[key]

    def init(self, task, n: int, generator: torch.Generator | None) -> Tensor:
        # Exact start: x_{t_0} ~ p_{t_0}(x | y), the noised posterior at the first grid time.
        t0 = task.timesteps[0]
        return self._posterior(task).noised(task.alpha(t0), task.sigma(t0)).sample(n, generator=generator)

    def step(self, task, x: Tensor, t: Tensor, t_next: Tensor, generator) -> Step:
        a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
        # 1. Exact posterior Tweedie mean x̂0 = E[x0 | x_t, y] and the noise it implies.
        x0_hat = self._posterior(task).denoise(x, a, s)
        guidance = None
        if self.wants_guidance(task, t):  # the exact likelihood score (a/s²)(E[x0|x_t,y] − E[x0|x_t])
            guidance = x0_shift_to_score(x0_hat - task.denoise(x, t), a, s)
        if self.eta is None:
            # Exact transition: x_{t_next} | x_t, y under p_{t_next}(·|y) noised by (r, q).
            r = a / a_next
            q = (s**2 - r**2 * s_next**2).clamp_min(0).sqrt()
            return Step(self._posterior(task).noised(a_next, s_next).denoise_sample(x, r, q, generator), x0_hat,
                        guidance)
        eps_hat = eps_from_x0(x, x0_hat, a, s)
        # 2. DDIM step to t_next (eta 1: ancestral DDPM; eta 0: probability-flow ODE).
        noise = ddim_noise(x, self.eta, s_next, generator)
        return Step(ddim_update(x0_hat, eps_hat, a_next, s_next, s, a, self.eta, noise), x0_hat, guidance)
