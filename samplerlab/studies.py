"""Run a study's independent tasks on Dask: a local cluster of single-threaded worker processes.

The calibration and validation studies are thousands of independent audits. They run as Dask
tasks (``dask.distributed``): by default on a local cluster with one worker process per core,
each pinned to one torch thread (the machine is shared, and one thread per process is faster
than oversubscribed cores); ``scheduler="tcp://host:port"`` sends the same tasks to an existing
cluster, and ``workers=1`` runs them in this process, in order, for debugging and for CI.
Results come back as they finish; progress goes to stderr, one line per finished task, unless
the ``CI`` environment variable is set.

Example:
    >>> list(run_tasks(pow, [(2, 3), (3, 2)], workers=1, label="example"))
    [8, 9]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator

__all__ = ["run_tasks", "dask_client"]

LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                       "distributed.admin.system-monitor.gil.enabled": False}


def _single_threaded(fn: Callable, args: tuple) -> Any:
    import torch

    torch.set_num_threads(1)
    return fn(*args)


def _progress(label: str, done: int, total: int, start: float) -> None:
    if os.environ.get("CI") or not label:
        return
    elapsed = time.perf_counter() - start
    eta = elapsed / done * (total - done)
    print(f"{label}: {done}/{total} tasks, {elapsed:.0f} s elapsed, ETA {eta:.0f} s", file=sys.stderr, flush=True)


def run_tasks(fn: Callable, tasks: Iterable[tuple], workers: int | None = None, scheduler: str | None = None,
              label: str = "") -> Iterator[Any]:
    """Yield ``fn(*task)`` for every task, in order of completion (in task order when ``workers == 1``)."""
    tasks = list(tasks)
    start = time.perf_counter()
    if workers == 1 and scheduler is None:
        for i, task in enumerate(tasks):
            yield fn(*task)
            _progress(label, i + 1, len(tasks), start)
        return
    from dask.distributed import as_completed

    with dask_client(workers, scheduler) as client:
        futures = [client.submit(_single_threaded, fn, task, pure=False) for task in tasks]
        for i, future in enumerate(as_completed(futures)):
            yield future.result()
            _progress(label, i + 1, len(tasks), start)


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: on ``scheduler`` if given, else on a local cluster of single-threaded processes."""
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        # Audits are CPU-bound Python: the workers' sampling profiler (a stack sample every 10 ms)
        # and GIL monitor (every 1 ms) would take the GIL from them for nothing we read.
        with dask.config.set(LOCAL_WORKER_CONFIG):
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
    client = Client(scheduler or cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
