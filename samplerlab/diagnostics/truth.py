"""Exact reference quantities of one inverse problem, and cached exact draws for Monte Carlo nulls.

:class:`Truth` holds what every diagnostic compares samples with — the exact posterior, its support
threshold, the ruled-out components (:func:`ruled_out_components`), the hallucination thresholds and
two independent reference sets of exact draws — cached per ``(problem, n, seed)``, with everything
random drawn from :func:`generator` streams seeded by ``(audit seed, purpose)``. :func:`evaluate`
computes per sample set, in row chunks (:func:`row_chunks`), the exact quantities the checks share
(:class:`Evaluated`): log-densities, component labels *sampled* from the exact responsibilities and
the coordinates whitened by them (:func:`whiten`). It also defines the off-support, ruled-out,
prior-mode and likelihood-mode samples the checks test.

Derivation and details: docs/notes/diagnostics_truth.md.

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

from samplerlab.core.covariance import CoordinateCovariance
from samplerlab.core.logspace import categorical
from samplerlab.core.memory import reference_size
from samplerlab.core.mixture import GaussianMixture
from samplerlab.core.problem import InverseProblem
from samplerlab.diagnostics.threads import small_work_threads

__all__ = ["Truth", "Evaluated", "evaluate", "ruled_out_components", "row_chunks", "reference_size",
           "OFF_SUPPORT_LEVEL", "FAR_RADIUS"]

OFF_SUPPORT_LEVEL = 1e-3  # below the truth's own 0.1 % log-density quantile; also the ruled-out mass
FAR_RADIUS = 1.5  # likelihood-mode: outside every prior component's 99.9 % region enlarged 1.5× in radius
MAX_TRUTHS = 4  # truths kept per problem (each holds its reference sets and Monte Carlo nulls)
# rows × K per chunk when evaluating sample sets: 4 MiB in float64, so a chunk's (rows, K)
# temporaries stay in cache and far below glibc's 32 MiB mmap threshold (each larger temporary is
# a fresh mapping, page-faulted again on every use). At least MIN_ROWS rows per chunk, so the K×d
# means each chunk's GEMM reads are amortised over enough rows.
CHUNK_ELEMENTS = 1 << 19
MIN_ROWS = 64

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
    labels: Tensor  # (n,) labels sampled from the responsibilities
    z: Tensor  # (n, d) coordinates whitened by the sampled component (eigenbasis order)
    types: dict | None = None  # sample types (Truth.sample_types), filled on first use

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


def row_chunks(n: int, k: int, min_rows: int = MIN_ROWS) -> list[slice]:
    """Row slices of ``n`` rows such that ``rows × k`` stays within ``CHUNK_ELEMENTS`` (at least
    ``min_rows`` rows per slice)."""
    step = max(min_rows, CHUNK_ELEMENTS // max(k, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def evaluate(mixture: GaussianMixture, x: Tensor, gen: torch.Generator) -> Evaluated:
    """Log-density, sampled labels and whitened coordinates of ``x`` (row chunks, ``O(chunk · K)`` memory)."""
    x = x.to(mixture.dtype)
    logp = torch.empty(len(x), dtype=mixture.dtype, device=x.device)
    labels = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for rows in row_chunks(len(x), mixture.n_components):
        labels[rows], logp[rows] = categorical(mixture.component_log_prob(x[rows]), gen, with_logsumexp=True)
    return Evaluated(logp, labels, whiten(mixture, x, labels))


def ruled_out_components(weights: Tensor, mass: float = OFF_SUPPORT_LEVEL) -> Tensor:
    """Boolean ``(K,)``: the lightest components whose weights sum to at most ``mass``."""
    order = weights.argsort()
    cum = weights[order].double().cumsum(0)
    out = torch.zeros_like(weights, dtype=torch.bool)
    out[order[cum <= mass]] = True
    return out


class Truth:
    """Exact reference quantities of ``problem`` for audits of ``n`` samples with ``seed``."""

    def __init__(self, problem: InverseProblem, n: int, seed: int):
        self.problem, self.n, self.seed = problem, int(n), int(seed)
        self.posterior = problem.posterior()
        self.prior = problem.prior
        self.device, self.dtype = self.posterior.device, self.posterior.dtype
        self.n_reference = m = reference_size(n)
        self.nulls: dict = {}  # Monte Carlo nulls, filled on first use by the checks
        self.ruled_out = ruled_out_components(self.posterior.weights)
        d = self.prior.dim
        self.hdr2 = float(stats.chi2.ppf(1 - OFF_SUPPORT_LEVEL, d))  # a component's own 99.9 % region
        self.far2 = FAR_RADIUS**2 * self.hdr2
        # Reference set 1: thresholds. Sorted posterior log-densities of exact draws (also the
        # reference law of the mixture-level HPD PIT), and the 0.1 % quantiles.
        ref = self.posterior.sample(m, generator=self.gen("reference-1"))
        self.reference_logp = self.log_prob(ref).sort().values
        self.q_post = float(torch.quantile(self.reference_logp, OFF_SUPPORT_LEVEL))
        self.q_lik = float(torch.quantile(self.log_likelihood(ref), OFF_SUPPORT_LEVEL))
        # Reference set 2, independent of the thresholds: counts of each sample type, and the
        # labels of the draws that are on the support and not ruled out (mode weights).
        ref2 = self.posterior.sample(m, generator=self.gen("reference-2"))
        ev2 = self.evaluate(ref2, "reference-2-labels")
        types = self.sample_types(ref2, ev2)
        self.reference_counts = {k: int(v.sum()) for k, v in types.items()}
        kept = self.kept(ref2, ev2)
        self.reference_label_counts = torch.bincount(ev2.labels[kept], minlength=self.posterior.n_components).cpu()

    @classmethod
    def get(cls, problem: InverseProblem, n: int, seed: int) -> "Truth":
        """The cached truth for ``(problem, n, seed)`` (built on first request)."""
        per_problem = _CACHE.setdefault(problem, {})
        key = (int(n), int(seed))
        if key not in per_problem:
            while len(per_problem) >= MAX_TRUTHS:  # a study visiting many seeds keeps the latest few
                per_problem.pop(next(iter(per_problem)))
            with small_work_threads(int(n) * problem.dim, problem.y.device):
                per_problem[key] = cls(problem, n, seed)
        return per_problem[key]

    @staticmethod
    def forget(problem: InverseProblem) -> None:
        """Drop every cached truth of ``problem`` (long studies that visit many seeds)."""
        _CACHE.pop(problem, None)

    def gen(self, purpose: str) -> torch.Generator:
        return generator(self.seed, purpose, self.device)

    def draws(self, n: int, purpose: str, dtype: torch.dtype | None = None) -> Tensor:
        """``n`` exact posterior draws from the stream named ``purpose`` (in ``dtype``, default the
        posterior's precision)."""
        return self.posterior.sample(n, generator=self.gen(purpose), dtype=dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x|y)``, in row chunks."""
        x = x.to(self.dtype)
        out = torch.empty(len(x), dtype=self.dtype, device=x.device)
        for rows in row_chunks(len(x), self.posterior.n_components):
            out[rows] = self.posterior.log_prob(x[rows])
        return out

    def log_likelihood(self, x: Tensor) -> Tensor:
        """``log N(y; A x, σ_y² I)`` up to a constant: ``−‖y − A x‖² / (2 σ_y²)``."""
        r = self.problem.y - self.problem.operator.forward(x.to(self.dtype))
        return -0.5 * r.square().sum(-1) / self.problem.sigma_y**2

    def prior_radii(self, x: Tensor) -> Tensor:
        """Squared Mahalanobis radius of ``x`` to every prior component, ``(n, K)``."""
        prior = self.prior
        if getattr(self, "_prior_norm", None) is None:  # (K,): once per truth, not per row chunk
            self._prior_norm = prior.log_weights - 0.5 * (prior.cov_factors.logdet()
                                                          + prior.dim * math.log(2 * math.pi))
        return prior.component_log_prob(x.to(self.dtype)).sub_(self._prior_norm).mul_(-2.0)  # in place

    def kept(self, x: Tensor, ev: Evaluated) -> Tensor:
        """Samples the mode-weight check judges: neither prior-mode nor likelihood-mode hallucinations."""
        types = self.sample_types(x, ev)
        return ~types["prior_mode"] & ~types["likelihood_mode"]

    def sample_types(self, x: Tensor, ev: Evaluated) -> dict[str, Tensor]:
        """Boolean masks: off-support, prior-mode and likelihood-mode hallucination, plain error (module doc)."""
        if ev.types is None:
            ev.types = self._sample_types(x, ev)
        return ev.types

    def _sample_types(self, x: Tensor, ev: Evaluated) -> dict[str, Tensor]:
        off = ev.logp < self.q_post
        in_own = torch.empty(len(x), dtype=torch.bool, device=x.device)
        far = torch.empty(len(x), dtype=torch.bool, device=x.device)
        for rows in row_chunks(len(x), self.prior.n_components):
            radii = self.prior_radii(x[rows])
            in_own[rows] = radii.gather(-1, ev.labels[rows, None])[:, 0] <= self.hdr2
            far[rows] = radii.min(-1).values > self.far2
        prior_mode = self.ruled_out[ev.labels] & in_own
        lik_mode = off & far & (self.log_likelihood(x) >= self.q_lik) & ~prior_mode
        return {"off_support": off, "prior_mode": prior_mode, "likelihood_mode": lik_mode,
                "plain": off & ~prior_mode & ~lik_mode}

    def evaluate(self, x: Tensor, purpose: str = "labels") -> Evaluated:
        """:func:`evaluate` under the exact posterior with the seeded label stream."""
        with small_work_threads(self.n * self.posterior.dim, self.device):
            return evaluate(self.posterior, x, self.gen(purpose))
