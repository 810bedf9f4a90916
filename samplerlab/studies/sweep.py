"""``samplerlab sweep run SPEC.toml``: many audits on Dask, written to a resumable Parquet store.

Every study is a sweep: ``make audit`` (``sweeps/audit.toml``), ``make validation``,
``make calibration``, ``make sensitivity`` and the image suite are specs (:mod:`samplerlab.studies.sweep_spec`)
run by :func:`sweep`, and their tables and figures are rendered from the store by
``samplerlab sweep report STORE`` (:mod:`samplerlab.studies.sweep_report`). Each cell is one call of
:func:`samplerlab.auditing.pipeline.run` on a worker; results come back to the client, which alone writes
the store (:mod:`samplerlab.studies.sweep_store`), so nothing but the output folder needs to be shared.

**Execution.** A local Dask cluster of single-threaded worker processes by default (one per
core), ``scheduler="tcp://host:port"`` (or ``DASK_SCHEDULER_ADDRESS``) for an existing cluster,
``workers=1`` in this process. Cells that share an exact truth (same scenario, ``n`` and seed) are
sent to one worker together, in batches of about a quarter of each worker's share
(:func:`batches`), and a worker loads each scenario once and keeps its exact truths and
discretisation floors (:func:`samplerlab.auditing.pipeline.as_scenario`): a validation study computes each
truth once for its eight faults, a calibration study once for its hundred streams. Each cell's
result streams back through a Dask queue the moment it finishes, so the store and the progress line
move cell by cell and a batch that dies loses only its unfinished cells. A rerun skips the cells
whose latest attempt finished. A cell that raises, times out (``timeout`` seconds per cell of its
batch, measured by the client; a late result is discarded) or dies with its worker is recorded as
an error row and resubmitted once; a cell whose references are wrong for it
(a fault its problem cannot host) is recorded as ``invalid`` and not retried; the sweep goes on.
Ctrl-C writes what has finished before it stops. Progress (done / failed / remaining, ETA) goes to
stderr unless ``CI`` is set.

Example:
    >>> from samplerlab.studies.sweep_spec import parse_spec
    >>> spec = parse_spec({"sweep": {"samplers": ["oracle"], "scenarios": ["bimodal_1d"], "n": 100,
    ...                              "steps": 10, "checks": ["spread"], "reports": False}})
    >>> import tempfile; frame = sweep(spec, tempfile.mkdtemp(), workers=1)
    >>> sorted(set(frame["check"])), set(frame["status"])
    (['location', 'spread_directions', 'spread_pit', 'spread_radius'], {'done'})
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from samplerlab.errors import InputError, SweepSpecError
from samplerlab.studies.sweep_spec import SweepSpec, cell_id, cell_key, cell_stamp, cells, load_spec, parse_spec
from samplerlab.studies.sweep_store import Store, finished_keys, read_store, reuse_note, store_lock, stored_stamps

__all__ = ["sweep", "run_cell", "run_cells", "batches", "load_spec", "parse_spec", "cells", "cell_key", "read_store",
           "SweepSpecError"]


def _npz_bytes(samples, scenario) -> bytes:
    from samplerlab.auditing.samples_file import save_samples

    buffer = io.BytesIO()
    save_samples(buffer, samples, scenario)
    return buffer.getvalue()


def run_cell(cell: dict, keep_samples: bool = False, device=None) -> dict:
    """One audit (runs on a worker): ``{"report": dict}`` (and the draws as ``.npz`` bytes when
    ``keep_samples``) or ``{"error": message}`` (``status`` ``invalid`` for bad references), with its seconds."""
    import torch

    from samplerlab.auditing.pipeline import as_scenario, run
    from samplerlab.core.threads import cell_threads
    from samplerlab.errors import InputError

    torch.set_num_threads(cell_threads())
    start = time.perf_counter()
    try:
        options = dict(params=cell["params"], n=cell["n"], steps=cell["steps"], seed=cell["seed"], alpha=cell["alpha"],
                       checks=cell["checks"], floor=cell["floor"], control=cell.get("control", False), device=device)
        if cell.get("observations"):  # over observations y ~ p(y): one report of the across-observation audit
            from samplerlab.auditing.observations import audit_observations

            report = audit_observations(cell["sampler"], cell["scenario"], cell["observations"], **options).as_report()
        else:
            report = run(cell["sampler"], cell["scenario"], **options)
        out = {"report": report.to_dict(), "seconds": time.perf_counter() - start}
        if keep_samples and report.samples is not None:
            out["samples"] = _npz_bytes(report.samples, as_scenario(cell["scenario"], device))
        return out
    except InputError as exc:  # the cell cannot run as specified: recorded once, not retried
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}", "status": "invalid",
                "seconds": time.perf_counter() - start}
    except Exception as exc:  # recorded as an error row; the sweep goes on
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}", "seconds": time.perf_counter() - start}


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep: ``stored`` of its ``total`` cells are in the store ``out``."""

    def __init__(self, stored: int, total: int, out):
        super().__init__(f"interrupted: {stored} of {total} cells stored in {out}; the same command resumes")
        self.stored, self.total, self.out = stored, total, out


_LINE_PER_CELL = 200  # sweeps up to this size log a line per finished cell


class _Progress:
    def __init__(self, total: int, skipped: int, label: str = "sweep"):
        self.total, self.skipped, self.done, self.failed, self.label = total, skipped, 0, 0, label
        self.start = time.perf_counter()
        self.on = not os.environ.get("CI")
        self.tty = sys.stderr.isatty()
        self.shown = 0.0

    def update(self, ok: bool) -> None:
        self.done += ok
        self.failed += not ok
        finished = self.done + self.failed
        left = self.total - finished
        now = time.perf_counter()
        if not self.on or (not self.tty and left and self.total > _LINE_PER_CELL and now - self.shown < 10):
            return  # a log: a line per cell for small sweeps (make audit), else every 10 s
        self.shown = now
        eta = (now - self.start) / max(finished, 1) * left
        line = (f"{self.label}: {self.done} done, {self.failed} failed, {left} remaining "
                f"({self.skipped} already in the store), ETA {eta:.0f} s")
        print(f"\r{line}   " if self.tty else line, end="" if self.tty and left else "\n", file=sys.stderr,
              flush=True)


def sweep(spec: SweepSpec, out, workers: int | None = None, scheduler: str | None = None,
          timeout: float | None = None, retries: int = 1, device=None, label: str = "sweep"):
    """Run every cell of ``spec`` not already finished in ``out``; returns the store's latest rows."""
    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if timeout is not None and workers == 1 and scheduler is None:
        raise InputError(f"timeout: a cell running in this process (workers = 1) cannot be stopped after "
                         f"{timeout:g} s; give workers >= 2 (or a scheduler) to use a timeout")
    out = Path(out)
    memo: dict = {}  # each sampler's and scenario's content hash, read once
    todo = {cell_key(c, memo): {**c, "id": cell_id(c), "stamp": cell_stamp(c, memo)} for c in cells(spec)}
    with store_lock(out):  # one sweep per store at a time: a second one fails at once
        finished = finished_keys(out)
        pending = {k: c for k, c in todo.items() if k not in finished}
        print(f"{label}: {reuse_note(todo, finished, stored_stamps(out))}", file=sys.stderr, flush=True)
        progress = _Progress(len(pending), len(todo) - len(pending), label)
        store = Store(out, reports=spec.reports, samples=spec.samples)
        (out / "spec.json").write_text(json.dumps(asdict(spec), indent=1, default=list))  # what `sweep report` renders
        (out / "keys.json").write_text(json.dumps(list(todo)))  # the cells it renders (not stale ones)
        try:
            if workers == 1 and scheduler is None:
                run_local(pending, store, retries, progress, spec.samples, device)
            else:
                _run_on_dask(pending, store, workers, scheduler, timeout, retries, progress, spec.samples, device)
        except KeyboardInterrupt:  # Ctrl-C: each finished cell is already a part of the store
            raise SweepInterrupted(len(finished_keys(out) & todo.keys()), len(todo), out) from None
        finally:  # Ctrl-C included: what finished reaches the store
            store.flush()
        if pending:
            store.compact()
        frame = read_store(out, latest=True)
    order = {key: i for i, key in enumerate(todo)}  # the spec's cell order, whatever finished first
    frame = frame[frame["key"].isin(order)]
    return frame.iloc[frame["key"].map(order).argsort(kind="stable")].reset_index(drop=True)


def run_cells(batch: list[dict], keep_samples: bool = False, device=None, queue: str | None = None,
              tags: list | None = None):
    """Several cells in order, on one worker (they share its scenario, truth and floors). With a
    Dask ``queue`` name, each result goes onto that queue as ``(tag, result)`` the moment its
    cell finishes (the client stores it then) and the batch returns only how many it ran."""
    if queue is None:
        return [run_cell(cell, keep_samples, device) for cell in batch]
    from distributed import Queue

    stream = Queue(queue)
    for cell, tag in zip(batch, tags):
        stream.put((tag, run_cell(cell, keep_samples, device)))
    return len(batch)


def _truth_of(cell: dict) -> tuple:
    """What a cell's exact truth depends on: its scenario, ``n`` and seed."""
    return str(cell["scenario"]), str(cell["n"]), int(cell["seed"])


def _grouped(pending: dict) -> dict:
    """``pending`` reordered so that cells sharing a truth are adjacent (first appearance order)."""
    first: dict = {}
    for i, cell in enumerate(pending.values()):
        first.setdefault(_truth_of(cell), i)
    return dict(sorted(pending.items(), key=lambda item: first[_truth_of(item[1])]))


def batches(pending: dict, workers: int) -> list[list[str]]:
    """Keys in batches of cells sharing a truth, each at most ``ceil(cells / (4 workers))`` long: a
    worker computes a truth once for its batch, and there are still about four batches per worker."""
    size = max(1, -(-len(pending) // (4 * max(workers, 1))))
    out, current, last = [], [], None
    for key, cell in _grouped(pending).items():
        truth = _truth_of(cell)
        if current and (truth != last or len(current) >= size):
            out.append(current)
            current = []
        current.append(key)
        last = truth
    return out + ([current] if current else [])


def run_local(pending: dict, store: Store, retries: int, progress: _Progress, keep_samples: bool = False,
              device=None) -> None:
    """Run ``pending`` cells one after another in this process (``--workers 1``), cells sharing a
    truth one after another."""
    for key, cell in _grouped(pending).items():
        for attempt in range(1, retries + 2):
            result = run_cell(cell, keep_samples, device)
            store.add(key, cell, result, attempt)
            if "error" not in result or result.get("status") == "invalid":
                break
        progress.update("error" not in result or result.get("status") == "invalid")


def _run_on_dask(pending: dict, store: Store, workers, scheduler, timeout, retries: int, progress: _Progress,
                 keep_samples: bool = False, device=None, client=None) -> None:
    if client is None:
        from samplerlab.studies.cluster import dask_client

        with dask_client(workers, scheduler) as fresh:
            return _run_on_dask(pending, store, workers, scheduler, timeout, retries, progress, keep_samples,
                                device, fresh)
    import uuid

    from dask.distributed import Queue, wait
    from dask.distributed import TimeoutError as DaskTimeout

    # Each cell's result streams back through a queue as it finishes: the store and the progress
    # line move cell by cell, and a batch that dies or times out loses only its unfinished cells.
    stream = Queue(f"samplerlab-sweep-{uuid.uuid4().hex}", client=client)
    live = {}  # future -> (keys, attempt, submitted at)
    expected: dict[str, int] = {}  # key -> the attempt whose result is awaited
    count = workers or len(client.scheduler_info().get("workers", {})) or 1

    def submit(keys: list[str], attempt: int) -> None:
        for k in keys:
            expected[k] = attempt
        future = client.submit(run_cells, [pending[k] for k in keys], keep_samples, device, stream.name,
                               [(k, attempt) for k in keys], pure=False, key=f"cells-{keys[0]}-{len(keys)}-{attempt}")
        live[future] = (keys, attempt, time.perf_counter())

    def record(key: str, attempt: int, result: dict) -> None:
        if expected.get(key) != attempt:  # a late result of an attempt already written off
            return
        del expected[key]
        store.add(key, pending[key], result, attempt)
        if "error" in result and result.get("status") != "invalid" and attempt <= retries:
            submit([key], attempt + 1)  # a failed cell is retried alone
        else:
            progress.update("error" not in result or result.get("status") == "invalid")

    for keys in batches(pending, count):
        submit(keys, 1)
    try:
        while live:
            try:
                finished = set(wait(list(live), timeout=1.0, return_when="FIRST_COMPLETED").done)
            except DaskTimeout:  # nothing finished this second: stream what did, check the time limits
                finished = set()
            # a batch puts each result before it returns, so a finished batch's results are all here
            for (key, attempt), result in stream.get(batch=True):
                record(key, attempt, result)
            now = time.perf_counter()
            expired = [f for f in live
                       if timeout and f not in finished and now - live[f][2] > timeout * len(live[f][0])]
            for future in list(finished) + expired:
                keys, attempt, started = live.pop(future)
                if future in expired:
                    future.cancel()
                    error = f"TimeoutError: no result after {timeout:g} s per cell"
                else:
                    try:
                        future.result()
                        error = "LostResult: the batch returned without this cell's result"
                    except Exception as exc:  # the worker died (KilledWorker) or the task was lost
                        error = f"{type(exc).__name__}: {exc}"
                for key in keys:
                    if expected.get(key) == attempt:
                        record(key, attempt, {"error": error, "seconds": now - started})
    except KeyboardInterrupt:  # Ctrl-C: store what already came back, stop the rest (the cluster closes at once)
        for (key, attempt), result in stream.get(batch=True):
            if expected.get(key) == attempt:
                store.add(key, pending[key], result, attempt)
        client.cancel(list(live), force=True)
        raise
