"""Timing for the benchmarks on either device: best-of-N, interleaved ratios, CUDA events on GPUs.

On CUDA a kernel launch returns before the work is done, so each round is timed with CUDA
events recorded around it after a warm-up (the first call also pays for cuBLAS's heuristics);
on the CPU ``time.perf_counter`` is exact enough.
"""

from __future__ import annotations

import time

import torch


def seconds(fn, device: str) -> float:
    """Wall time of one call of ``fn`` on ``device``."""
    if device.startswith("cuda"):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved_ratio(fn, baseline, device: str = "cpu", rounds: int = 25) -> tuple[float, float]:
    """Best-of-``rounds`` times of ``fn`` over ``baseline``, alternated so load hits both alike;
    returns ``(ratio, best baseline seconds)``."""
    for _ in range(2):  # warm-up: allocator, cuBLAS heuristics, caches
        fn(), baseline()
    best_fn = best_base = float("inf")
    for _ in range(rounds):
        best_fn = min(best_fn, seconds(fn, device))
        best_base = min(best_base, seconds(baseline, device))
    return best_fn / best_base, best_base
