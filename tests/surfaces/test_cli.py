"""The command line: listings, score exit codes (0 pass, 1 failure found, 2 bad input) with
one-line messages, JSON reports, compare, plot and a tiny suite."""

from __future__ import annotations

import os
import textwrap
import time

import pandas as pd
import pytest

from samplerlab.auditing.report import Report
from samplerlab.cli import main

# Tiny audits: the 1-D bimodal scenario, 200 samples, 20 steps, two cheap checks. Exact
# posterior draws pass except with probability <= alpha = 1e-3 (Holm family-wise rate); seeds
# are fixed, so every outcome below is deterministic.
FAST = ["--scenario", "bimodal_1d", "--n", "200", "--steps", "20", "--checks", "spread", "mode_weights"]

SAMPLERS = '''
import sys
import time

import torch
from samplerlab.scenarios import load_scenario

POSTERIOR = load_scenario("bimodal_1d").problem.posterior()
NOT_CALLABLE = 3


def exact(task, n, generator):
    return POSTERIOR.sample(n, generator=generator)


def wide(task, n, generator):
    return 3.0 * exact(task, n, generator)


def make_exact():
    return exact


def raises(task, n, generator):
    raise RuntimeError("boom")


def nan(task, n, generator):
    x = exact(task, n, generator)
    x[0, 0] = float("nan")
    return x


def wrong_shape(task, n, generator):
    return exact(task, n, generator)[:-1]


def wrong_dtype(task, n, generator):
    return exact(task, n, generator).float()


def exits(task, n, generator):
    sys.exit(0)


def make_exits():
    sys.exit(0)


def interrupts(task, n, generator):
    raise KeyboardInterrupt


def sleeps(task, n, generator):
    time.sleep(60)
    return exact(task, n, generator)
'''


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    path = tmp_path_factory.mktemp("samplers") / "my_samplers.py"
    path.write_text(textwrap.dedent(SAMPLERS))
    return str(path)


def score(*args):
    return main(["score", *args])


def test_list_shows_scenarios_and_samplers(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "grid_d80_m2" in out and "bimodal_1d" in out and "dps" in out and "oracle" in out


@pytest.mark.parametrize("what, present, absent", [("scenarios", "grid_d8_m1", "tmpd"),
                                                   ("samplers", "tmpd", "grid_d8_m1")])
def test_list_one_kind(capsys, what, present, absent):
    assert main(["list", what]) == 0
    out = capsys.readouterr().out
    assert present in out and absent not in out


def test_score_exits_0_when_every_check_passes(module, capsys):
    assert score(f"{module}:exact", *FAST) == 0
    out = capsys.readouterr().out
    assert "spread_radius" in out and "PASSED sampler 'exact' on 'bimodal_1d'" in out


def test_score_accepts_a_factory(module, capsys):
    assert score(f"{module}:make_exact", *FAST) == 0


def test_score_exits_1_naming_the_failure_mode(module, capsys):
    assert score(f"{module}:wide", *FAST) == 1
    out = capsys.readouterr().out
    assert "FAILED [" in out and "spread" in out and "FAIL" in out


def test_score_zoo_control_gets_the_problem(capsys):
    assert score("oracle", *FAST) == 0


def test_score_writes_json_on_request_only(module, tmp_path, capsys):
    path = tmp_path / "r.json"
    assert score(f"{module}:exact", *FAST, "--json", str(path), "--seed", "3", "--alpha", "0.01") == 0
    report = Report.from_json(path)
    assert (report.meta["seed"], report.meta["alpha"], report.meta["n"]) == (3, 0.01, 200)
    assert not list(tmp_path.glob("*.json"))[1:]


BAD_INPUT = {
    "unknown zoo name": ("no_such_sampler", "unknown sampler"),
    "missing module": ("no_such_module_xyz:f", "module 'no_such_module_xyz' not found"),
    "missing file": ("missing_file.py:f", "no such file"),
    "missing attribute": ("{module}:absent", "has no attribute 'absent'"),
    "not callable": ("{module}:NOT_CALLABLE", "not callable"),
    "sampler raises": ("{module}:raises", "raised RuntimeError"),
    "non-finite output": ("{module}:nan", "non-finite"),
    "wrong shape": ("{module}:wrong_shape", "shape (199, 1), expected (200, 1)"),
    "wrong dtype": ("{module}:wrong_dtype", "dtype torch.float32, expected torch.float64"),
    "sampler calls sys.exit(0)": ("{module}:exits", "sampler 'exits' raised SystemExit(0) on scenario 'bimodal_1d'"),
    "factory calls sys.exit(0)": ("{module}:make_exits", "SystemExit(0) during the audit"),
    "sampler raises KeyboardInterrupt": ("{module}:interrupts", "sampler 'interrupts' raised KeyboardInterrupt"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_sampler_exits_2_with_one_line_and_no_traceback(module, capsys, case):
    ref, fragment = BAD_INPUT[case]
    assert score(ref.format(module=module), *FAST) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert err.startswith("samplerlab score: error: ")


def test_invalid_scenario_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\nsigma_y = 1.0\n[prior]\nkind = "grid25"\ndim = 3\n'
                   '[operator]\nkind = "identity"\n')
    assert score("dps", "--scenario", str(bad)) == 2
    err = capsys.readouterr().err
    assert "bad.toml: prior.dim: expected an even dimension" in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [["--n", "5"], ["--alpha", "1.5"], ["--steps", "0"], ["--checks", "colour"]])
def test_invalid_option_exits_2(module, capsys, args):
    assert score(f"{module}:exact", "--scenario", "bimodal_1d", *args) == 2


def test_debug_shows_the_traceback(module):
    with pytest.raises(Exception, match="boom"):
        score(f"{module}:raises", *FAST, "--debug")


def test_progress_is_quiet_when_stderr_is_not_a_terminal(module, capsys):
    score(f"{module}:exact", *FAST)
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def two_reports(module, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    a, b = folder / "a.json", folder / "b.json"
    assert main(["score", f"{module}:exact", *FAST, "--json", str(a)]) == 0
    assert main(["score", f"{module}:wide", *FAST, "--json", str(b)]) == 1
    return a, b


def test_compare_prints_both_reports_side_by_side(two_reports, capsys):
    capsys.readouterr()
    assert main(["compare", *map(str, two_reports)]) == 0
    out = capsys.readouterr().out
    assert "A = exact@bimodal_1d" in out and "B = wide@bimodal_1d" in out
    assert "overall" in out and "PASSED" in out and "FAILED" in out


def test_compare_rejects_a_file_that_is_not_a_report(tmp_path, two_reports, capsys):
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    assert main(["compare", str(junk), str(two_reports[0])]) == 2
    assert "not a samplerlab JSON report" in capsys.readouterr().err


def test_plot_renders_figures_from_a_report(two_reports, tmp_path, capsys):
    capsys.readouterr()
    assert main(["plot", str(two_reports[1]), "-o", str(tmp_path / "fig")]) == 0
    written = capsys.readouterr().out.split()
    assert written and all(p.endswith(".png") for p in written)
    assert {p.name for p in (tmp_path / "fig").iterdir()} == {p.split("/")[-1] for p in written}


def test_suite_writes_summary_and_one_report_per_run(tmp_path, capsys):
    code = main(["suite", "--out", str(tmp_path), "--scenarios", "bimodal_1d", "--samplers", "oracle", "prior",
                 "--n", "100", "--steps", "10", "--checks", "mode_weights"])
    assert code == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["sampler"]) == ["oracle", "prior"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["bimodal_1d__oracle.json",
                                                                     "bimodal_1d__prior.json"]
    assert "bimodal_1d" in capsys.readouterr().out


def test_saved_samples_of_a_2d_scenario_give_the_contour_figure(tmp_path, capsys):
    report, samples = tmp_path / "o.json", tmp_path / "o.npz"
    code = main(["score", "oracle", "--scenario", "unequal_weights_2d", "--n", "200", "--steps", "20",
                 "--checks", "mode_weights", "--json", str(report), "--save-samples", str(samples)])
    assert code == 0
    assert main(["plot", str(report), "-o", str(tmp_path / "fig")]) == 0  # o.npz found next to o.json
    assert (tmp_path / "fig" / "unequal_weights_2d__oracle__samples_2d.png").is_file()


def test_timeout_stops_a_sampler_run_naming_the_sampler_and_the_limit(module, capsys, monkeypatch):
    monkeypatch.setenv("CI", "1")
    start = time.perf_counter()
    assert score(f"{module}:sleeps", *FAST, "--timeout", "1") == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 20 and err.count("\n") == 1
    assert "sampler 'sleeps' stopped on scenario 'bimodal_1d': no result after 1 s (--timeout)" in err


@pytest.mark.parametrize("flags, shown", [([], False), (["--progress"], True)], ids=["CI-quiet", "asked"])
def test_a_long_sampler_run_shows_progress_when_asked_even_in_ci(module, capsys, monkeypatch, flags, shown):
    monkeypatch.setenv("CI", "1")
    assert score(f"{module}:sleeps", *FAST, "--timeout", "6", *flags) == 2
    err = capsys.readouterr().err
    assert "sampler 'sleeps' stopped on scenario 'bimodal_1d': no result after 6 s (--timeout)" in err
    assert ("'sleeps' on scenario 'bimodal_1d': sampler running, 5 s\n" in err) == shown, err


UNWRITABLE = "/proc/samplerlab-cannot-write-here.json"  # refused even to root, whatever the permission bits


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
@pytest.mark.parametrize("flag", ["--json", "--save-samples"])
def test_an_unwritable_output_exits_2_before_the_audit(module, capsys, flag):
    assert score(f"{module}:exact", *FAST, flag, UNWRITABLE) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"samplerlab score: error: {flag}: cannot write to {UNWRITABLE} (No such file or " \
                                 "directory)\n"


def test_plot_into_a_missing_folder_exits_2_before_the_audit_like_json(module, tmp_path, capsys):
    missing = tmp_path / "no" / "figures"
    assert score(f"{module}:exact", *FAST, "--vary", "steps=10,20", "--plot", str(missing)) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"--plot: folder {missing} does not exist (create it first)" in err
    assert not missing.parent.exists()


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_threads_given_are_used_recorded_and_restored(module, tmp_path, capsys, monkeypatch, how):
    import torch

    path = tmp_path / "r.json"
    if how == "environment":
        monkeypatch.setenv("SAMPLERLAB_THREADS", "2")
    assert score(f"{module}:exact", *FAST, "--json", str(path), *(["--threads", "2"] if how == "flag" else [])) == 0
    assert Report.from_json(path).meta["threads"] == 2 and torch.get_num_threads() == 1


def test_a_bad_threads_environment_variable_exits_2_naming_it(module, capsys, monkeypatch):
    monkeypatch.setenv("SAMPLERLAB_THREADS", "many")
    assert score(f"{module}:exact", *FAST) == 2
    assert "SAMPLERLAB_THREADS: expected a positive integer, got 'many'" in capsys.readouterr().err


def test_threads_default_to_one_for_small_gemms_and_to_the_free_cores_otherwise(monkeypatch):
    from samplerlab.core import threads

    monkeypatch.delenv("SAMPLERLAB_THREADS", raising=False)
    monkeypatch.setattr(threads, "_DEFAULT", 8)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(threads, "busy_cores", lambda: 3)
    assert threads.choose_threads(work=2000 * 80 * 25) == 1  # grid_d80_m2's denoiser GEMM at n = 2000
    assert threads.choose_threads(work=10 ** 12) == 5
    monkeypatch.setattr(threads, "busy_cores", lambda: 12)
    assert threads.choose_threads(work=10 ** 12) == 1


def test_a_sweep_cell_runs_on_one_thread_unless_the_environment_says(monkeypatch):
    import torch

    from samplerlab.studies.sweep import run_cell

    cell = {"sampler": "oracle", "scenario": "bimodal_1d", "params": {}, "n": 60, "steps": 10, "seed": 0,
            "alpha": 1e-3, "checks": ["spread"], "floor": False}
    try:
        monkeypatch.setenv("SAMPLERLAB_THREADS", "2")
        assert run_cell(cell)["report"]["meta"]["threads"] == 2
        monkeypatch.delenv("SAMPLERLAB_THREADS")
        assert run_cell(cell)["report"]["meta"]["threads"] == 1
    finally:
        torch.set_num_threads(1)


def test_suite_threads_flag_sets_each_cells_threads_and_the_report_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLERLAB_THREADS", "1")  # restored after the test: --threads sets it for the cells
    out = tmp_path / "audit"
    assert main(["suite", "--out", str(out), "--workers", "1", "--samplers", "dps", "--scenarios", "bimodal_1d",
                 "--n", "60", "--steps", "10", "--checks", "spread", "--no-floor", "--no-cards",
                 "--threads", "2"]) in (0, 1)
    (path,) = (out / "reports").glob("*.json")
    assert Report.from_json(path).meta["threads"] == 2 and os.environ["SAMPLERLAB_THREADS"] == "2"


def test_studies_and_benchmarks_are_subcommands_of_the_one_command_line(capsys):
    assert main(["study", "why", "-h"]) == 0
    assert "usage: samplerlab study why" in capsys.readouterr().out
    assert main(["bench", "profile", "-h"]) == 0
    assert "usage: samplerlab bench profile" in capsys.readouterr().out
    assert main(["study", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_sweep_run_takes_the_spec_and_says_so_when_it_is_missing(capsys):
    assert main(["sweep", "run"]) == 2
    assert "sweep run: give the spec" in capsys.readouterr().err


def test_list_checks_reads_the_registry_and_checks_refuses_an_unknown_name(capsys):
    from samplerlab.diagnostics.registry import names

    assert main(["list", "checks"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names())
    assert main(["score", "dps", "--scenario", "bimodal_1d", "--checks", "nope"]) == 2
    assert "unknown check 'nope'" in capsys.readouterr().err
