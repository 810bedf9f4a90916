"""The exact denoiser costs its GEMMs and little more (ratios measured in the same run).

Run with ``make bench``. Each benchmark times ``GaussianMixture.denoise`` and, in the same
process, the GEMMs no implementation can avoid; the ratio of best-of-N times is recorded in
``extra_info`` and checked against the target.
"""

from __future__ import annotations

import timeit

import pytest
import torch

from samplerlab import GaussianMixture

N = 4096


def interleaved_ratio(fn, baseline, rounds: int = 25) -> tuple[float, float]:
    """Best-of-``rounds`` times of ``fn`` and ``baseline``, alternated so load hits both alike."""
    fn(), baseline()
    best_fn = best_base = float("inf")
    for _ in range(rounds):
        best_fn = min(best_fn, timeit.timeit(fn, number=1))
        best_base = min(best_base, timeit.timeit(baseline, number=1))
    return best_fn / best_base, best_base


def _isotropic():
    g = torch.Generator().manual_seed(0)
    k, d = 25, 800
    means = 8 * torch.randn(k, d, generator=g, dtype=torch.float64)
    gm = GaussianMixture(torch.ones(k), means, torch.ones(k))
    x = 3 * torch.randn(N, d, generator=g, dtype=torch.float64)
    resp = torch.softmax(torch.randn(N, k, generator=g, dtype=torch.float64), -1)
    # distances x·m_k and the responsibility-weighted means: N×d by d×K and N×K by K×d
    return gm, x, lambda: (x @ means.T, resp @ means), 1.5


def _full():
    g = torch.Generator().manual_seed(0)
    k, d = 200, 64
    b = torch.randn(k, d, d, generator=g, dtype=torch.float64) / 8
    cov = b @ b.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=torch.float64)
    gm = GaussianMixture(torch.ones(k), torch.randn(k, d, generator=g, dtype=torch.float64), cov)
    x = torch.randn(N, d, generator=g, dtype=torch.float64)
    bases = gm.cov_factors.stacked_basis()  # (d, K d)
    rotated = torch.randn(N, k * d, generator=g, dtype=torch.float64)
    # whitening into every component's basis and back: N×d by d×Kd and N×Kd by Kd×d
    return gm, x, lambda: (x @ bases, rotated @ bases.T), 2.0


@pytest.mark.parametrize("case", [_isotropic, _full], ids=["isotropic-K25-d800", "full-K200-d64"])
def test_denoiser_cost_is_its_gemms(benchmark, case):
    gm, x, gemms, target = case()
    benchmark.pedantic(gm.denoise, args=(x, 0.7, 0.7), rounds=5, warmup_rounds=1)
    ratio, gemm_time = interleaved_ratio(lambda: gm.denoise(x, 0.7, 0.7), gemms)
    benchmark.extra_info.update(gemm_seconds=gemm_time, ratio_to_gemms=ratio, target=target)
    print(f"\n{case.__name__}: denoise / GEMMs = {ratio:.2f} (target <= {target})")
    assert ratio <= target
