"""Audits over observations y ~ p(y): coverage, SBC and TARP, one verdict across observations."""

import numpy as np
import pytest

from samplerlab.auditing.observations import ObservationAudit, audit_observations
from samplerlab.diagnostics.coverage import coverage_check, randomized_rank
from samplerlab.diagnostics.sbc import sbc_check
from samplerlab.diagnostics.tarp import tarp_check
from samplerlab.samplers.faults import Spread

SETTINGS = dict(n=300, steps=20, checks=["spread", "mode_weights"], floor=False)


def test_randomized_rank_of_an_exchangeable_draw_is_uniform():
    rng = np.random.default_rng(0)
    u = [randomized_rank(rng.normal(size=(9, 1)).round(1), rng.normal(size=1).round(1), rng)[0]
         for _ in range(4000)]  # rounding makes ties: the randomisation keeps the rank uniform
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert counts.min() > 330 and counts.max() < 470  # 400 expected per bin, ±3.5 sd


@pytest.mark.parametrize("check", [coverage_check, lambda u: sbc_check(u[:, None], ["x"]), tarp_check])
def test_across_checks_reject_ranks_piled_at_the_ends(check):
    u = np.concatenate([np.full(30, 0.01), np.full(30, 0.99)])  # a ∪-shaped, over-confident sampler
    assert check(u).p_value < 1e-6


def test_exact_sampler_passes_across_observations():
    audit = audit_observations("fault:exact", "bimodal_1d", observations=20, **SETTINGS)
    assert audit.passed, audit.summary()
    assert {c.check for c in audit.checks} == {"coverage_hpd", "sbc_ranks", "tarp"}
    assert all(r.meta["observation"]["index"] == j for j, r in enumerate(audit.reports))


@pytest.mark.parametrize("fault, direction", [("fault:shrink", "under"), ("fault:inflate", "over")])
def test_dispersion_faults_read_as_coverage_across_observations(fault, direction):
    # spread ×0.8 / ×1.25 in d = 8: the 90 % region covers about 62 % / 99.6 % of the true signals
    audit = audit_observations(fault, "grid_d8_m2", observations=50, n=200, steps=20, checks=["spread"], floor=False)
    coverage = next(c for c in audit.checks if c.check == "coverage_hpd")
    assert (coverage.effect < 0.9) if direction == "under" else (coverage.effect > 0.9)
    assert coverage.p_value < 0.01 and f"{direction}-coverage" in coverage.detail


class TailWrong(Spread):
    """Exact for most y; shrinks the spread 0.4× when y lies in the upper tail (y > 3.2)."""

    def __init__(self, problem):
        super().__init__(problem, 0.4 if float(problem.y[0]) > 3.2 else 1.0)


def test_a_sampler_wrong_only_in_the_tail_is_caught_and_the_report_names_the_y():
    audit = audit_observations(f"{__name__}:TailWrong", "bimodal_1d", observations=20, **SETTINGS)
    tail = [j for j, r in enumerate(audit.reports) if r.meta["observation"]["y"][0] > 3.2]
    assert tail and not audit.passed
    spread = next(r for r in audit.modes if r["failure_mode"] == "spread")
    assert spread["worst"] in tail and set(spread["failed_observations"]) <= set(tail)
    assert f"observation {spread['worst']}" in audit.summary()


def test_observation_audit_round_trips_through_json(tmp_path):
    audit = audit_observations("fault:exact", "bimodal_1d", observations=3, **SETTINGS)
    audit.to_json(tmp_path / "a.json")
    import json

    again = ObservationAudit.from_dict(json.loads((tmp_path / "a.json").read_text()))
    assert again.passed == audit.passed and again.modes == audit.modes and len(again.reports) == 3


def test_observations_must_be_at_least_two():
    with pytest.raises(ValueError, match="observations: expected an integer >= 2"):
        audit_observations("oracle", "bimodal_1d", observations=1)


def test_pytest_marker_observations_runs_one_verdict_across_observations(pytester):
    from importlib.metadata import entry_points

    installed = any(ep.value == "samplerlab.pytest_plugin" for ep in entry_points(group="pytest11"))
    pytester.makepyfile(test_user_coverage='''
import pytest

@pytest.mark.samplerlab(observations=3, n=200, steps=20, checks=["spread"], floor=False)
def test_exact(sampler_audit):
    audit = sampler_audit("fault:exact", "bimodal_1d")
    audit.assert_ok()
    assert len(audit.reports) == 3 and audit.meta["observations"] == 3

@pytest.mark.samplerlab(observations=3, n=200, steps=20, checks=["spread"], floor=False)
def test_wide(sampler_audit):
    sampler_audit("fault:inflate", "grid_d8_m2", n=500).assert_ok()
''')
    result = pytester.runpytest(*([] if installed else ["-p", "samplerlab.pytest_plugin"]), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED sampler 'fault:inflate' on 'grid_d8_m2' over 3 observations*"])


def test_cli_score_observations_prints_one_verdict_and_writes_json(tmp_path, capsys):
    from samplerlab.cli import main

    code = main(["score", "fault:inflate", "--scenario", "grid_d8_m2", "--observations", "3", "--n", "300",
                 "--steps", "20", "--no-floor", "--checks", "spread", "--json", str(tmp_path / "a.json")])
    out = capsys.readouterr().out
    assert code == 1 and "FAILED sampler 'fault:inflate' on 'grid_d8_m2' over 3 observations" in out
    assert "coverage_hpd" in out and "spread" in out
    again = ObservationAudit.from_dict(__import__("json").loads((tmp_path / "a.json").read_text()))
    assert not again.passed and again.meta["observations"] == 3


def test_cli_observations_plot_writes_the_coverage_figure_and_plot_reads_the_audit_back(tmp_path, capsys):
    from samplerlab.cli import main

    figures = tmp_path / "figs"
    figures.mkdir()
    code = main(["score", "fault:exact", "--scenario", "bimodal_1d", "--observations", "4", "--n", "100",
                 "--steps", "10", "--no-floor", "--checks", "spread", "--json", str(tmp_path / "a.json"),
                 "--plot", str(figures)])
    assert code == 0 and [p.name for p in figures.iterdir()] == ["bimodal_1d__fault_exact__coverage.png"]
    # `samplerlab plot` reads an audit over observations as one report: its coverage figure and card
    assert main(["plot", str(tmp_path / "a.json"), "-o", str(tmp_path / "again"), "--card"]) == 0
    written = sorted(p.name for p in (tmp_path / "again").iterdir())
    assert "bimodal_1d__fault_exact__coverage.png" in written and "bimodal_1d__fault_exact__card.html" in written
    html = (tmp_path / "again" / "bimodal_1d__fault_exact__card.html").read_text()
    assert "observations_spread" in html and "coverage_hpd" in html


def test_the_coverage_band_is_left_exactly_when_the_ks_test_rejects():
    # The figure's band is the exact KS critical value: the ECDF curve leaves it iff p < level.
    from scipy import stats

    from samplerlab.diagnostics.coverage import ecdf_deviation, ks_band

    rng = np.random.default_rng(3)
    outcomes = set()
    for scale in (1.0, 0.7, 0.5):
        u = rng.uniform(size=40) ** scale
        _, dev = ecdf_deviation(u, points=200_001)
        left = np.abs(dev).max() > ks_band(40, 0.01) + 1e-4  # the grid's step: 1 / 200,000
        assert left == (stats.kstest(u, "uniform", method="exact").pvalue < 0.01)
        outcomes.add(left)
    assert outcomes == {True, False}


def test_cli_observations_below_two_is_an_input_error(capsys):
    from samplerlab.cli import main

    assert main(["score", "oracle", "--scenario", "bimodal_1d", "--observations", "1"]) == 2
    assert "--observations: expected an integer >= 2" in capsys.readouterr().err


def test_as_report_passes_exactly_when_the_one_verdict_does_and_names_the_causes():
    audit = audit_observations("dps", "bimodal_1d", observations=4, n=200, steps=20, checks=["location"],
                               floor=False, control=True)
    report = audit.as_report()
    assert report.passed == audit.passed is False
    location = report["observations_location"]
    assert not location.passed and location.effect == audit.modes[0]["fraction"]
    # DPS's location error on bimodal_1d is the method's own: its control on one Gaussian fails it too
    assert location.data["single_gaussian"] >= 1 and "on a single Gaussian too" in location.detail
    assert "over 4 observations" in report.summary().splitlines()[0]


def test_a_sweep_cell_runs_across_observations_with_the_control(tmp_path):
    from samplerlab.studies import sweep as sw

    spec = sw.parse_spec({"sweep": {"samplers": ["oracle", "dps"], "scenarios": ["bimodal_1d"], "n": 200,
                                    "steps": 20, "checks": ["location"], "observations": 3, "control": True}})
    frame = sw.sweep(spec, tmp_path, workers=1)
    assert set(frame["status"]) == {"done"}
    checks = set(frame["check"])
    assert {"observations_location", "coverage_hpd", "sbc_ranks", "tarp"} <= checks
    by = frame.set_index(["sampler", "check"])
    assert by.loc[("oracle", "observations_location"), "passed"]
    assert not by.loc[("dps", "observations_location"), "passed"]
    # cells without the fields keep their old keys
    plain = sw.cells(sw.parse_spec({"sweep": {"samplers": ["dps"], "scenarios": ["bimodal_1d"]}}))[0]
    assert "observations" not in plain and "control" not in plain


def test_a_sweep_spec_with_fewer_than_two_observations_names_the_field():
    from samplerlab.studies.sweep_spec import SweepSpecError, parse_spec

    with pytest.raises(SweepSpecError, match=r"t.toml: \[sweep\] observations: expected integers >= 2, got \[1\]"):
        parse_spec({"sweep": {"samplers": ["dps"], "scenarios": ["bimodal_1d"], "observations": 1}}, "t.toml")


_LISTED = """description = "bimodal, listed y's"
n = 200
sigma_y = 1.0
[schedule]
steps = 10
[prior]
kind = "mixture"
weights = [0.5, 0.5]
means = [[-2.0], [2.0]]
covariances = [0.25, 0.25]
[operator]
kind = "identity"
[observations]
"""


def test_a_scenario_may_list_its_own_observations_and_the_audit_uses_them_in_order(tmp_path):
    path = tmp_path / "listed.toml"
    path.write_text(_LISTED + "y = [[0.4], [1.9], [-2.5]]\n")
    audit = audit_observations("fault:exact", str(path), observations=2, **dict(SETTINGS, n=100, steps=10))
    assert [r.meta["observation"]["y"] for r in audit.reports] == [[0.4], [1.9]]
    assert audit.meta["listed"] and audit.passed
    # without the signals behind the y's there are no ranks: the coverage checks cannot judge
    assert [(c.check, c.applicable) for c in audit.checks] == [("coverage_hpd", False), ("sbc_ranks", False),
                                                                ("tarp", False)]
    assert "observations listed by the scenario" in audit.summary()
    with pytest.raises(ValueError, match="lists 3 y's, 4 asked for"):
        audit_observations("fault:exact", str(path), observations=4, **SETTINGS)


def test_listed_signals_make_the_coverage_checks_run(tmp_path):
    path = tmp_path / "listed.toml"
    path.write_text(_LISTED + "y = [[0.4], [1.9], [-2.5]]\nx_star = [[0.1], [2.2], [-2.1]]\n")
    audit = audit_observations("fault:exact", str(path), observations=3, **dict(SETTINGS, n=100, steps=10))
    assert all(c.applicable and c.p_value is not None for c in audit.checks)


@pytest.mark.parametrize("table, message", [
    ("y = [[0.4, 1.0], [1.9, 2.0]]\n", "observations.y: expected at least 2 rows of 1 values"),
    ("y = [0.4, 1.9]\n", "observations.y: expected a 2-D array"),
    ("y = [[0.4], [1.9]]\nx_star = [[0.1]]\n", "observations.x_star: expected 2 rows \\(one per y\\) of 1 values"),
    ("y = [[0.4], [1.9]]\nys = 1\n", "observations.ys: unknown key"),
])
def test_a_bad_observations_table_is_one_line_naming_file_and_field(tmp_path, table, message):
    from samplerlab.scenarios import ScenarioError, load_scenario

    path = tmp_path / "bad.toml"
    path.write_text(_LISTED + table)
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(path)
    assert "bad.toml" in str(err.value) and "\n" not in str(err.value)
