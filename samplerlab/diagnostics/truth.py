"""Exact reference quantities of one inverse problem, and cached exact draws for Monte Carlo nulls.

:class:`Truth` holds what every diagnostic compares samples with: the exact posterior, its
0.1 % log-density quantile (the support threshold of DESIGN.md §3), the prior-density and
likelihood thresholds that split off-support samples into hallucination types, and reference
counts of those types among independent exact draws. Everything random is drawn from generators
seeded by ``(audit seed, purpose)``, so the same seed gives the same truth; a :class:`Truth` is
cached per ``(problem, n, seed, device)`` and its Monte Carlo nulls are built once, on first use.

:func:`evaluate` computes, once per sample set, the exact quantities the checks share:
log-densities, responsibilities, component labels *sampled* from the responsibilities with the
seeded generator, and the coordinates whitened by the sampled component. Sampling the label
(rather than taking the argmax) makes ``(x, k)`` an exact draw of the joint law when ``x`` is an
exact draw, so ``x | k ~ N(m̄_k, S̄_k)`` and the whitened coordinates are exactly ``N(0, I)``
whatever the overlap of the modes; the argmax would bias radii down where modes overlap.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [1.0, 1.0]), Identity(1), 1.0, [0.5])
    >>> truth = Truth.get(problem, n=500, seed=0)
    >>> truth is Truth.get(problem, n=500, seed=0), truth.reference_logp.shape[0] == truth.n_reference
    (True, True)
"""

from __future__ import annotations

import math
import weakref
import zlib
from dataclasses import dataclass

import torch
from scipy import stats
from torch import Tensor

from samplerlab.covariance import CoordinateCovariance
from samplerlab.diagnostics.threads import small_work_threads
from samplerlab.mixture import GaussianMixture
from samplerlab.problem import InverseProblem

__all__ = ["Truth", "Evaluated", "evaluate", "OFF_SUPPORT_LEVEL"]

OFF_SUPPORT_LEVEL = 1e-3  # DESIGN.md §3: below the truth's own 0.1 % log-density quantile
N_REFERENCE = 20_000
RULED_OUT = 1e-4  # posterior weight below which the data rule a prior mode out  # exact draws per reference set (thresholds; reference counts)

_CACHE: "weakref.WeakKeyDictionary[InverseProblem, dict]" = weakref.WeakKeyDictionary()


def generator(seed: int, purpose: str, device) -> torch.Generator:
    """A generator seeded by ``(seed, purpose)``: independent streams, reproducible per seed."""
    g = torch.Generator(device=device)
    g.manual_seed((int(seed) * 1_000_003 + zlib.crc32(purpose.encode())) % (2**63 - 1))
    return g


@dataclass
class Evaluated:
    """Exact per-sample quantities under a mixture (see module doc)."""

    logp: Tensor  # (n,) log p(x)
    resp: Tensor  # (n, K) responsibilities
    labels: Tensor  # (n,) labels sampled from resp
    z: Tensor  # (n, d) coordinates whitened by the sampled component (eigenbasis order)

    @property
    def r2(self) -> Tensor:
        """Squared Mahalanobis radius to the sampled component (χ²_d under the truth)."""
        return self.z.square().sum(-1)


def whiten(mixture: GaussianMixture, x: Tensor, labels: Tensor) -> Tensor:
    """``Λ_k^{-1/2} U_kᵀ (x − m_k)`` for each row's component ``k = labels``."""
    cov = mixture.cov_factors
    diff = x - mixture.means[labels]
    if isinstance(cov, CoordinateCovariance):
        return cov.rotate(diff) / cov.full_eigenvalues()[labels].sqrt()
    return torch.einsum("nji,nj->ni", cov.basis[labels], diff) / cov.lam[labels].sqrt()


def evaluate(mixture: GaussianMixture, x: Tensor, gen: torch.Generator) -> Evaluated:
    """Log-density, responsibilities, sampled labels and whitened coordinates of ``x``."""
    comp = mixture.component_log_prob(x)
    logp = torch.logsumexp(comp, -1)
    resp = torch.softmax(comp, -1)
    labels = torch.multinomial(resp, 1, generator=gen)[:, 0] if len(x) else torch.zeros(0, dtype=torch.long)
    return Evaluated(logp, resp, labels, whiten(mixture, x, labels))


class Truth:
    """Exact reference quantities of ``problem`` for audits of ``n`` samples with ``seed``."""

    def __init__(self, problem: InverseProblem, n: int, seed: int):
        self.problem, self.n, self.seed = problem, int(n), int(seed)
        self.posterior = problem.posterior()
        self.prior = problem.prior
        self.device, self.dtype = self.posterior.device, self.posterior.dtype
        self.n_reference = N_REFERENCE
        self.nulls: dict = {}  # Monte Carlo nulls, filled on first use by the checks
        # Reference set 1: thresholds. Sorted posterior log-densities of exact draws (also the
        # reference law of the mixture-level HPD PIT), and the 0.1 % quantiles.
        ref = self.posterior.sample(N_REFERENCE, generator=self.gen("reference-1"))
        self.reference_logp = self.posterior.log_prob(ref).sort().values
        self.q_post = float(torch.quantile(self.reference_logp, OFF_SUPPORT_LEVEL))
        self.q_lik = float(torch.quantile(self.log_likelihood(ref), OFF_SUPPORT_LEVEL))
        self.near_radius2 = 4.0 * float(stats.chi2.ppf(1 - OFF_SUPPORT_LEVEL, self.prior.dim))
        # Reference set 2, independent of the thresholds: counts of each off-support type.
        ref2 = self.posterior.sample(N_REFERENCE, generator=self.gen("reference-2"))
        self.reference_counts = {k: int(v.sum()) for k, v in self.off_support_types(ref2).items()}

    @classmethod
    def get(cls, problem: InverseProblem, n: int, seed: int) -> "Truth":
        """The cached truth for ``(problem, n, seed)`` (built on first request)."""
        per_problem = _CACHE.setdefault(problem, {})
        key = (int(n), int(seed))
        if key not in per_problem:
            with small_work_threads(int(n) * problem.dim, problem.y.device):
                per_problem[key] = cls(problem, n, seed)
        return per_problem[key]

    def gen(self, purpose: str) -> torch.Generator:
        return generator(self.seed, purpose, self.device)

    def draws(self, n: int, purpose: str) -> Tensor:
        """``n`` exact posterior draws from the stream named ``purpose``."""
        return self.posterior.sample(n, generator=self.gen(purpose))

    def log_likelihood(self, x: Tensor) -> Tensor:
        """``log N(y; A x, σ_y² I)`` up to a constant: ``−‖y − A x‖² / (2 σ_y²)``."""
        r = self.problem.y - self.problem.operator.forward(x)
        return -0.5 * r.square().sum(-1) / self.problem.sigma_y**2

    def prior_radii(self, x: Tensor) -> Tensor:
        """Squared Mahalanobis radius of ``x`` to every prior component, ``(n, K)``."""
        prior = self.prior
        norm = -0.5 * (prior.cov_factors.logdet() + prior.dim * math.log(2 * math.pi))
        return -2.0 * (prior.component_log_prob(x) - prior.log_weights - norm)

    def off_support_types(self, x: Tensor, logp: Tensor | None = None) -> dict[str, Tensor]:
        """Boolean masks: off-support, prior-mode and likelihood-mode hallucination, plain error.

        Off-support: ``log p(x|y)`` below the 0.1 % quantile. *Prior-mode*: within twice the prior's
        99.9 % Mahalanobis radius of its nearest prior component, a component the data rule out
        (posterior weight < 1e-4). *Likelihood-mode*: further than that from every prior component,
        yet its likelihood is above the 0.1 % quantile of exact posterior draws (it fits ``y``).
        The radius margin (×2) keeps plain over-dispersion (a radius ×1.25 or so, which also makes
        samples off-support) from reading as hallucination.
        """
        logp = self.posterior.log_prob(x) if logp is None else logp
        off = logp < self.q_post
        radii = self.prior_radii(x)
        nearest = radii.argmin(-1)
        near_prior = radii.gather(-1, nearest[:, None])[:, 0] <= self.near_radius2
        ruled_out = self.posterior.weights[nearest] < RULED_OUT
        fits_y = self.log_likelihood(x) >= self.q_lik
        prior_mode = off & near_prior & ruled_out
        lik_mode = off & ~near_prior & fits_y
        return {"off_support": off, "prior_mode": prior_mode, "likelihood_mode": lik_mode,
                "plain": off & ~prior_mode & ~lik_mode}

    def evaluate(self, x: Tensor, purpose: str = "labels") -> Evaluated:
        """:func:`evaluate` under the exact posterior with the seeded label stream."""
        with small_work_threads(self.n * self.posterior.dim, self.device):
            return evaluate(self.posterior, x, self.gen(purpose))
