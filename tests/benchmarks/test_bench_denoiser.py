"""The exact denoiser costs its GEMMs and little more (ratios measured in the same run).

Run with ``make bench``. Each benchmark times ``GaussianMixture.denoise`` and, in the same
process on the same device, the GEMMs no implementation can avoid; the ratio of best-of-N times
(alternated, CUDA events on a GPU) is recorded in ``extra_info`` and checked against the target.
Shapes follow the device: on the CPU float64 problems of a few milliseconds; on CUDA float32
problems large enough that the GEMMs, not kernel launches, dominate (N = 65,536 rows), with the
plain-FP32 GEMMs as the roofline (TF32 off) and the TF32 GEMMs' time reported beside them.
"""

from __future__ import annotations

import pytest
import torch
from _timing import interleaved_ratio

from samplerlab import GaussianMixture

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CUDA = DEVICE == "cuda"
N = 65_536 if CUDA else 4096
DTYPE = torch.float32 if CUDA else torch.float64


def _isotropic():
    g = torch.Generator().manual_seed(0)
    k, d = (256, 4096) if CUDA else (25, 800)
    means = (8 * torch.randn(k, d, generator=g, dtype=torch.float64)).to(DEVICE, DTYPE)
    gm = GaussianMixture(torch.ones(k), means, torch.ones(k), device=DEVICE, dtype=DTYPE)
    x = (3 * torch.randn(N, d, generator=g, dtype=torch.float64)).to(DEVICE, DTYPE)
    resp = torch.softmax(torch.randn(N, k, generator=g, dtype=torch.float64), -1).to(DEVICE, DTYPE)
    # distances x·m_k and the responsibility-weighted means: N×d by d×K and N×K by K×d
    return gm, x, lambda: (x @ means.T, resp @ means), 1.5


def _full():
    g = torch.Generator().manual_seed(0)
    k, d = 200, 64
    b = torch.randn(k, d, d, generator=g, dtype=torch.float64) / 8
    cov = b @ b.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=torch.float64)
    gm = GaussianMixture(torch.ones(k), torch.randn(k, d, generator=g, dtype=torch.float64), cov,
                         device=DEVICE, dtype=DTYPE)
    rows = 8192 if CUDA else N  # (rows, K d) whitened coordinates: 0.4 GB in float32
    x = torch.randn(rows, d, generator=g, dtype=torch.float64).to(DEVICE, DTYPE)
    bases = gm.cov_factors.stacked_basis()  # (d, K d)
    rotated = torch.randn(rows, k * d, generator=g, dtype=torch.float64).to(DEVICE, DTYPE)
    # whitening into every component's basis and back: N×d by d×Kd and N×Kd by Kd×d
    return gm, x, lambda: (x @ bases, rotated @ bases.T), 2.0


@pytest.mark.parametrize("case", [_isotropic, _full], ids=["isotropic", "full-K200-d64"])
def test_denoiser_cost_is_its_gemms(benchmark, case):
    gm, x, gemms, target = case()
    benchmark.pedantic(gm.denoise, args=(x, 0.7, 0.7), rounds=5, warmup_rounds=1)
    ratio, gemm_time = interleaved_ratio(lambda: gm.denoise(x, 0.7, 0.7), gemms, DEVICE)
    info = dict(device=DEVICE, dtype=str(DTYPE), rows=x.shape[0], gemm_seconds=gemm_time, ratio_to_gemms=ratio,
                fraction_of_roofline=1 / ratio, target=target)
    if CUDA:  # the same GEMMs on TF32 tensor cores: the roofline the float32 screening could reach
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            tf32_ratio, tf32_time = interleaved_ratio(lambda: gm.denoise(x, 0.7, 0.7), gemms, DEVICE)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
        info.update(tf32_gemm_seconds=tf32_time, fraction_of_tf32_roofline=1 / tf32_ratio)
    benchmark.extra_info.update(info)
    print(f"\n{case.__name__} ({DEVICE}, {DTYPE}, {x.shape[0]} rows): denoise / GEMMs = {ratio:.2f} "
          f"(target <= {target})" + (f"; fraction of the TF32 roofline {info['fraction_of_tf32_roofline']:.2f}"
                                     if CUDA else ""))
    assert ratio <= target
