"""``samplerlab sweep SPEC.toml``: many audits on Dask, written to a resumable Parquet store.

A spec is the product of samplers × scenarios × seeds × parameter grids × audit options; each
cell is one audit::

    [sweep]
    samplers = ["dps", "pigdm"]          # zoo names or module:attr / file.py:attr
    scenarios = ["bimodal_1d", "outlier_2d"]
    seeds = [0, 1, 2]
    n = 500                              # optional (default: each scenario's n)
    steps = [50, 200]                    # optional, one value or a list (default: the scenario's)
    checks = ["spread", "mode_weights"]  # optional (default: all)
    alpha = 1e-3
    floor = true                         # also run the discretisation floor

    [params.dps]                         # optional grids, per sampler
    zeta = [0.3, 1.0]

**Store.** ``OUT/parts/<key>.parquet`` holds one row per check of the cell keyed ``key`` — a hash of
the cell's spec and the samplerlab version — with its statistic, effect, p-value, Holm p,
verdict, floor attribution and costs, and the cell's spec; ``OUT/reports/<key>.json`` is the full
report. Each part is written to a temporary file and renamed, from the client process only, so an
interrupted sweep (Ctrl-C) leaves only whole parts and nothing but ``OUT`` needs to be shared.
``pandas.read_parquet(OUT / "parts")`` reads the whole store.

**Execution.** A local Dask cluster of single-threaded worker processes by default (one per
core), ``scheduler="tcp://host:port"`` (or ``DASK_SCHEDULER_ADDRESS``) for an existing cluster,
``workers=1`` in this process. A rerun skips the cells whose part holds a finished audit. A cell
that raises, times out (``timeout`` seconds, measured by the client; its late result is
discarded) or dies with its worker is recorded as an error row and resubmitted once; the sweep
goes on. Progress (done / failed / remaining, ETA) goes to stderr unless ``CI`` is set.

Example:
    >>> spec = parse_spec({"sweep": {"samplers": ["dps"], "scenarios": ["bimodal_1d"], "seeds": [0, 1],
    ...                              "n": 100}, "params": {"dps": {"zeta": [0.5, 1.0]}}}, "demo.toml")
    >>> [(c["params"]["zeta"], c["seed"]) for c in cells(spec)]
    [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from samplerlab.errors import SweepSpecError

__all__ = ["SweepSpec", "SweepSpecError", "load_spec", "parse_spec", "cells", "cell_key", "run_cell", "sweep",
           "read_store", "store_table"]


@dataclass(frozen=True)
class SweepSpec:
    samplers: tuple[str, ...]
    scenarios: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    n: int | None = None
    steps: tuple[int | None, ...] = (None,)
    checks: tuple[str, ...] | None = None
    alpha: float = 1e-3
    floor: bool = False
    params: dict = field(default_factory=dict)  # sampler -> {param: [values]}


def _fail(file: str, key: str, expected: str, got) -> None:
    raise SweepSpecError(f"{file}: [sweep] {key}: expected {expected}, got {got!r}")


def _strings(file, key, value, required=True) -> tuple[str, ...]:
    if value is None and not required:
        return None
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        _fail(file, key, "a non-empty list of strings", value)
    return tuple(value)


def _ints(file, key, value, low: int) -> tuple[int, ...]:
    value = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v >= low
                                                       for v in value)):
        _fail(file, key, f"an integer >= {low} or a non-empty list of them", value)
    return tuple(value)


def parse_spec(data: dict, file: str = "spec") -> SweepSpec:
    """Validate a parsed TOML spec (unknown keys are errors)."""
    unknown = sorted(set(data) - {"sweep", "params"})
    if unknown:
        raise SweepSpecError(f"{file}: unknown table(s) {unknown}, expected [sweep] and [params.<sampler>]")
    top = data.get("sweep")
    if not isinstance(top, dict):
        raise SweepSpecError(f"{file}: missing [sweep] table")
    allowed = {"samplers", "scenarios", "seeds", "n", "steps", "checks", "alpha", "floor"}
    unknown = sorted(set(top) - allowed)
    if unknown:
        raise SweepSpecError(f"{file}: [sweep] unknown key(s) {unknown}, expected some of {sorted(allowed)}")
    for key in ("samplers", "scenarios"):
        if key not in top:
            raise SweepSpecError(f"{file}: [sweep] {key}: missing (a list of names)")
    alpha = top.get("alpha", 1e-3)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        _fail(file, "alpha", "a number in (0, 1)", alpha)
    floor = top.get("floor", False)
    if not isinstance(floor, bool):
        _fail(file, "floor", "true or false", floor)
    params = data.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise SweepSpecError(f"{file}: [params]: expected tables [params.<sampler>] of lists")
    samplers = _strings(file, "samplers", top["samplers"])
    for name, grid in params.items():
        if name not in samplers:
            raise SweepSpecError(f"{file}: [params.{name}]: {name!r} is not one of the sweep's samplers "
                                 f"{list(samplers)}")
        for key, values in grid.items():
            if not (isinstance(values, list) and values):
                raise SweepSpecError(f"{file}: [params.{name}] {key}: expected a non-empty list, got {values!r}")
    return SweepSpec(samplers=samplers, scenarios=_strings(file, "scenarios", top["scenarios"]),
                     seeds=_ints(file, "seeds", top.get("seeds", [0]), 0),
                     n=None if "n" not in top else _ints(file, "n", top["n"], 20)[0],
                     steps=(None,) if "steps" not in top else _ints(file, "steps", top["steps"], 1),
                     checks=_strings(file, "checks", top.get("checks"), required=False), alpha=float(alpha),
                     floor=floor, params={k: dict(v) for k, v in params.items()})


def load_spec(path) -> SweepSpec:
    """Read and validate a spec file (one-line :class:`SweepSpecError` on any problem)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SweepSpecError(f"{path}: no such sweep spec") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepSpecError(f"{path}: TOML syntax error: {exc}") from None
    return parse_spec(data, str(path))


def cells(spec: SweepSpec) -> list[dict]:
    """Every cell of the spec, in a fixed order."""
    out = []
    for sampler in spec.samplers:
        grid = spec.params.get(sampler, {})
        names = sorted(grid)
        for values in itertools.product(*(grid[k] for k in names)):
            for scenario, steps, seed in itertools.product(spec.scenarios, spec.steps, spec.seeds):
                out.append({"sampler": sampler, "params": dict(zip(names, values)), "scenario": scenario,
                            "seed": seed, "n": spec.n, "steps": steps,
                            "checks": None if spec.checks is None else list(spec.checks), "alpha": spec.alpha,
                            "floor": spec.floor})
    return out


def cell_key(cell: dict) -> str:
    """Hash of the cell's spec and the samplerlab version."""
    import samplerlab

    text = json.dumps({"cell": cell, "version": samplerlab.__version__}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def run_cell(cell: dict) -> dict:
    """One audit (runs on a worker): ``{"report": dict}`` or ``{"error": message}``, with its seconds."""
    import torch

    from samplerlab.pipeline import run

    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        report = run(cell["sampler"], cell["scenario"], params=cell["params"], n=cell["n"], steps=cell["steps"],
                     seed=cell["seed"], alpha=cell["alpha"], checks=cell["checks"], floor=cell["floor"])
        return {"report": report.to_dict(), "seconds": time.perf_counter() - start}
    except Exception as exc:  # recorded as an error row; the sweep goes on
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}", "seconds": time.perf_counter() - start}


# -- the store --------------------------------------------------------------------------------

def _rows(key: str, cell: dict, result: dict, attempt: int) -> list[dict]:
    spec = {"key": key, "sampler": cell["sampler"], "params": json.dumps(cell["params"], sort_keys=True),
            "scenario": cell["scenario"], "seed": cell["seed"], "alpha": cell["alpha"], "floor": cell["floor"],
            "attempt": attempt, "seconds": result.get("seconds")}
    if "error" in result:
        return [{**spec, "status": "error", "error": result["error"], "n": cell["n"], "steps": cell["steps"]}]
    report = result["report"]
    meta = report["meta"]
    out = []
    for c in report["checks"]:
        out.append({**spec, "status": "done", "error": "", "n": meta.get("n"), "steps": meta.get("steps"),
                    "check": c["check"], "failure_mode": c["failure_mode"], "role": c["role"],
                    "applicable": c["applicable"], "statistic": c["statistic"], "effect": c["effect"],
                    "p_value": c["p_value"], "p_holm": c["p_holm"], "passed": c["passed"],
                    "floor_passed": c.get("floor_passed"), "floor_effect": c.get("floor_effect"),
                    "cost_s": c["cost_s"], "sampler_s": meta.get("sampler_s")})
    return out


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _store(out: Path, key: str, cell: dict, result: dict, attempt: int) -> None:
    (out / "parts").mkdir(parents=True, exist_ok=True)
    if "report" in result:
        (out / "reports").mkdir(parents=True, exist_ok=True)
        _atomic_write(out / "reports" / f"{key}.json", lambda p: p.write_text(json.dumps(result["report"])))
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(_rows(key, cell, result, attempt))
    _atomic_write(out / "parts" / f"{key}.parquet", lambda p: pq.write_table(table, p))


def _finished(out: Path) -> set[str]:
    """Keys whose part holds a finished audit (error parts are run again)."""
    import pandas as pd

    done = set()
    for path in (out / "parts").glob("*.parquet") if (out / "parts").is_dir() else []:
        try:
            status = pd.read_parquet(path, columns=["status"])["status"]
        except Exception:  # an unreadable part is not finished
            continue
        if len(status) and (status == "done").all():
            done.add(path.stem)
    return done


def read_store(out) -> "object":
    """The whole store as one pandas frame (one row per check, one per failed cell)."""
    import pandas as pd

    parts = sorted((Path(out) / "parts").glob("*.parquet"))
    if not parts:
        raise FileNotFoundError(f"{out}: no sweep store (no parts/*.parquet)")
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def store_table(frame) -> str:
    """The summary table of a store: one row per cell, a verdict per failure mode (rendering only)."""
    from samplerlab.diagnostics.result import FAILURE_MODES
    from samplerlab.tables import format_table

    rows = []
    frame = frame.sort_values(["scenario", "sampler", "params", "seed"], kind="stable")
    for key, g in frame.groupby("key", sort=False):
        first = g.iloc[0]
        base = [first["scenario"], first["sampler"], first["params"], str(first["seed"])]
        if first["status"] != "done":
            rows.append(base + ["ERROR"] + [""] * len(FAILURE_MODES) + [first["error"][:60]])
            continue
        verdict = g[g["role"] == "verdict"]
        cells_ = []
        for mode in FAILURE_MODES:
            m = verdict[verdict["failure_mode"] == mode]
            failing = m[~m["passed"].astype(bool)]
            cells_.append("" if m.empty else "n/a" if not m["applicable"].any() else
                          ("floor" if len(failing) and (failing["floor_passed"] == False).all()  # noqa: E712
                           else "FAIL" if len(failing) else "pass"))
        rows.append(base + ["FAILED" if "FAIL" in cells_ or "floor" in cells_ else "PASSED"] + cells_ + [""])
    header = ["scenario", "sampler", "params", "seed", "verdict"] + [m[:10] for m in FAILURE_MODES] + ["error"]
    return format_table(header, rows)


# -- the runner -------------------------------------------------------------------------------

class _Progress:
    def __init__(self, total: int, skipped: int):
        self.total, self.skipped, self.done, self.failed = total, skipped, 0, 0
        self.start = time.perf_counter()
        self.on = not os.environ.get("CI") and sys.stderr.isatty()

    def update(self, ok: bool) -> None:
        self.done += ok
        self.failed += not ok
        if self.on:
            finished = self.done + self.failed
            left = self.total - finished
            elapsed = time.perf_counter() - self.start
            eta = elapsed / max(finished, 1) * left
            print(f"\rsweep: {self.done} done, {self.failed} failed, {left} remaining ({self.skipped} already in "
                  f"the store), ETA {eta:.0f} s   ", end="" if left else "\n", file=sys.stderr, flush=True)


def sweep(spec: SweepSpec, out, workers: int | None = None, scheduler: str | None = None,
          timeout: float | None = None, retries: int = 1):
    """Run every cell not already in ``out``; returns the store as a frame (see module doc)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = {cell_key(c): c for c in cells(spec)}
    finished = _finished(out)
    pending = {k: c for k, c in todo.items() if k not in finished}
    progress = _Progress(len(pending), len(todo) - len(pending))
    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if workers == 1 and scheduler is None:
        run_local(pending, out, retries, progress)
    else:
        _run_on_dask(pending, out, workers, scheduler, timeout, retries, progress)
    return read_store(out) if todo else None


def run_local(pending: dict, out: Path, retries: int, progress: _Progress) -> None:
    """Run ``pending`` cells one after another in this process (``--workers 1``)."""
    for key, cell in pending.items():
        for attempt in range(1, retries + 2):
            result = run_cell(cell)
            _store(out, key, cell, result, attempt)
            if "error" not in result:
                break
        progress.update("error" not in result)


def _run_on_dask(pending: dict, out: Path, workers, scheduler, timeout, retries: int, progress: _Progress,
                 client=None) -> None:
    if client is None:
        from samplerlab.studies import dask_client

        with dask_client(workers, scheduler) as fresh:
            return _run_on_dask(pending, out, workers, scheduler, timeout, retries, progress, fresh)
    from dask.distributed import wait

    live = {}  # future -> (key, attempt, submitted at)

    def submit(key: str, attempt: int) -> None:
        future = client.submit(run_cell, pending[key], pure=False, key=f"cell-{key}-{attempt}")
        live[future] = (key, attempt, time.perf_counter())

    for key in pending:
        submit(key, 1)
    while live:
        finished, _ = wait(list(live), timeout=1.0 if timeout else None, return_when="FIRST_COMPLETED")
        now = time.perf_counter()
        expired = [f for f in live if timeout and f not in finished and now - live[f][2] > timeout]
        for future in list(finished) + expired:
            key, attempt, started = live.pop(future)
            if future in expired:
                future.cancel()
                result = {"error": f"TimeoutError: no result after {timeout:g} s", "seconds": now - started}
            else:
                try:
                    result = future.result()
                except Exception as exc:  # the worker died (KilledWorker) or the task was lost
                    result = {"error": f"{type(exc).__name__}: {exc}", "seconds": now - started}
            _store(out, key, pending[key], result, attempt)
            if "error" in result and attempt <= retries:
                submit(key, attempt + 1)
            else:
                progress.update("error" not in result)
