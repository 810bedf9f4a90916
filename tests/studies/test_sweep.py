"""``samplerlab sweep``: spec validation, the resumable Parquet store, Dask execution and faults."""

from __future__ import annotations

import pytest

from samplerlab.cli import main
from samplerlab.studies import sweep as sw
from samplerlab.studies.sweep_report import store_table

BASE = {"samplers": ["dps"], "scenarios": ["bimodal_1d"], "seeds": [0, 1], "n": 60, "steps": 10,
        "checks": ["spread", "mode_weights"]}


def _spec(**over):
    return sw.parse_spec({"sweep": {**BASE, **over}, "params": {"dps": {"zeta": [0.5, 1.0]}}}, "t.toml")


def _numbers(frame):
    cols = ["key", "check", "statistic", "effect", "p_value", "passed"]
    return frame[frame["status"] == "done"][cols].sort_values(["key", "check"]).reset_index(drop=True)


@pytest.mark.parametrize("data, message", [
    ({"sweep": {**BASE, "sampler": ["dps"]}}, "unknown key(s) ['sampler']"),
    ({"sweep": {k: v for k, v in BASE.items() if k != "scenarios"}}, "scenarios: missing"),
    ({"sweep": {**BASE, "seeds": [-1]}}, "seeds: expected integers >= 0"),
    ({"sweep": BASE, "params": {"tmpd": {"eta": [0.0]}}}, "'tmpd' is not one of the samplers"),
    ({"sweeps": {}}, "unknown table(s) ['sweeps']"),
], ids=["unknown-key", "missing", "bad-seed", "foreign-params", "unknown-table"])
def test_bad_specs_name_the_field(data, message):
    with pytest.raises(sw.SweepSpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        sw.parse_spec(data, "t.toml")


def test_cells_are_the_product_and_keys_are_stable():
    cells = sw.cells(_spec())
    assert len(cells) == 4 and len({sw.cell_key(c) for c in cells}) == 4
    assert sw.cell_key(cells[0]) == sw.cell_key(dict(cells[0]))


def test_a_resumed_sweep_runs_only_the_missing_cells(tmp_path, monkeypatch):
    calls = []
    real = sw.run_cell
    monkeypatch.setattr(sw, "run_cell", lambda cell, *a: calls.append(cell["seed"]) or real(cell, *a))
    sw.sweep(_spec(), tmp_path, workers=1)
    assert len(calls) == 4
    calls.clear()
    frame = sw.sweep(_spec(seeds=[0, 1, 2]), tmp_path, workers=1)
    assert calls == [2, 2] and frame["key"].nunique() == 6


def test_a_failing_cell_is_an_error_row_retried_once_and_the_sweep_goes_on(tmp_path):
    spec = sw.parse_spec({"sweep": {**BASE, "samplers": ["dps", "math:sqrt"], "seeds": [0]}}, "t.toml")
    frame = sw.sweep(spec, tmp_path, workers=1)
    errors = frame[frame["status"] == "error"]
    assert errors["attempt"].tolist() == [2] and "sqrt" in errors["error"].iloc[0]
    assert (frame[frame["sampler"] == "dps"]["status"] == "done").all()
    assert "ERROR" in store_table(frame)


def test_two_dask_workers_give_the_in_process_results_seed_for_seed(tmp_path):
    local = sw.sweep(_spec(), tmp_path / "local", workers=1)
    dask = sw.sweep(_spec(), tmp_path / "dask", workers=2)
    assert _numbers(local).equals(_numbers(dask))


def _worker_deaths_not_retried_by_dask():
    """Dask's own retry of a task whose worker died, off (distributed's defaults loaded first: a
    config key set before they are loaded is deleted, defaults and all, when the block ends)."""
    import dask
    import distributed  # noqa: F401

    return dask.config.set({"distributed.scheduler.allowed-failures": 0})


def _dies_once(tmp_path):
    marker = tmp_path / "killed-once"
    script = tmp_path / "dies_once.py"
    script.write_text(
        "import os, torch\n"
        f"MARKER = {str(marker)!r}\n"
        "def sample(task, n, generator):\n"
        "    if not os.path.exists(MARKER):\n"
        "        open(MARKER, 'w').close()\n"
        "        os._exit(1)  # the worker process dies mid-cell\n"
        "    return torch.randn(n, task.dim, generator=generator, dtype=task.dtype)\n")
    return script, marker


def test_a_killed_worker_is_recorded_and_its_cell_retried(tmp_path):
    script, marker = _dies_once(tmp_path)
    spec = sw.parse_spec({"sweep": {**BASE, "samplers": [f"{script}:sample"], "seeds": [0]}}, "t.toml")
    with _worker_deaths_not_retried_by_dask():
        frame = sw.sweep(spec, tmp_path / "store", workers=2)
    assert marker.exists()
    assert (frame["status"] == "done").all() and frame["attempt"].max() == 2


def test_cli_runs_a_spec_and_renders_the_store(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\nsamplers = ["dps"]\nscenarios = ["bimodal_1d"]\nn = 60\nsteps = 10\n'
                    'checks = ["spread"]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "st"), "--workers", "1"]) == 0
    assert main(["sweep", "report", str(tmp_path / "st")]) == 0
    out = capsys.readouterr().out
    assert out.count("bimodal_1d  dps") == 2
    assert main(["sweep", "report", str(tmp_path / "nothing")]) == 2
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2


def test_the_shipped_example_spec_is_valid():
    from pathlib import Path

    spec = sw.load_spec(Path(__file__).parents[2] / "sweeps" / "example.toml")
    assert len(sw.cells(spec)) == 18


def test_cell_costs_split_each_cells_time_and_add_up_to_its_wall_time(tmp_path):
    from samplerlab.studies.sweep_store import cell_costs

    sw.sweep(_spec(floor=True), tmp_path, workers=1)
    costs = cell_costs(tmp_path)
    assert len(costs) == 4 and (costs["status"] == "done").all()
    parts = costs["sampler_s"] + costs["diagnostics_s"] + costs["other_s"]
    assert ((parts - costs["seconds"]).abs() < 1e-9).all()
    assert (costs[["sampler_s", "diagnostics_s", "floor_s"]] > 0).all().all()
    assert costs["setup_s"].iloc[1:].ge(0).all() and costs["setup_s"].isna().iloc[0]


def test_a_timeout_in_process_is_refused_in_one_line_not_ignored(tmp_path, capsys):
    from samplerlab.errors import InputError

    with pytest.raises(InputError, match="cannot be stopped"):
        sw.sweep(_spec(), tmp_path, workers=1, timeout=5)
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\nsamplers = ["dps"]\nscenarios = ["bimodal_1d"]\nn = 50\nsteps = [5]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--timeout", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "timeout" in err[0] and not (tmp_path / "o" / "parts").exists()


def test_a_batch_streams_each_cell_so_a_worker_death_loses_only_the_unfinished_ones(tmp_path, monkeypatch):
    script, marker = _dies_once(tmp_path)
    spec = sw.parse_spec({"sweep": {**BASE, "samplers": ["dps", f"{script}:sample"], "seeds": [0]}}, "t.toml")
    monkeypatch.setattr(sw, "batches", lambda pending, workers: [list(pending)])  # both cells in one batch
    with _worker_deaths_not_retried_by_dask():
        frame = sw.sweep(spec, tmp_path / "store", workers=2)
    attempts = frame.drop_duplicates("key").set_index("sampler")["attempt"]
    assert marker.exists() and (frame["status"] == "done").all()
    assert attempts["dps"] == 1 and attempts[f"{script}:sample"] == 2  # dps was stored before the worker died


def test_a_cell_past_its_timeout_is_an_error_row_retried_once_and_the_rest_finish(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\ndef sample(task, n, generator):\n    time.sleep(60)\n")
    spec = sw.parse_spec({"sweep": {**BASE, "samplers": ["dps", f"{script}:sample"], "seeds": [0]}}, "t.toml")
    frame = sw.sweep(spec, tmp_path / "store", workers=2, timeout=12)
    slow = frame[frame["sampler"] == f"{script}:sample"]
    assert slow["status"].tolist() == ["error"] and slow["attempt"].tolist() == [2]
    assert "TimeoutError" in slow["error"].iloc[0]
    assert (frame[frame["sampler"] == "dps"]["status"] == "done").all()
