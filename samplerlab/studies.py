"""The Dask client every study runs on: a local cluster of single-threaded worker processes.

Studies are thousands of independent audits (:mod:`samplerlab.sweep`). They run as Dask tasks
(``dask.distributed``): by default on a local cluster with one worker process per core, each
pinned to one torch thread (the machine is shared, and one thread per process is faster than
oversubscribed cores); ``scheduler="tcp://host:port"`` sends the same tasks to an existing
cluster.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["dask_client", "LOCAL_WORKER_CONFIG"]

LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                       "distributed.admin.system-monitor.gil.enabled": False}


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
