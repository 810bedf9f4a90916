"""Fault-injection samplers: exact posterior draws with one failure mode of known size.

Each sampler draws exact posterior samples, applies its fault to the clean draws and walks
``task.timesteps`` notifying the exactly noised path; a grid truncated at ``t_stop > 0`` returns the
prior denoiser's estimate there, as every sampler does. The faults, on the base :class:`FaultSampler`:
:class:`Spread` (within-mode scale), :class:`Shift` (location), :class:`Reweight` (mode weights),
:class:`PriorHallucination`, :class:`LikelihoodHallucination` and :class:`LateSpoil` (an earlier stop
beats the end). :func:`exact_sampler` is the fault-free control; :func:`fault_sampler` builds the
registry's fault by name.

Derivation and details: docs/notes/samplers_faults.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), Identity(2), 1.0, [0.0, 0.0])
    >>> x = Spread(problem, 0.5)(problem.task(steps=10), 4000, torch.Generator().manual_seed(0))
    >>> abs(float(x.var(0).mean()) / 0.5 - 0.25) < 0.02  # exact variance 1/2, shrunk by 0.5²
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.core.problem import InverseProblem

__all__ = ["FaultSampler", "Spread", "Shift", "Reweight", "PriorHallucination", "LikelihoodHallucination", "LateSpoil",
           "FAULTS", "exact_sampler", "fault_sampler"]


class FaultSampler:
    """Base: exact draws, :meth:`fault` on the clean draws, exact noising along the grid."""

    failure_mode = ""

    def __init__(self, problem: InverseProblem):
        if not isinstance(problem, InverseProblem):
            raise ValueError(f"problem: expected an InverseProblem, got {type(problem).__name__}")
        self.problem = problem
        self.posterior = problem.posterior()

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def fault(self, x0: Tensor, labels: Tensor, generator) -> Tensor:
        raise NotImplementedError

    def clean_at(self, t: float, x0: Tensor, faulted: Tensor) -> Tensor:
        """The clean draw underlying ``x_t`` (the faulted one, at every ``t``, by default)."""
        return faulted

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        x0, labels = self.posterior.sample(n, generator=generator, return_labels=True)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        faulted = self.fault(x0, labels, generator)
        grid = task.timesteps
        if task.observe is not None:
            for t in grid[:-1]:
                clean = self.clean_at(float(t), x0, faulted)
                task.notify(t, task.alpha(t) * clean + task.sigma(t) * eps, clean)
        end = grid[-1]
        clean = self.clean_at(float(end), x0, faulted)
        if task.finishes_at_zero:
            return clean
        return task.denoise(task.alpha(end) * clean + task.sigma(end) * eps, end)


class Spread(FaultSampler):
    """Scale every sample's offset from its component mean by ``factor``."""

    failure_mode = "spread"

    def __init__(self, problem: InverseProblem, factor: float = 0.8):
        super().__init__(problem)
        self.factor = float(factor)

    def fault(self, x0, labels, generator):
        m = self.posterior.means[labels]
        return m + self.factor * (x0 - m)


class Shift(FaultSampler):
    """Move every sample by ``delta`` posterior standard deviations of its component along one direction."""

    failure_mode = "location"

    def __init__(self, problem: InverseProblem, delta: float = 0.5, seed: int = 0):
        super().__init__(problem)
        g = torch.Generator(device=self.posterior.device).manual_seed(seed)
        u = torch.randn(self.posterior.dim, generator=g, dtype=self.posterior.dtype, device=self.posterior.device)
        self.delta, self.direction = float(delta), u / u.norm()

    def fault(self, x0, labels, generator):
        step = (self.delta * self.direction).expand(len(x0), -1).to(x0)
        return x0 + self.posterior.cov_factors.sqrt_apply(step, labels)


class Reweight(FaultSampler):
    """Move ``tv`` of the posterior mass from the heaviest mode to the second heaviest."""

    failure_mode = "mode_weights"

    def __init__(self, problem: InverseProblem, tv: float = 0.1):
        super().__init__(problem)
        w = self.posterior.weights.clone()
        top = w.argsort(descending=True)[:2]
        if len(top) < 2 or w[top[0]] < tv:
            raise ValueError(f"tv: the heaviest posterior mode has weight {float(w[top[0]]):.3g} < tv = {tv}")
        w[top[0]] -= tv
        w[top[1]] += tv
        self.weights, self.tv = w, float(tv)

    def fault(self, x0, labels, generator):
        k = torch.multinomial(self.weights, len(x0), replacement=True, generator=generator)
        z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        return self.posterior.means[k] + self.posterior.cov_factors.sqrt_apply(z, k)


class _Contaminate(FaultSampler):
    def __init__(self, problem: InverseProblem, rate: float = 0.02):
        super().__init__(problem)
        self.rate = float(rate)

    def replacement(self, x0: Tensor, generator) -> Tensor:
        raise NotImplementedError

    def fault(self, x0, labels, generator):
        hit = torch.rand(len(x0), generator=generator, dtype=x0.dtype, device=x0.device) < self.rate
        return torch.where(hit[:, None], self.replacement(x0, generator), x0)


class PriorHallucination(_Contaminate):
    """Replace a fraction ``rate`` by draws of prior components with posterior weight < ``ruled_out``."""

    failure_mode = "prior_hallucination"

    def __init__(self, problem: InverseProblem, rate: float = 0.02, ruled_out: float = 1e-8):
        super().__init__(problem, rate)
        out = self.posterior.weights < ruled_out
        if not bool(out.any()):
            raise ValueError(f"problem: no prior mode has posterior weight < {ruled_out:g}")
        self.modes = torch.nonzero(out).flatten()

    def replacement(self, x0, generator):
        prior = self.problem.prior
        pick = torch.multinomial(prior.weights[self.modes], len(x0), replacement=True, generator=generator)
        k = self.modes[pick]
        z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        return prior.means[k] + prior.cov_factors.sqrt_apply(z, k)


class LikelihoodHallucination(_Contaminate):
    """Move a fraction ``rate`` along the null space of ``A``, three prior diameters away."""

    failure_mode = "likelihood_hallucination"

    def __init__(self, problem: InverseProblem, rate: float = 0.02):
        super().__init__(problem, rate)
        if problem.operator.svd().V.shape[1] >= problem.dim:
            raise ValueError(f"problem: A has no null space (rank {problem.operator.svd().V.shape[1]} = d), "
                             "so no sample can move away from the prior while still fitting y")

    def replacement(self, x0, generator):
        prior, op = self.problem.prior, self.problem.operator
        radius = (prior.means - prior.mean()).norm(dim=-1).max() + 3 * prior.cov_factors.lam.max().sqrt()
        u = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        v = op.svd().V
        u = u - (u @ v) @ v.T  # keep A x: move in the null space only
        return x0 + 3 * radius * u / u.norm(dim=-1, keepdim=True)


class LateSpoil(FaultSampler):
    """Exact trajectory until ``t_spoil``; the steps after it add noise of ``noise`` posterior standard deviations."""

    failure_mode = "early_stopping"

    def __init__(self, problem: InverseProblem, noise: float = 1.0, t_spoil: float = 0.008):
        super().__init__(problem)
        self.noise, self.t_spoil = float(noise), float(t_spoil)

    def fault(self, x0, labels, generator):
        z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        return x0 + self.noise * self.posterior.cov_factors.sqrt_apply(z, labels)

    def clean_at(self, t, x0, faulted):
        return faulted if t < self.t_spoil else x0


FAULTS = {
    "shrink": lambda p: Spread(p, 0.8),
    "inflate": lambda p: Spread(p, 1.25),
    "shift": lambda p: Shift(p, 0.5),
    "reweight": lambda p: Reweight(p, min(0.1, 0.5 * float(p.posterior().weights.max()))),
    "prior_mode": lambda p: PriorHallucination(p, 0.02),
    "likelihood_mode": lambda p: LikelihoodHallucination(p, 0.02),
    "late_spoil": lambda p: LateSpoil(p),
}


def exact_sampler(problem: InverseProblem) -> FaultSampler:
    """Exact posterior draws (a :class:`Spread` with factor 1): the fault-free control."""
    sampler = Spread(problem, 1.0)
    sampler.failure_mode = ""
    return sampler


def fault_sampler(name: str, problem: InverseProblem, stream: int | None = None):
    """The registry's fault ``name`` (or ``"exact"``) built for ``problem`` — the sampler reference
    ``fault:NAME``. With ``stream`` the draws come from their own generator, seeded by ``stream``
    and one number drawn from the audit's sampler stream: a calibration study varies the draws
    (``stream``) under one truth (the audit seed), and each (seed, stream) pair is its own stream.
    Raises ``ValueError`` when the problem cannot host the fault (e.g. no ruled-out prior mode)."""
    if name != "exact" and name not in FAULTS:
        raise KeyError(name)
    base = exact_sampler(problem) if name == "exact" else FAULTS[name](problem)
    if stream is None:
        return base

    def sampler(task, n, generator=None):
        audit = int(torch.randint(0, 2**62, (1,), generator=generator, device=task.device))
        own = torch.Generator(device=task.device).manual_seed((audit + 1_000_003 * int(stream)) % 2**62)
        return base(task, n, own)

    sampler.__name__ = name
    for attr in ("failure_mode", "stop_from_notify", "floor_eta"):  # what the audit reads off a sampler
        if hasattr(base, attr):
            setattr(sampler, attr, getattr(base, attr))
    return sampler
