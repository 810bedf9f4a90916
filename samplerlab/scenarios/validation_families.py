"""Scenario families on which the diagnostics themselves are validated and calibrated.

A check that is calibrated on one problem can still be wrong on another: a mixture with
overlapping modes, full covariances, many dimensions, thousands of components, another noise
schedule or single precision. Each family here is one such problem, built deterministically
(same family, same problem bit for bit), together with the schedule and grid its audits use.
:mod:`samplerlab.studies.calibration` measures every check's size on each, and
:mod:`samplerlab.studies.validation` its power and attribution under injected faults.

Example:
    >>> sorted(FAMILIES)[:3]
    ['anisotropic_d50_m10', 'bimodal_1d', 'correlated_d5']
    >>> problem, schedule, steps = build("correlated_d5")
    >>> problem.dim, problem.operator.out_dim, problem.prior.cov_factors.kind, steps
    (5, 2, 'full', 100)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch

from samplerlab.core.mixture import GaussianMixture
from samplerlab.core.problem import InverseProblem
from samplerlab.core.schedules import VE, Schedule, VPLinear
from samplerlab.operators import Dense

__all__ = ["Family", "FAMILIES", "build", "grid_problem", "random_operator"]

STEPS = 100


@dataclass(frozen=True)
class Family:
    """A named problem builder plus the schedule its audits use."""

    name: str
    description: str
    make: Callable[[], InverseProblem]
    schedule: Callable[[], Schedule] = VPLinear


def random_operator(m: int, d: int, g: torch.Generator) -> Dense:
    """A Gaussian ``m × d`` matrix with its singular values replaced by sorted uniforms (the GMM benchmark's ``A``)."""
    u, _, vh = torch.linalg.svd(torch.randn(m, d, generator=g, dtype=torch.float64), full_matrices=False)
    s = torch.rand(m, generator=g, dtype=torch.float64).sort(descending=True).values
    return Dense(u @ torch.diag(s) @ vh)


def grid_problem(d: int = 8, m: int = 2, seed: int = 3, sigma_y: float = 0.5) -> InverseProblem:
    """The 25-mode grid prior (means ``(8i, 8j)`` over ``d/2`` pairs, unit covariances), a random
    ``A`` (:func:`random_operator`), ``y`` simulated.

    Seed 3 at ``d = 8, m = 2`` gives a posterior with four modes of weight above 0.1 and modes the
    data rule out (weight < 1e-8), so every fault is well defined.
    """
    ij = 8.0 * torch.cartesian_prod(torch.arange(-2, 3), torch.arange(-2, 3)).double()
    prior = GaussianMixture(torch.ones(25), ij.repeat(1, d // 2), torch.ones(25))
    g = torch.Generator().manual_seed(seed)
    return InverseProblem.simulate(prior, random_operator(m, d, g), sigma_y, generator=g)


def _scenario(name: str) -> InverseProblem:
    from samplerlab.scenarios import load_scenario

    return load_scenario(name).problem


def _correlated() -> InverseProblem:
    # Seed 23: posterior weights 0.45 / 0.33 / 0.18 / 0.03 and a mode the data rule out (< 1e-8).
    g = torch.Generator().manual_seed(23)
    k, d = 6, 5
    w = torch.randn(k, d, d, generator=g, dtype=torch.float64)
    cov = w @ w.transpose(1, 2) / d + 0.1 * torch.eye(d, dtype=torch.float64)
    means = 2.0 * torch.randn(k, d, generator=g, dtype=torch.float64)
    prior = GaussianMixture(torch.rand(k, generator=g, dtype=torch.float64) + 0.5, means, cov)
    return InverseProblem.simulate(prior, random_operator(2, d, g), 0.3, generator=g)


def _anisotropic() -> InverseProblem:
    # Seed 12: posterior weights 0.59 / 0.41, five modes the data rule out (< 1e-8).
    g = torch.Generator().manual_seed(12)
    k, d = 8, 50
    lam = torch.exp(torch.empty(k, d, dtype=torch.float64).uniform_(-3.0, 0.7, generator=g))
    means = 2.0 * torch.randn(k, d, generator=g, dtype=torch.float64)
    prior = GaussianMixture(torch.ones(k, dtype=torch.float64), means, lam)
    return InverseProblem.simulate(prior, random_operator(10, d, g), 0.5, generator=g)


def _float32() -> InverseProblem:
    p = grid_problem()
    return p.to(dtype=torch.float32)


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("grid_d8", "25-mode grid benchmark, d = 8, m = 2, isotropic", grid_problem),
    Family("bimodal_1d", "two overlapping 1-D modes observed directly", functools.partial(_scenario, "bimodal_1d")),
    Family("unequal_weights_2d", "three 2-D modes of weights 0.6/0.3/0.1, x1 observed",
           functools.partial(_scenario, "unequal_weights_2d")),
    Family("correlated_d5", "six full-covariance components, d = 5, m = 2", _correlated),
    Family("anisotropic_d50_m10", "eight diagonal components (variances 0.05-2), d = 50, m = 10", _anisotropic),
    Family("digits_500", "finite-sample prior of 500 digits (d = 64), central box hidden",
           functools.partial(_scenario, "digits_inpainting")),
    Family("grid_d8_ve", "the grid benchmark under the VE schedule", grid_problem, VE),
    Family("grid_d8_float32", "the grid benchmark in single precision", _float32),
]}


@functools.lru_cache(maxsize=None)
def build(name: str) -> tuple[InverseProblem, Schedule, int]:
    """``(problem, schedule, steps)`` of family ``name`` (built once per process)."""
    if name not in FAMILIES:
        raise ValueError(f"family: unknown {name!r}, expected one of {sorted(FAMILIES)}")
    family = FAMILIES[name]
    return family.make(), family.schedule(), STEPS
