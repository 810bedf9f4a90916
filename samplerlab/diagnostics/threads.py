"""One intra-op thread for the diagnostics of small problems on the CPU.

Below ``SMALL_WORK`` elements per sample set the diagnostics run on one torch intra-op thread
(:func:`small_work_threads`, a context manager; :func:`single_threaded_if_small`, a decorator for
checks), restoring torch's setting afterwards: on shared cores the many small operations of the
checks and their nulls run 10–100× slower on several threads.

Derivation and details: docs/notes/diagnostics_threads.md.

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
