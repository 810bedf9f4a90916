"""The prior-complexity control: a failure is the method's own (it fails on a single Gaussian too)
or the mixture prior's (only with the mixture)."""

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem
from samplerlab.auditing.control import control_problem
from samplerlab.auditing.pipeline import run
from samplerlab.auditing.report import Report
from samplerlab.operators import Identity
from samplerlab.scenarios import load_scenario


@pytest.mark.parametrize("scenario", ["unimodal_posterior_2d", "prior_mode_ruled_out_2d", "bimodal_1d"])
def test_control_posterior_is_the_dominant_posterior_mode(scenario):
    problem = load_scenario(scenario).problem
    control, info = control_problem(problem)
    post, single = problem.posterior(), control.posterior()
    k = info["component"]
    assert single.n_components == 1 and k == int(torch.argmax(post.weights))
    assert torch.allclose(single.means[0], post.means[k], atol=1e-10)
    assert torch.allclose(single.covariance_matrices()[0], post.covariance_matrices()[k], atol=1e-10)
    assert control.operator is problem.operator and torch.equal(control.y, problem.y)


def test_control_keeps_a_full_covariance_component_factored():
    prior = GaussianMixture([0.3, 0.7], [[0.0, 0.0], [3.0, 1.0]], [[[1.0, 0.5], [0.5, 2.0]], [[0.5, 0.1], [0.1, 0.3]]])
    problem = InverseProblem(prior, Identity(2), 0.5, [3.0, 1.0])
    control, info = control_problem(problem)
    assert torch.allclose(control.prior.covariance_matrices()[0], prior.covariance_matrices()[info["component"]])


@pytest.mark.parametrize("sampler, scenario, check, cause", [
    ("tmpd", "unimodal_posterior_2d", "location", "mixture"),  # TMPD is exact on every single Gaussian
    ("dps", "prior_mode_ruled_out_2d", "location", "single_gaussian"),
    ("ddrm", "prior_mode_ruled_out_2d", "spread_radius", "single_gaussian"),
])
def test_control_names_the_cause_of_each_failure(sampler, scenario, check, cause):
    report = run(sampler, scenario, control=True, checks=["spread"])
    c = report[check]
    assert not c.passed and c.control_attribution == cause
    assert report.meta["control"]["component"] == control_problem(load_scenario(scenario).problem)[1]["component"]
    words = {"mixture": "only with the mixture prior", "single_gaussian": "fails on a single Gaussian too"}[cause]
    assert words in report.summary()


def test_control_attribution_survives_the_json_report(tmp_path):
    report = run("tmpd", "unimodal_posterior_2d", n=500, control=True, checks=["spread"])
    report.to_json(tmp_path / "r.json")
    again = Report.from_json(tmp_path / "r.json")
    assert [c.control_attribution for c in again.checks] == [c.control_attribution for c in report.checks]
    assert again.meta["control"] == report.meta["control"]


def test_control_is_not_run_on_a_single_gaussian_prior():
    problem = InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 0.5, [1.0])
    report = run("oracle", problem, n=200, steps=20, control=True, checks=["spread"])
    assert "single Gaussian" in report.meta["control"]["skipped"]
    assert all(c.control_verdict is None for c in report.checks)


def test_no_control_unless_asked():
    report = run("tmpd", "unimodal_posterior_2d", n=500, checks=["spread"])
    assert "control" not in report.meta and all(c.control_attribution is None for c in report.checks)


def test_cli_score_control_names_the_cause(capsys):
    from samplerlab.cli import main

    code = main(["score", "ddrm", "--scenario", "prior_mode_ruled_out_2d", "--n", "500", "--no-floor", "--control",
                 "--checks", "spread"])
    out = capsys.readouterr().out
    assert code == 1 and "fails on a single Gaussian too" in out and "control — prior cut to component 1 of 2" in out
