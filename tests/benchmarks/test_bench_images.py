"""Denoiser throughput on a 20,000-image prior (d = 1024) as a fraction of the GEMM roofline.

The roofline is the measured time of the two GEMMs no implementation can avoid (distances
``N×d`` by ``d×K`` and the weighted mean ``N×K`` by ``K×d``) on the same device in the same
run. Runs on CUDA when present (float32, the GPU precision strategy) and on the CPU otherwise.
"""

from __future__ import annotations

import pytest
import torch
from _timing import seconds

from samplerlab.scenarios.images import finite_sample_prior, load_images

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _best(fn, rounds: int) -> float:
    """Best of ``rounds`` after a warm-up, timed with CUDA events on a GPU (see ``_timing``)."""
    fn()
    _sync()
    return min(seconds(fn, DEVICE) for _ in range(rounds))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_image_denoiser_fraction_of_gemm_roofline(benchmark, dtype):
    n = 4096 if DEVICE == "cuda" else 256
    prior = finite_sample_prior(load_images("patches", size=32, n=20_000), 0.05, device=DEVICE, dtype=dtype)
    x = prior.noised(1.0, 0.2).sample(n, generator=torch.Generator(DEVICE).manual_seed(0))
    means = prior.means
    resp = torch.softmax(torch.randn(n, prior.n_components, device=DEVICE, dtype=dtype), -1)
    rounds = 20 if DEVICE == "cuda" else 5
    benchmark.pedantic(lambda: (prior.denoise(x, 1.0, 0.2), _sync()), rounds=rounds, warmup_rounds=1)
    t_denoise = _best(lambda: prior.denoise(x, 1.0, 0.2), rounds)
    t_gemm = _best(lambda: (x @ means.T, resp @ means), rounds)
    flops = 2 * 2 * n * prior.dim * prior.n_components
    fraction = t_gemm / t_denoise
    benchmark.extra_info.update(device=str(torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"),
                                gemm_tflops=flops / t_gemm / 1e12, denoise_tflops=flops / t_denoise / 1e12,
                                fraction_of_roofline=fraction)
    print(f"\n{DEVICE} {dtype}: denoiser {flops / t_denoise / 1e9:.1f} GFLOP/s, GEMMs {flops / t_gemm / 1e9:.1f} "
          f"GFLOP/s, fraction of roofline {fraction:.2f}")
    assert fraction > 0.5
