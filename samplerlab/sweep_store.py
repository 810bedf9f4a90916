"""The sweep store: one Parquet row per check of every audit, written as results arrive.

Layout under the store folder ``OUT`` (nothing else needs to be shared with the workers):

* ``parts/*.parquet`` — rows of finished cells, flushed every few seconds or cells (and on exit,
  Ctrl-C included) to a temporary file then renamed, so the store only ever holds whole parts;
  ``pandas.read_parquet(OUT / "parts")`` reads it. A finished sweep compacts them into one part.
* ``reports/<key>.json`` — each cell's full report (unless the spec says ``reports = false``);
* ``samples/<key>.npz`` — each cell's draws (when ``samples = true``; in 2-D with the exact
  posterior density on a grid, for report cards).

A row holds the cell's spec (``key`` — the hash of the spec and the samplerlab version —,
sampler, params, scenario, seed, n, steps, alpha, floor, vary and the varied ``value``), its
``status`` (``done``, ``error`` — retried once —, or ``invalid``: the cell's sampler or scenario
reference is wrong for it, recorded and not retried), and per check: failure mode, role,
statistic, effect, p-value, Holm p, verdict, floor verdict and effect, attribution, costs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

__all__ = ["Store", "cell_rows", "read_store", "finished_keys", "cell_costs"]

FLUSH_CELLS = 200  # rows are written at least every this many cells …
FLUSH_SECONDS = 10.0  # … or this many seconds


def _value(cell: dict):
    vary = cell.get("vary", "")
    return cell["steps"] if vary == "steps" else cell["params"].get(vary) if vary else None


def cell_rows(key: str, cell: dict, result: dict, attempt: int) -> list[dict]:
    """The store's rows for one cell's result (``{"report": dict}`` or ``{"error": str}``)."""
    value = _value(cell)
    spec = {"key": key, "sampler": cell["sampler"], "params": json.dumps(cell["params"], sort_keys=True),
            "scenario": cell["scenario"], "seed": cell["seed"], "alpha": cell["alpha"], "floor": cell["floor"],
            "vary": cell.get("vary", ""), "value": None if value is None else float(value), "attempt": attempt,
            "written": time.time(), "seconds": result.get("seconds")}
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


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    _atomic_write(path, lambda p: pd.DataFrame(rows).to_parquet(p, index=False))


class Store:
    """Append-only writer of a store folder (used by the client process only)."""

    def __init__(self, out, reports: bool = True, samples: bool = False):
        self.out = Path(out)
        self.keep_reports, self.keep_samples = reports, samples
        (self.out / "parts").mkdir(parents=True, exist_ok=True)
        self._rows: list[dict] = []
        self._cells = 0
        self._last = time.monotonic()

    def add(self, key: str, cell: dict, result: dict, attempt: int) -> None:
        """Record one cell's result; its rows reach disk at the next flush."""
        if "report" in result and self.keep_reports:
            (self.out / "reports").mkdir(exist_ok=True)
            _atomic_write(self.out / "reports" / f"{key}.json", lambda p: p.write_text(json.dumps(result["report"])))
        if result.get("samples") is not None and self.keep_samples:
            (self.out / "samples").mkdir(exist_ok=True)
            _atomic_write(self.out / "samples" / f"{key}.npz", lambda p: p.write_bytes(result["samples"]))
        self._rows += cell_rows(key, cell, result, attempt)
        self._cells += 1
        if self._cells >= FLUSH_CELLS or time.monotonic() - self._last > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one new part."""
        if self._rows:
            _write_parquet(self.out / "parts" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet",
                           self._rows)
        self._rows, self._cells, self._last = [], 0, time.monotonic()

    def compact(self) -> None:
        """Merge every part into one (later attempts of a cell replace its earlier error rows)."""
        self.flush()
        parts = sorted((self.out / "parts").glob("*.parquet"))
        if len(parts) < 2:
            return
        frame = _latest(read_store(self.out))
        _write_parquet(self.out / "parts" / "store.parquet.new", frame.to_dict("records"))
        for p in parts:
            p.unlink()
        os.replace(self.out / "parts" / "store.parquet.new", self.out / "parts" / "store.parquet")


def _latest(frame):
    """Each cell's rows from its last attempt only (the last written: a resumed sweep counts anew)."""
    last = frame.groupby("key")["written"].transform("max")
    return frame[frame["written"] == last].reset_index(drop=True)


def read_store(out, latest: bool = False):
    """The store as one pandas frame (one row per check, one per failed cell); with ``latest``
    only each cell's last attempt."""
    import pandas as pd

    parts = sorted((Path(out) / "parts").glob("*.parquet"))
    if not parts:
        raise FileNotFoundError(f"{out}: no sweep store (no parts/*.parquet)")
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return _latest(frame) if latest else frame


def finished_keys(out) -> set[str]:
    """Keys whose latest attempt finished (``done`` or ``invalid``); failed cells run again."""
    import pandas as pd

    parts = []
    for path in sorted((Path(out) / "parts").glob("*.parquet")) if (Path(out) / "parts").is_dir() else []:
        try:
            parts.append(pd.read_parquet(path, columns=["key", "status", "written"]))
        except Exception:  # an unreadable part finishes nothing
            continue
    if not parts:
        return set()
    last = pd.concat(parts).sort_values("written", kind="stable").groupby("key")["status"].last()
    return set(last[last.isin(["done", "invalid"])].index)


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
