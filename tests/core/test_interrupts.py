"""Ctrl-C, as a terminal sends it (SIGINT to the command's process group, twice), stops ``score``,
``sweep`` and ``suite`` within seconds, in this process and on Dask: exit 130, one line and no
traceback; a sweep keeps every finished cell and the same command resumes from them.

Each command runs in a subprocess of its own session. Its sampler sleeps ``SAMPLER_SLEEP``
seconds per call (the environment reaches the Dask workers), so a Ctrl-C lands while cells run;
the resumed sweep runs in this process without the sleep. Under the pytest plugin a sampler's
``sys.exit()`` fails its test with a message naming the sampler; the session goes on.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from samplerlab.studies import sweep as sw
from samplerlab.studies.sweep_store import finished_keys

ROOT = Path(__file__).parents[2]
CELLS = 16

SAMPLER = '''
import os
import time
from pathlib import Path

import torch


def sample(task, n, generator):
    Path(os.environ["SAMPLER_STARTED"]).touch()
    time.sleep(float(os.environ.get("SAMPLER_SLEEP", "0")))
    return torch.randn(n, task.dim, generator=generator, dtype=task.dtype)
'''


@pytest.fixture
def sampler(tmp_path, monkeypatch):
    path = tmp_path / "sleepy.py"
    path.write_text(textwrap.dedent(SAMPLER))
    monkeypatch.setenv("SAMPLER_STARTED", str(tmp_path / "started"))
    return path


def _spec(tmp_path, sampler) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[sweep]\nsamplers = ["{sampler}:sample"]\nscenarios = ["bimodal_1d"]\n'
                    f'seeds = {{start = 0, count = {CELLS}}}\nn = 60\nsteps = 10\nchecks = ["spread"]\n'
                    'floor = false\nreports = false\n')
    return spec


def _ctrl_c(args: list[str], ready, sleep: float, limit: float = 60.0) -> tuple[int, str, float]:
    """Run ``samplerlab ARGS``; once ``ready()`` (at most ``limit`` s), Ctrl-C twice; ``(code, stderr, s to exit)``."""
    env = {**os.environ, "CI": "1", "SAMPLER_SLEEP": str(sleep), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "samplerlab.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + limit
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, f"the command ended before Ctrl-C: {proc.communicate()}"
        assert ready(), f"not ready within {limit} s"
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)  # the impatient second Ctrl-C
        _, err = proc.communicate(timeout=20)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _has_part(store: Path):
    return lambda: any((store / "parts").glob("*.parquet"))


def _interrupted(err: str, store: Path) -> int:
    assert "Traceback" not in err, err
    found = re.findall(rf"^interrupted: (\d+) of {CELLS} cells stored in {re.escape(str(store))}; the same command "
                       "resumes$", err, re.M)
    assert len(found) == 1, err
    return int(found[0])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_a_sweep_keeps_its_cells_and_the_same_spec_resumes(tmp_path, sampler, workers, monkeypatch):
    spec, store = _spec(tmp_path, sampler), tmp_path / "store"
    code, err, seconds = _ctrl_c(["sweep", str(spec), "--workers", workers, "--out", str(store)], _has_part(store),
                                 sleep=0.5)
    stored = _interrupted(err, store)
    assert code == 130 and seconds < 15, (code, seconds, err)
    assert 1 <= stored < CELLS and len(finished_keys(store)) == stored
    calls = []
    real = sw.run_cell
    monkeypatch.setattr(sw, "run_cell", lambda cell, *a: calls.append(cell["seed"]) or real(cell, *a))
    frame = sw.sweep(sw.load_spec(spec), store, workers=1)  # no sleep now: only the missing cells run
    assert len(calls) == CELLS - stored and (frame.drop_duplicates("key")["status"] == "done").sum() == CELLS


def test_ctrl_c_stops_the_suite_on_dask_in_one_line(tmp_path, sampler):
    out = tmp_path / "audit"
    samplers = [f"{sampler}:sample"]
    code, err, seconds = _ctrl_c(["suite", "--out", str(out), "--workers", "2", "--samplers", *samplers,
                                  "--scenarios", "bimodal_1d", "unequal_weights_2d", "--n", "60", "--steps", "10",
                                  "--checks", "spread", "--no-floor", "--no-cards"],
                                 lambda: Path(os.environ["SAMPLER_STARTED"]).exists(), sleep=60)
    assert code == 130 and seconds < 15, (code, seconds, err)
    assert "Traceback" not in err, err
    assert re.search(rf"^interrupted: 0 of 2 cells stored in {re.escape(str(out / 'store'))}; the same command "
                     "resumes$", err, re.M), err


def test_ctrl_c_stops_score_in_one_line(tmp_path, sampler):
    code, err, seconds = _ctrl_c(["score", f"{sampler}:sample", "--scenario", "bimodal_1d", "--n", "60"],
                                 lambda: Path(os.environ["SAMPLER_STARTED"]).exists(), sleep=60)
    assert (code, err.strip()) == (130, "interrupted") and seconds < 15, (code, seconds, err)


def test_a_sampler_calling_sys_exit_fails_its_test_under_the_plugin_and_the_session_goes_on(pytester):
    pytester.makepyfile(test_exits="""
        import sys


        def exits(task, n, generator):
            sys.exit(0)


        def test_exits(sampler_audit):
            sampler_audit(exits, "bimodal_1d", n=60, steps=10, checks=["spread"]).assert_ok()


        def test_after():
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["E * samplerlab.errors.SamplerError: sampler 'exits' raised SystemExit(0) on "
                                 "scenario 'bimodal_1d' instead of returning its samples"])
