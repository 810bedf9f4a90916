"""The Dask client every study runs on: a local cluster of single-threaded worker processes.

Studies are thousands of independent audits (:mod:`samplerlab.studies.sweep`). They run as Dask tasks
(``dask.distributed``): by default on a local cluster with one worker process per core, each
pinned to one torch thread (the machine is shared, and one thread per process is faster than
oversubscribed cores); ``scheduler="tcp://host:port"`` sends the same tasks to an existing
cluster.

**Ctrl-C.** The local workers start with SIGINT ignored, so a Ctrl-C sent to the terminal's process
group reaches only the client, which stores what came back, cancels the rest and closes the
cluster within seconds (running tasks are not waited for: the workers are killed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

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
        with dask.config.set(LOCAL_WORKER_CONFIG), _workers_ignore_ctrl_c():
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
    client = Client(scheduler or cluster)
    stopping = False
    try:
        yield client
    except KeyboardInterrupt:
        stopping = True
        raise
    finally:
        if stopping:
            _close_now(client, cluster)
        else:
            client.close()
            if cluster is not None:
                cluster.close()


_CLOSE_S = 5.0  # seconds the client and then the local cluster get to close after Ctrl-C


def _close_now(client, cluster) -> None:
    """Close after Ctrl-C without waiting for running tasks (a busy worker holds a graceful close
    for 4 s and more): the local workers are killed first, their nannies told not to restart them
    (nothing of theirs is needed: results reach the client as each cell finishes). Dask's own
    loggers are quiet meanwhile: connections it finds closed are the point, not tracebacks to print."""
    with _quiet_dask_logs():
        with contextlib.suppress(TimeoutError):
            client.close(timeout=_CLOSE_S)
        if cluster is None:
            return
        for nanny in cluster.workers.values():
            nanny.close_gracefully(reason="samplerlab: Ctrl-C")  # a nanny that sees its worker die now closes
            if nanny.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(nanny.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            cluster.close(timeout=_CLOSE_S)


@contextlib.contextmanager
def _quiet_dask_logs():
    """Within the block, this process's ``distributed`` and ``tornado`` loggers drop everything."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """SIGINT ignored while the local worker processes start (they inherit it across exec; Python
    and asyncio then install no handler of their own); this process's handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
