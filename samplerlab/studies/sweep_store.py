"""The sweep store: one Parquet row per check of every audit, written as results arrive.

Layout under the store folder ``OUT`` (nothing else needs to be shared with the workers):

* ``parts/*.parquet`` — rows of finished cells: each cell's rows are a part of their own, written
  (temporary file, fsync, rename) before the next cell is stored, so a killed sweep loses only the
  cells in flight; every ``FLUSH_CELLS`` cells and on exit a writer's one-cell parts are merged
  into one, and a finished sweep compacts all into ``store.parquet`` (the merged part renamed in
  before the old ones go: a kill in between leaves rows twice, which every reader counts once).
  ``pandas.read_parquet(OUT / "parts")`` reads it.
* ``parts/_quarantine/`` — parts that could not be read (truncated, not Parquet, a column
  missing), moved aside by whichever reader met them, with a warning; their cells run again.
* ``.lock`` — held (``flock``) by the sweep writing the store; a second sweep fails at once.
* ``reports/<key>.json`` — each cell's full report (unless the spec says ``reports = false``);
* ``samples/<key>.npz`` — each cell's draws (when ``samples = true``; in 2-D with the exact
  posterior density on a grid, for report cards).

A row holds the cell's spec (``key`` — the hash of the spec and of the content that decides its
result: samplerlab's code, the sampler's source, the scenario file —, ``cell_id`` — the spec's
hash alone —, those three hashes, sampler, params, scenario, seed, n, steps, alpha, floor, vary
and the varied ``value``), its
``status`` (``done``, ``error`` — retried once —, or ``invalid``: the cell's sampler or scenario
reference is wrong for it, recorded and not retried), and per check: failure mode, role,
statistic, effect, p-value, Holm p, verdict, floor verdict and effect, attribution, costs.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from samplerlab.errors import InputError

__all__ = ["Store", "store_lock", "cell_rows", "read_store", "finished_keys", "stored_stamps", "reuse_note",
           "cell_costs"]

FLUSH_CELLS = 200  # a writer's one-cell parts are merged into one every this many cells


def _value(cell: dict):
    vary = cell.get("vary", "")
    return cell["steps"] if vary == "steps" else cell["params"].get(vary) if vary else None


def cell_rows(key: str, cell: dict, result: dict, attempt: int) -> list[dict]:
    """The store's rows for one cell's result (``{"report": dict}`` or ``{"error": str}``)."""
    value = _value(cell)
    spec = {"key": key, "sampler": cell["sampler"], "params": json.dumps(cell["params"], sort_keys=True),
            "scenario": cell["scenario"], "seed": cell["seed"], "alpha": cell["alpha"], "floor": cell["floor"],
            "vary": cell.get("vary", ""), "value": None if value is None else float(value), "attempt": attempt,
            "written": time.time(), "seconds": result.get("seconds"), "cell_id": cell.get("id"),
            **{f"{k}_hash": v for k, v in (cell.get("stamp") or {}).items()}}
    if "error" in result:
        return [{**spec, "status": result.get("status", "error"), "error": result["error"], "n": cell["n"],
                 "steps": cell["steps"]}]
    from samplerlab.diagnostics.result import CheckResult

    report = result["report"]
    meta = report["meta"]
    floor_eta = (meta.get("floor") or {}).get("eta")
    attribution = [CheckResult.from_dict(c).attribution for c in report["checks"]]  # a property, not in the JSON
    return [{**spec, "status": "done", "error": "", "n": meta.get("n"), "steps": meta.get("steps"),
             "check": c["check"], "failure_mode": c["failure_mode"], "role": c["role"], "applicable": c["applicable"],
             "statistic": c["statistic"], "effect": c["effect"], "p_value": c["p_value"], "p_holm": c["p_holm"],
             "passed": c["passed"], "floor_passed": c.get("floor_passed"), "floor_effect": c.get("floor_effect"),
             "attribution": why, "floor_eta": floor_eta, "cost_s": c["cost_s"],
             "sampler_s": meta.get("sampler_s")} for c, why in zip(report["checks"], attribution)]


def _atomic_write(path: Path, write, sync: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    if sync:  # on disk before it has a name: a power cut leaves the part whole or absent
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, path)


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    _atomic_write(path, lambda p: pd.DataFrame(rows).to_parquet(p, index=False), sync=True)


def _new_part(out: Path) -> Path:
    return out / "parts" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"


@contextmanager
def store_lock(out):
    """Hold the store folder ``out`` for one sweep (``flock`` on ``out/.lock``, released when the
    process ends, ``kill -9`` included); a second sweep on it fails at once with an InputError."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise InputError(f"store {out} is in use by another sweep (pid {pid})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


class Store:
    """Append-only writer of a store folder (used by the client process only, under :func:`store_lock`).

    Each finished cell's rows are written as a part of their own before the next cell is stored,
    so a killed sweep loses only the cells in flight; every ``FLUSH_CELLS`` cells (and at
    :meth:`flush`) those small parts are merged into one.
    """

    def __init__(self, out, reports: bool = True, samples: bool = False):
        self.out = Path(out)
        self.keep_reports, self.keep_samples = reports, samples
        (self.out / "parts").mkdir(parents=True, exist_ok=True)
        self._rows: list[dict] = []
        self._parts: list[Path] = []  # this writer's one-cell parts since the last merge

    def add(self, key: str, cell: dict, result: dict, attempt: int) -> None:
        """Record one cell's result: its rows are on disk when this returns."""
        if "report" in result and self.keep_reports:
            (self.out / "reports").mkdir(exist_ok=True)
            _atomic_write(self.out / "reports" / f"{key}.json", lambda p: p.write_text(json.dumps(result["report"])))
        if result.get("samples") is not None and self.keep_samples:
            (self.out / "samples").mkdir(exist_ok=True)
            _atomic_write(self.out / "samples" / f"{key}.npz", lambda p: p.write_bytes(result["samples"]))
        rows = cell_rows(key, cell, result, attempt)
        self._parts.append(_new_part(self.out))
        _write_parquet(self._parts[-1], rows)
        self._rows += rows
        if len(self._parts) >= FLUSH_CELLS:
            self.flush()

    def flush(self) -> None:
        """Merge this writer's one-cell parts into one part (written before they are removed)."""
        if len(self._parts) > 1:
            _write_parquet(_new_part(self.out), self._rows)
            for part in self._parts:
                part.unlink(missing_ok=True)
        self._rows, self._parts = [], []

    def compact(self) -> None:
        """Merge every part into ``parts/store.parquet`` (later attempts of a cell replace its earlier
        error rows). The merged part is renamed in before the old ones are removed: a kill in
        between leaves rows twice, which readers count once."""
        self.flush()
        for stale in (self.out / "parts").glob(".*.tmp"):  # a killed writer's unfinished part
            stale.unlink(missing_ok=True)
        parts, frames = _read_parts(self.out)
        if len(parts) < 2:
            return
        _write_parquet(self.out / "parts" / "store.parquet", _latest(_deduplicated(frames)).to_dict("records"))
        for part in parts:
            if part.name != "store.parquet":
                part.unlink(missing_ok=True)


REQUIRED = ("key", "status", "written", "attempt")  # a part without these is damaged
ROW_ID = ("key", "attempt", "written", "check")  # tells one cell's rows apart (one row per check)


def _quarantine(path: Path, reason: str) -> None:
    """Move a damaged part aside to ``parts/_quarantine/`` (out of every reader's way, and of
    ``pandas.read_parquet(OUT / "parts")``), saying so in one line on stderr."""
    folder = path.parent / "_quarantine"
    folder.mkdir(exist_ok=True)
    dest = folder / path.name
    if dest.exists():
        dest = folder / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
    try:
        os.replace(path, dest)
    except FileNotFoundError:  # another reader moved it first
        return
    print(f"samplerlab: warning: store part {path} is damaged ({reason}); moved to {dest}, "
          f"its cells run again on the next sweep", file=sys.stderr, flush=True)


def _read_part(path: Path, columns: list[str] | None):
    """One part as a frame, or None (after quarantining it) when it is unreadable or lacks a column."""
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        missing = [c for c in REQUIRED if c not in file.schema_arrow.names]
        if not missing:
            present = None if columns is None else [c for c in columns if c in file.schema_arrow.names]
            return file.read(columns=present).to_pandas()
        reason = f"missing column(s) {missing}"
    except FileNotFoundError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid (truncated, not Parquet), OSError
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    _quarantine(path, reason)
    return None


def _read_parts(out, columns: list[str] | None = None) -> tuple[list[Path], list]:
    """Every readable part of the store ``out`` and its frame; damaged parts are quarantined. A part
    removed while it is read (a sweep compacting) means a merged part holds it: read again."""
    folder = Path(out) / "parts"
    for _ in range(10):
        paths, frames = [], []
        try:
            for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
                frame = _read_part(path, columns)
                if frame is not None:
                    paths.append(path)
                    frames.append(frame)
            return paths, frames
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{out}: parts keep vanishing while read (is the store being deleted?)")


def _deduplicated(frames: list):
    """The parts as one frame, each row once: a row written twice (a merge killed before it removed
    the parts it merged) has the same ``ROW_ID``."""
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates([c for c in ROW_ID if c in frame.columns], ignore_index=True)


def _latest(frame):
    """Each cell's rows from its last attempt only (the last written: a resumed sweep counts anew)."""
    last = frame.groupby("key")["written"].transform("max")
    return frame[frame["written"] == last].reset_index(drop=True)


def read_store(out, latest: bool = False):
    """The store as one pandas frame (one row per check, one per failed cell); with ``latest``
    only each cell's last attempt. Damaged parts are moved aside (:func:`_quarantine`)."""
    _, frames = _read_parts(out)
    if not frames:
        raise FileNotFoundError(f"{out}: no sweep store (no readable parts/*.parquet)")
    frame = _deduplicated(frames)
    return _latest(frame) if latest else frame


def finished_keys(out) -> set[str]:
    """Keys whose latest attempt finished (``done`` or ``invalid``); failed cells run again, and so
    do the cells of a damaged part (moved aside)."""
    _, frames = _read_parts(out, columns=list(REQUIRED))
    if not frames:
        return set()
    last = _deduplicated(frames).sort_values("written", kind="stable").groupby("key")["status"].last()
    return set(last[last.isin(["done", "invalid"])].index)


def stored_stamps(out) -> dict[str, dict]:
    """For each cell id (:func:`samplerlab.studies.sweep_spec.cell_id`) with a finished result in the store,
    the content hashes of its latest finished result (``{}`` for rows written before they were
    recorded): what a rerun compares to say why a cell is recomputed."""
    from samplerlab.studies.sweep_spec import STAMP_FIELDS

    columns = ["key", "status", "written", "attempt", "cell_id", *(f"{k}_hash" for k in STAMP_FIELDS)]
    _, frames = _read_parts(out, columns=columns)
    if not frames:
        return {}
    frame = _deduplicated(frames)
    if "cell_id" not in frame.columns:
        return {}
    done = frame[frame["status"].isin(["done", "invalid"]) & frame["cell_id"].notna()].sort_values("written")
    present = [k for k in STAMP_FIELDS if f"{k}_hash" in done.columns]
    return {row["cell_id"]: {k: row[f"{k}_hash"] for k in present} for row in done.to_dict("records")}


def reuse_note(todo: dict, finished: set, stored: dict) -> str:
    """One line saying how many cells of ``todo`` (key -> cell, each with its ``id`` and ``stamp``)
    are reused from the store and how many are recomputed, and why.

    >>> todo = {"k1": {"id": "a", "stamp": {"code": "c", "sampler": "s2", "scenario": "x"}},
    ...         "k2": {"id": "b", "stamp": {"code": "c", "sampler": "s", "scenario": "x"}},
    ...         "k3": {"id": "c", "stamp": {"code": "c", "sampler": "s", "scenario": "x"}}}
    >>> stored = {"a": {"code": "c", "sampler": "s", "scenario": "x"}, "b": {"code": "c", "sampler": "s",
    ...           "scenario": "x"}}
    >>> reuse_note(todo, {"k2"}, stored)
    '1 cell reused, 2 recomputed (1 sampler source changed, 1 new)'
    """
    from samplerlab.studies.sweep_spec import STAMP_FIELDS

    reasons: dict[str, int] = {}
    for key, cell in todo.items():
        if key in finished:
            continue
        old, new = stored.get(cell.get("id")), cell.get("stamp") or {}
        if old is None:
            why = "new"
        else:
            changed = [label for field, label in STAMP_FIELDS.items() if field in old and old[field] != new.get(field)]
            why = " and ".join(changed) + " changed" if changed else "not recorded before"
        reasons[why] = reasons.get(why, 0) + 1
    reused = sum(key in finished for key in todo)
    line = f"{reused} cell{'s' * (reused != 1)} reused, {len(todo) - reused} recomputed"
    return line + (f" ({', '.join(f'{n} {why}' for why, n in reasons.items())})" if reasons else "")


def cell_costs(out):
    """Where each finished cell's time went, one row per cell in the order they finished.

    ``seconds`` is the cell's wall time in its worker; from its report (when the store keeps
    reports): ``sampler_s`` (the main run), ``truth_s`` and ``diagnostics_s`` (the exact truth and
    every check, the sampler's stop-time re-runs excluded), ``floor_s`` (the floor's own run: paid
    by the first cell of its problem and discretisation, cached for the others) and the stop-time
    ``sweep`` path; ``other_s`` is what is left (the sampler's stop-time re-runs, the floor's
    audit where this cell ran it, report and draw files). ``setup_s`` is the
    time between the previous cell's end and this one's start in the same store (in one process:
    scenario builds, imports, device start-up), empty for the first cell.
    """
    import pandas as pd

    frame = read_store(out, latest=True)
    cells = (frame.groupby("key", sort=False)
             .agg(scenario=("scenario", "first"), sampler=("sampler", "first"), status=("status", "first"),
                  seconds=("seconds", "first"), written=("written", "first"))
             .sort_values("written").reset_index())
    meta = []
    for key in cells["key"]:
        path = Path(out) / "reports" / f"{key}.json"
        m = json.loads(path.read_text()).get("meta", {}) if path.is_file() else {}
        floor = m.get("floor") or {}
        meta.append({"sampler_s": m.get("sampler_s"), "truth_s": m.get("truth_s"),
                     "diagnostics_s": m.get("diagnostics_s"), "floor_s": floor.get("sampler_s"),
                     "sweep": m.get("sweep")})
    costs = pd.concat([cells, pd.DataFrame(meta, dtype=object)], axis=1)
    numeric = ["sampler_s", "truth_s", "diagnostics_s", "floor_s"]
    costs[numeric] = costs[numeric].apply(pd.to_numeric, errors="coerce")
    costs["other_s"] = costs["seconds"] - costs[["sampler_s", "diagnostics_s"]].sum(axis=1, min_count=2)
    costs["setup_s"] = (costs["written"].diff() - costs["seconds"]).clip(lower=0)
    return costs.drop(columns=["written"])
