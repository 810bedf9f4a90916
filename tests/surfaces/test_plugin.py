"""The pytest plugin end to end (pytester): fixture, marker, options, session JSON, xdist parts,
and a pytest start-up that does not import torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from samplerlab.pytest_plugin import load_session_reports, merge_parts

# With the pytest11 entry point installed, the plugin loads by itself; otherwise name it.
INSTALLED = any(ep.value == "samplerlab.pytest_plugin" for ep in entry_points(group="pytest11"))
PLUGIN_ARGS = [] if INSTALLED else ["-p", "samplerlab.pytest_plugin"]
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "samplerlab"

# A small, fast audit: the 1-D bimodal scenario, 200 samples, 20 steps, two checks.
# Exact posterior draws pass it except with probability <= alpha = 1e-3 (the Holm family-wise
# rate); the seed is fixed, so the outcome is deterministic.
HEADER = '''
import pytest
import torch

FAST = dict(n=200, steps=20, checks=["spread", "mode_weights"])


def exact(task, n, generator):
    from samplerlab.scenarios import load_scenario
    return load_scenario("bimodal_1d").problem.posterior().sample(n, generator=generator)


def too_wide(task, n, generator):
    return 3.0 * exact(task, n, generator)  # spread (and modes) far off
'''


def run(pytester, body: str, *args):
    pytester.makepyfile(test_user_sampler_audit=HEADER + textwrap.dedent(body))
    return pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", *args)


def test_fixture_returns_a_passing_report_for_exact_draws(pytester):
    result = run(pytester, '''
        def test_exact(sampler_audit):
            report = sampler_audit(exact, "bimodal_1d", **FAST)
            report.assert_ok()
            assert report.meta["scenario"] == "bimodal_1d" and report.meta["n"] == 200
    ''')
    result.assert_outcomes(passed=1)


def test_assert_ok_fails_the_test_naming_the_failure_mode(pytester):
    result = run(pytester, '''
        def test_wide(sampler_audit):
            sampler_audit(too_wide, "bimodal_1d", **FAST).assert_ok()
    ''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError*spread*over-dispersed*"])


def test_marker_sets_defaults_and_the_call_overrides_them(pytester):
    result = run(pytester, '''
        @pytest.mark.samplerlab(n=64, steps=10, checks=["mode_weights"], seed=4)
        def test_marked(sampler_audit):
            report = sampler_audit(exact, "bimodal_1d")
            assert (report.meta["n"], report.meta["steps"], report.meta["seed"]) == (64, 10, 4)
            assert sampler_audit(exact, "bimodal_1d", n=80).meta["n"] == 80
    ''')
    result.assert_outcomes(passed=1)


def test_zoo_names_and_sampler_params_are_accepted(pytester):
    result = run(pytester, '''
        @pytest.mark.samplerlab(params={"eta": 0.0})
        def test_zoo(sampler_audit):
            report = sampler_audit("prior", "bimodal_1d", **FAST)
            assert report.meta["sampler"] == "prior"
    ''')
    result.assert_outcomes(passed=1)


def test_command_line_options_reach_the_audit(pytester):
    result = run(pytester, '''
        @pytest.mark.samplerlab(seed=1)
        def test_options(sampler_audit):
            report = sampler_audit(exact, "bimodal_1d", **FAST)
            assert (report.meta["alpha"], report.meta["seed"]) == (0.01, 7)
    ''', "--samplerlab-alpha", "0.01", "--samplerlab-seed", "7")
    result.assert_outcomes(passed=1)


def test_invalid_option_is_a_usage_error(pytester):
    result = run(pytester, "def test_nothing():\n    pass\n", "--samplerlab-alpha", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--samplerlab-alpha*expected a number in (0, 1)*"])


def test_session_json_holds_every_report_with_its_test_id(pytester):
    out = pytester.path / "reports.json"
    result = run(pytester, '''
        def test_a(sampler_audit):
            sampler_audit(exact, "bimodal_1d", **FAST)

        def test_b(sampler_audit):
            sampler_audit(too_wide, "bimodal_1d", **FAST)
    ''', f"--samplerlab-json={out}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["samplerlab: 2 audit report(s), 1 with a failure mode; written to *reports.json"])
    reports = load_session_reports(out)
    assert [nodeid.split("::")[1] for nodeid, _ in reports] == ["test_a", "test_b"]
    assert [r.passed for _, r in reports] == [True, False]


def test_xdist_worker_writes_a_part_file_instead_of_the_session_file(pytester):
    out = pytester.path / "reports.json"
    pytester.makeconftest('''
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(config):
            config.workerinput = {"workerid": "gw3", "samplerlab_token": "T0"}
    ''')
    result = run(pytester, '''
        def test_a(sampler_audit):
            sampler_audit(exact, "bimodal_1d", **FAST)
    ''', f"--samplerlab-json={out}")
    result.assert_outcomes(passed=1)
    assert not out.exists()
    part = json.loads((pytester.path / "reports.json.parts" / "T0-gw3.json").read_text())
    assert [r["nodeid"].split("::")[1] for r in part] == ["test_a"]


def test_controller_merges_this_sessions_parts_only(tmp_path):
    path = tmp_path / "reports.json"
    parts = tmp_path / "reports.json.parts"
    parts.mkdir()
    (parts / "T0-gw0.json").write_text(json.dumps([{"nodeid": "t.py::b"}]))
    (parts / "T0-gw1.json").write_text(json.dumps([{"nodeid": "t.py::c"}]))
    (parts / "OLD-gw0.json").write_text(json.dumps([{"nodeid": "t.py::stale"}]))
    merged = merge_parts(path, "T0", [{"nodeid": "t.py::a"}])
    assert [r["nodeid"] for r in merged] == ["t.py::a", "t.py::b", "t.py::c"]
    assert sorted(p.name for p in parts.iterdir()) == ["OLD-gw0.json"]


def test_help_lists_the_options_in_one_group(pytester):
    result = pytester.runpytest(*PLUGIN_ARGS, "--help")
    result.stdout.fnmatch_lines(["samplerlab sampler audits:", "*--samplerlab-alpha=A*", "*--samplerlab-json=PATH*"])


CHECK_NO_TORCH = "import sys, {module}; assert 'torch' not in sys.modules, 'torch was imported'; print('ok')"


def test_importing_the_plugin_does_not_import_torch():
    code = CHECK_NO_TORCH.format(module="samplerlab.pytest_plugin")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]


def test_pytest_help_with_the_plugin_does_not_import_torch():
    code = ("import sys, pytest; pytest.main(['--help', '-p', 'no:cacheprovider'"
            + "".join(f", {a!r}" for a in PLUGIN_ARGS) + "]); "
            "sys.__stdout__.write('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE_DIR.parent)
    assert done.stdout.endswith("NO-TORCH"), done.stdout[-200:] + done.stderr[-500:]
