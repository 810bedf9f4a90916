"""How many intra-op threads torch uses for an audit: one policy for the CLI, suites and studies.

torch starts one intra-op thread per core. On cores that other processes hold, every parallel
operation then waits for a descheduled thread: measured on two shared cores with one of them
busy elsewhere, a 1000-step DPS run on grid_d80_m2 (n = 2000) took 88 s on torch's default
threads and 6.0 s on one. :func:`choose_threads` therefore picks, in this order:

1. ``--threads N`` (the ``given`` argument), else the environment variable ``SAMPLERLAB_THREADS``;
2. one thread on the CPU when a denoiser call's GEMM is small (``n·d·K`` multiply-adds up to
   ``SMALL_GEMM``: a few milliseconds on one core, where threads gain little and lose much);
3. otherwise the cores this process may run on (``os.sched_getaffinity``) less those other
   processes keep busy (the 1-minute load average, or the processes runnable right now if more),
   at least one and at most torch's default.

Sweep cells (:func:`cell_threads`) run on one thread each unless ``SAMPLERLAB_THREADS`` says
otherwise: their workers already share the cores. The count only changes the floating-point
summation order of some reductions, never a verdict's definition.

Example:
    >>> choose_threads(3, work=10 ** 12), choose_threads(None, work=2000 * 80 * 25)
    (3, 1)
    >>> with using_threads(1):
    ...     torch.get_num_threads()
    1
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch

from samplerlab.errors import InputError

__all__ = ["choose_threads", "cell_threads", "using_threads", "busy_cores", "SMALL_GEMM", "ENV"]

ENV = "SAMPLERLAB_THREADS"
SMALL_GEMM = 1 << 24  # n · d · K multiply-adds of one denoiser call up to which one thread is used
_DEFAULT = torch.get_num_threads()  # torch's own choice (one per core, or OMP_NUM_THREADS), read at import


def _from_env() -> int | None:
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{ENV}: expected a positive integer, got {text!r}")
    return int(text)


def busy_cores() -> int:
    """Cores other processes keep busy: the 1-minute load average, or the processes runnable right
    now (Linux ``/proc/loadavg``, less this one) where that is more."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    try:
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0]) - 1
    except (OSError, IndexError, ValueError):
        runnable = 0
    return int(round(max(load, runnable)))


def choose_threads(given: int | None = None, work: int | None = None, device=None) -> int:
    """The intra-op thread count for an audit whose denoiser GEMM has ``work`` multiply-adds (see the module doc)."""
    chosen = given or _from_env()
    if chosen:
        return chosen
    if device is not None and torch.device(device).type != "cpu":
        return _DEFAULT
    if work is not None and work <= SMALL_GEMM:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(_DEFAULT, cores - busy_cores()))


def cell_threads() -> int:
    """Threads of one sweep cell: ``SAMPLERLAB_THREADS``, else one (the workers share the cores)."""
    return _from_env() or 1


@contextmanager
def using_threads(count: int) -> Iterator[None]:
    """Run the block on ``count`` intra-op threads, restoring torch's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
