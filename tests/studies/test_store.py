"""The sweep store heals: a damaged part is moved aside and its cells run again, one sweep holds a
store at a time, a ``kill -9`` loses only the cell in flight, and a killed compaction loses nothing."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

import samplerlab
from samplerlab.cli import main
from samplerlab.errors import InputError
from samplerlab.studies import sweep as sw
from samplerlab.studies import sweep_store
from samplerlab.studies.sweep_store import finished_keys, read_store

SPEC = {"samplers": ["dps"], "scenarios": ["bimodal_1d"], "seeds": [0, 1], "n": 60, "steps": 10,
        "checks": ["spread"]}
ROWS_PER_CELL = 4  # spread: location, spread_directions, spread_pit, spread_radius


def _spec(**over):
    return sw.parse_spec({"sweep": {**SPEC, **over}, "params": {"dps": {"zeta": [0.5, 1.0]}}}, "t.toml")


def _counted(monkeypatch) -> list:
    calls, real = [], sw.run_cell
    monkeypatch.setattr(sw, "run_cell", lambda cell, *a: calls.append(cell["seed"]) or real(cell, *a))
    return calls


def _assert_each_cell_once(out, cells: int) -> None:
    frame = read_store(out)
    assert frame["key"].nunique() == cells and (frame["status"] == "done").all()
    assert len(frame) == cells * ROWS_PER_CELL and not frame.duplicated(["key", "check"]).any()


def _truncate(part: Path) -> None:
    part.write_bytes(part.read_bytes()[:100])


def _drop_written(part: Path) -> None:
    pd.read_parquet(part).drop(columns=["written"]).to_parquet(part, index=False)


@pytest.mark.parametrize("damage, reason", [(_truncate, "ArrowInvalid"), (_drop_written, "missing column(s)")],
                         ids=["truncated", "missing-column"])
def test_a_damaged_part_is_quarantined_with_a_warning_its_cells_rerun_and_the_report_works(
        tmp_path, monkeypatch, capsys, damage, reason):
    out = tmp_path / "store"
    sw.sweep(_spec(), out, workers=1)
    (part,) = (out / "parts").glob("*.parquet")
    damage(part)
    capsys.readouterr()
    calls = _counted(monkeypatch)
    frame = sw.sweep(_spec(), out, workers=1)
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warned) == 1 and str(part) in warned[0] and reason in warned[0] and "_quarantine" in warned[0]
    assert (out / "parts" / "_quarantine" / part.name).is_file() and not part.exists()
    assert len(calls) == 4 and frame["key"].nunique() == 4
    _assert_each_cell_once(out, 4)
    assert len(pd.read_parquet(out / "parts")) == 4 * ROWS_PER_CELL  # the documented pandas read
    assert main(["sweep", "report", str(out)]) == 0


SLOW = """import time, torch
def sample(task, n, generator):
    time.sleep({sleep})
    with open({log!r}, "a") as f:
        f.write("cell\\n")
    return torch.randn(n, task.dim, generator=generator, dtype=task.dtype)
"""


def _slow_sweep(tmp_path, seeds: int, sleep: float):
    """A ``samplerlab sweep`` subprocess (``--workers 1``, its own session) of a sampler file that
    sleeps and logs each call; returns the process, a queue of its stderr lines, the spec and the log."""
    log, script, spec = tmp_path / "calls.log", tmp_path / "slow.py", tmp_path / "slow.toml"
    script.write_text(SLOW.format(sleep=sleep, log=str(log)))
    spec.write_text(f'[sweep]\nsamplers = ["{script}:sample"]\nscenarios = ["bimodal_1d"]\n'
                    f'seeds = {list(range(seeds))}\nn = 60\nsteps = 10\nchecks = ["spread"]\n')
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # progress on: a line per finished cell
    env["PYTHONPATH"] = os.pathsep.join([str(Path(samplerlab.__file__).parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from samplerlab.cli import main; sys.exit(main())",
                             "sweep", str(spec), "--out", str(tmp_path / "store"), "--workers", "1"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    return proc, lines, spec, log


def _wait_for_done(lines: queue.Queue, count: int) -> None:
    while True:
        line = lines.get(timeout=120)
        if line.startswith(f"sweep: {count} done"):
            return


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_second_sweep_on_a_store_in_use_fails_at_once_and_no_cell_runs_twice(tmp_path, monkeypatch, capsys):
    proc, lines, spec, log = _slow_sweep(tmp_path, seeds=4, sleep=1.0)
    try:
        _wait_for_done(lines, 1)
        calls = _counted(monkeypatch)
        message = f"store {tmp_path / 'store'} is in use by another sweep (pid {proc.pid})"
        with pytest.raises(InputError, match=re.escape(message)):
            sw.sweep(sw.load_spec(spec), tmp_path / "store", workers=1)
        assert main(["sweep", str(spec), "--out", str(tmp_path / "store"), "--workers", "1"]) == 2
        assert capsys.readouterr().err.strip() == f"samplerlab sweep: error: {message}" and calls == []
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    assert _calls(log) == 4
    _assert_each_cell_once(tmp_path / "store", 4)


def test_kill_9_loses_no_finished_cell_and_the_resumed_store_has_each_cell_once(tmp_path, monkeypatch):
    proc, lines, spec, log = _slow_sweep(tmp_path, seeds=6, sleep=1.0)
    try:
        _wait_for_done(lines, 2)  # printed after the cell's rows were stored
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    out = tmp_path / "store"
    before = read_store(out)
    kept = finished_keys(out)
    assert len(kept) >= 2 and set(before["key"]) == kept
    calls_before = _calls(log)
    sw.sweep(sw.load_spec(spec), out, workers=1)
    assert _calls(log) - calls_before == 6 - len(kept)  # the finished cells are not run again
    _assert_each_cell_once(out, 6)
    after = read_store(out).set_index(["key", "check"])["written"]
    assert after.loc[before.set_index(["key", "check"]).index].equals(before.set_index(["key", "check"])["written"])


class _Killed(BaseException):
    """The process dying at this point of the compaction."""


def _kill_at_merged_rename(real):
    def replace(src, dst):
        if Path(dst).name == "store.parquet":
            raise _Killed
        return real(src, dst)
    return replace


def _kill_at_second_removal(real):
    removed = []

    def unlink(self, missing_ok=False):
        if self.suffix == ".parquet" and removed:
            raise _Killed
        removed.append(self)
        return real(self, missing_ok=missing_ok)
    return unlink


@pytest.mark.parametrize("owner, name, kill", [(os, "replace", _kill_at_merged_rename),
                                               (Path, "unlink", _kill_at_second_removal)],
                         ids=["before-the-merged-part-is-renamed-in", "between-removals-of-merged-parts"])
def test_a_compaction_killed_at_any_step_loses_and_doubles_nothing(tmp_path, monkeypatch, owner, name, kill):
    out = tmp_path / "store"
    monkeypatch.setattr(sweep_store, "FLUSH_CELLS", 1)  # a part per cell, none merged before the compaction
    sw.sweep(_spec(seeds=[0]), out, workers=1)  # an earlier sweep's compacted part, and two cells to add
    monkeypatch.setattr(owner, name, kill(getattr(owner, name)))
    with pytest.raises(_Killed):
        sw.sweep(_spec(), out, workers=1)
    monkeypatch.undo()
    assert len(finished_keys(out)) == 4
    _assert_each_cell_once(out, 4)
    assert len(read_store(out, latest=True)) == 4 * ROWS_PER_CELL
    calls = []
    monkeypatch.setattr(sw, "run_cell", lambda *a: calls.append(a))
    assert sw.sweep(_spec(), out, workers=1)["key"].nunique() == 4 and calls == []
