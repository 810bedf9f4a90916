"""One intra-op thread for the diagnostics of small problems on the CPU.

The checks and their Monte Carlo nulls issue thousands of operations on ``(n, d)`` tensors of a
few thousand elements (the stop-time sweep's null alone: 120 replicates, each a draw, a
denoiser call, an evaluation and a sort). On the CPU torch splits each such operation across its
intra-op threads; on cores shared with other processes every one of them then waits for a
descheduled worker, and the diagnostics run 10–100× slower than on one thread (measured on two
shared cores, n = 2000, d = 2: the sweep's null 20–37 s on two threads, 2 s on one). Below
``SMALL_WORK`` elements per sample set the diagnostics therefore run on one thread, restoring
torch's setting afterwards; larger problems, where the GEMMs pay for the threads, keep it.
Only the floating-point summation order of a few reductions depends on the thread count.

Example:
    >>> with small_work_threads(2000 * 2, "cpu"):
    ...     torch.get_num_threads()
    1
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

__all__ = ["small_work_threads", "single_threaded_if_small", "SMALL_WORK"]

SMALL_WORK = 1 << 16  # n · d (elements per sample set) up to which the diagnostics use one thread


@contextmanager
def small_work_threads(numel: int, device) -> Iterator[None]:
    """Run the block on one intra-op thread when ``numel <= SMALL_WORK`` on the CPU (see module doc)."""
    before = torch.get_num_threads()
    if torch.device(device).type != "cpu" or numel > SMALL_WORK or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded_if_small(check: Callable) -> Callable:
    """Decorate a check ``check(first, truth, ...)``: it runs under :func:`small_work_threads` for ``truth``."""

    @functools.wraps(check)
    def wrapped(first, truth, *args, **kwargs):
        with small_work_threads(truth.n * truth.posterior.dim, truth.device):
            return check(first, truth, *args, **kwargs)

    return wrapped
