"""Where the exact denoiser spends its time on a device: a kernel table per benchmark shape.

The GPU check (:mod:`samplerlab.bench.gpu_check`) times the denoisers against their GEMMs; this step
says where the rest goes, for the benchmark's isotropic, image and full-covariance shapes (the
first H100 table showed the float32 isotropic kernel's refinement gathers, since replaced). It
profiles one call of each with ``torch.profiler`` after a warm-up and writes the
operators that took the most device time (self time, so nested operators are not counted twice)
to ``profile.txt``, so the next lent card says which part to rewrite. Beside each table it writes
the precision path the kernel took (the dtype of its isotropic logits) and the largest relative
error of that call's result against the same mixture in float64 on the same device. On a CPU it
profiles the same code at small sizes (the test does).

Usage::

    samplerlab bench profile --out folder [--small]

Example:
    >>> [name for name, _ in CASES]
    ['isotropic', 'image', 'full']
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

__all__ = ["CASES", "profile_case", "main"]


def _isotropic(device: str, small: bool):
    """The denoiser benchmark's isotropic mixture (K = 256, d = 4096, 65,536 rows, float32 on CUDA)."""
    from samplerlab.core.mixture import GaussianMixture

    g = torch.Generator().manual_seed(0)
    k, d, n = (40, 64, 512) if small else (256, 4096, 65_536)
    dtype = torch.float32 if device.startswith("cuda") else torch.float64
    means = (8 * torch.randn(k, d, generator=g, dtype=torch.float64)).to(device, dtype)
    gm = GaussianMixture(torch.ones(k), means, torch.ones(k), device=device, dtype=dtype)
    x = (3 * torch.randn(n, d, generator=g, dtype=torch.float64)).to(device, dtype)
    return gm, x, 0.7, 0.7


def _image(device: str, small: bool):
    """The image benchmark's 20,000-patch prior (d = 1024), 4,096 rows at σ = 0.2."""
    from samplerlab.scenarios.images import finite_sample_prior, load_images

    dtype = torch.float32 if device.startswith("cuda") else torch.float64
    size, count, n = (8, 500, 256) if small else (32, 20_000, 4096)
    prior = finite_sample_prior(load_images("patches", size=size, n=count), 0.05, device=device, dtype=dtype)
    x = prior.noised(1.0, 0.2).sample(n, generator=torch.Generator(device).manual_seed(0))
    return prior, x, 1.0, 0.2


def _full(device: str, small: bool):
    """The denoiser benchmark's full-covariance mixture (K = 200, d = 64, 8,192 rows, float32 on CUDA)."""
    from samplerlab.core.mixture import GaussianMixture

    g = torch.Generator().manual_seed(0)
    k, d, n = (20, 8, 256) if small else (200, 64, 8192)
    dtype = torch.float32 if device.startswith("cuda") else torch.float64
    b = torch.randn(k, d, d, generator=g, dtype=torch.float64) / 8
    cov = b @ b.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=torch.float64)
    gm = GaussianMixture(torch.ones(k), torch.randn(k, d, generator=g, dtype=torch.float64), cov,
                         device=device, dtype=dtype)
    x = torch.randn(n, d, generator=g, dtype=torch.float64).to(device, dtype)
    return gm, x, 0.7, 0.7


CASES = (("isotropic", _isotropic), ("image", _image), ("full", _full))


def relative_error(gm, x: torch.Tensor, alpha: float, sigma: float) -> float:
    """Largest ``‖E − E₆₄‖ / ‖E₆₄‖`` over rows, against the same mixture and rows in float64."""
    e = gm.denoise(x, alpha, sigma).double()
    ref = gm.to(dtype=torch.float64).denoise(x.double(), alpha, sigma)
    return float(((e - ref).norm(dim=-1) / ref.norm(dim=-1)).max())


def profile_case(call, device: str, rows: int = 15) -> str:
    """The ``rows`` operators of one ``call()`` with the most self time on ``device`` (after a warm-up)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    call()
    if cuda:
        torch.cuda.synchronize()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        call()
        if cuda:
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="samplerlab bench profile", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for profile.txt")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--small", action="store_true", help="small shapes (a CPU smoke run)")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "profile.txt", "w") as f:
        for name, build in CASES:
            gm, x, alpha, sigma = build(device, args.small)
            f.write(f"== {name} on {device}{' (small)' if args.small else ''}: {gm.dtype} rows, logits in "
                    f"{gm._kernel.logits_dtype}, max relative error against float64 "
                    f"{relative_error(gm, x, alpha, sigma):.1e}\n")
            f.write(profile_case(lambda: gm.denoise(x, alpha, sigma), device) + "\n")
            f.flush()
    print(f"profile written to {out / 'profile.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
