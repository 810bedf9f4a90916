"""audit(): reproducible reports, exact JSON round trip, readable failures, clear sampler errors."""

from __future__ import annotations

import re

import pytest
import torch

from samplerlab.auditing.audit import audit
from samplerlab.auditing.report import COLUMNS, Report
from samplerlab.errors import SamplerError
from samplerlab.samplers.faults import Spread
from samplerlab.studies.validation import exact_sampler, grid_problem

N, STEPS = 500, 20


@pytest.fixture(scope="module")
def problem():
    return grid_problem()


@pytest.fixture(scope="module")
def shrunk_report(problem):
    return audit(Spread(problem, 0.7), problem, n=N, steps=STEPS, name="shrink", scenario="grid-d8")


def test_same_seed_gives_identical_report(problem, shrunk_report):
    again = audit(Spread(problem, 0.7), problem, n=N, steps=STEPS, name="shrink", scenario="grid-d8")
    assert again.without_timings() == shrunk_report.without_timings()


def test_json_round_trip_is_exact(shrunk_report, tmp_path):
    shrunk_report.to_json(tmp_path / "r.json")
    assert Report.from_json(tmp_path / "r.json") == shrunk_report


def test_frame_has_one_row_per_check(shrunk_report):
    frame = shrunk_report.to_frame()
    assert list(frame.columns) == COLUMNS
    assert list(frame.check) == [c.check for c in shrunk_report.checks]


def test_metadata_records_the_run(shrunk_report):
    meta = shrunk_report.meta
    assert (meta["sampler"], meta["scenario"], meta["n"], meta["seed"], meta["alpha"], meta["dim"], meta["steps"]) \
        == ("shrink", "grid-d8", N, 0, 1e-3, 8, STEPS)


def test_failure_is_named_with_effect_and_p_value(shrunk_report):
    assert "spread" in shrunk_report.failure_modes and not shrunk_report.passed
    assert re.search(r"under-dispersed: within-mode spread 0\.[67]\d×", shrunk_report.summary())
    with pytest.raises(AssertionError, match=r"spread \(spread_radius: effect 0\.[67]\d*, p = "):
        shrunk_report.assert_ok()


def test_exact_sampler_passes(problem):
    report = audit(exact_sampler(problem), problem, n=N, steps=STEPS, seed=1)
    report.assert_ok()
    assert report["early_stopping_sweep"].applicable and report["early_stopping_trajectory"].applicable


def test_checks_are_selectable_and_costed(problem):
    report = audit(exact_sampler(problem), problem, n=N, steps=STEPS, checks=["mode_weights", "early_stopping"])
    assert [c.check for c in report.checks] == ["mode_weights", "early_stopping_trajectory", "early_stopping_sweep",
                                                "early_stopping_profile"]
    assert all(c.cost_s > 0 for c in report.checks) and report["early_stopping_sweep"].sampler_s > 0


def test_grid_ignoring_sampler_without_observer_is_not_applicable(problem):
    post = problem.posterior()
    report = audit(lambda task, n, g: post.sample(n, generator=g), problem, n=N, steps=STEPS, name="direct")
    assert {c.check for c in report.checks if not c.applicable} == {"early_stopping_sweep", "early_stopping_profile",
                                                                   "early_stopping_trajectory",
                                                                   "likelihood_approximation"}
    assert report.passed


def test_unknown_check_is_a_value_error(problem):
    with pytest.raises(ValueError, match="checks: unknown check 'bogus'"):
        audit(exact_sampler(problem), problem, n=N, checks=["bogus"])


def _nan_on_truncated(problem):
    exact = exact_sampler(problem)

    def sampler(task, n, g):
        x = exact(task, n, g)
        return x if task.finishes_at_zero else x * float("nan")
    return sampler


@pytest.mark.parametrize("bad,message", [
    (lambda task, n, g: 1 / 0, "sampler 'bad' raised ZeroDivisionError"),
    (lambda task, n, g: torch.full((n, task.dim), float("nan"), dtype=task.dtype), r"returned \d+ non-finite values"),
    (lambda task, n, g: torch.zeros(n, task.dim + 1, dtype=task.dtype), r"returned shape \(500, 9\)"),
    (lambda task, n, g: torch.zeros(n, task.dim, dtype=torch.float32), "returned dtype torch.float32"),
])
def test_bad_sampler_output_stops_the_audit(problem, bad, message):
    with pytest.raises(SamplerError, match=message) as info:
        audit(bad, problem, n=N, steps=STEPS, name="bad", scenario="grid-d8")
    assert "grid-d8" in str(info.value) and info.value.partial_report is not None


def test_failure_in_the_sweep_keeps_the_checks_already_computed(problem):
    with pytest.raises(SamplerError, match="t_stop") as info:
        audit(_nan_on_truncated(problem), problem, n=N, steps=STEPS, name="late-nan")
    partial = info.value.partial_report
    assert {"spread_radius", "mode_weights", "energy_distance"} <= {c.check for c in partial.checks}
