"""Hypothesis strategies and seeded builders for random mixtures and operators."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from samplerlab import GaussianMixture
from samplerlab.operators import Dense

COV_KINDS = ("isotropic", "diagonal", "full")


def random_mixture(seed: int, k: int, d: int, kind: str, dtype=torch.float64, spread: float = 3.0) -> GaussianMixture:
    """A seeded random mixture with well-conditioned covariances of the given kind."""
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(k, generator=g, dtype=torch.float64) + 0.2
    m = spread * torch.randn(k, d, generator=g, dtype=torch.float64)
    if kind == "isotropic":
        cov = 0.3 + torch.rand(k, generator=g, dtype=torch.float64)
    elif kind == "diagonal":
        cov = 0.3 + torch.rand(k, d, generator=g, dtype=torch.float64)
    else:
        b = torch.randn(k, d, d, generator=g, dtype=torch.float64) / d**0.5
        cov = b @ b.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=torch.float64)
    return GaussianMixture(w, m, cov, dtype=dtype)


def random_dense(seed: int, m: int, d: int) -> Dense:
    g = torch.Generator().manual_seed(seed + 7919)
    return Dense(torch.randn(m, d, generator=g, dtype=torch.float64))


@st.composite
def mixtures(draw, kinds=COV_KINDS, max_k: int = 4, max_d: int = 4):
    """Draw ``(seed, k, d, kind)`` and build the mixture."""
    seed = draw(st.integers(0, 10_000))
    k = draw(st.integers(1, max_k))
    d = draw(st.integers(1, max_d))
    kind = draw(st.sampled_from(kinds))
    return random_mixture(seed, k, d, kind)


noise_levels = st.tuples(st.floats(0.05, 1.0), st.floats(0.05, 3.0))
