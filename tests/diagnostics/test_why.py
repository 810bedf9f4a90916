"""The "why" diagnostic: reported guidance against the exact likelihood score, and the swap control."""

from __future__ import annotations

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem, audit, samplers
from samplerlab.diagnostics.likelihood import exact_guidance
from samplerlab.diagnostics.truth import Truth
from samplerlab.operators import Dense
from samplerlab.samplers._base import Step, ddim_update, shift_to_score
from samplerlab.samplers._guidance import ddim_noise, eps_from_x0
from samplerlab.samplers.dps import DPS
from samplerlab.scenarios import load_scenario
from samplerlab.studies.explanations import render, why_table


class _Observer:
    wants_guidance = True

    def __init__(self):
        self.seen = {}

    def __call__(self, t, x, x0, guidance=None):
        self.seen[float(t)] = (x, guidance)


def _gaussian() -> InverseProblem:
    return InverseProblem(GaussianMixture([1.0], [[0.0, 0.0, 0.0]], [1.0]),
                          Dense([[1.0, 0.5, -0.3], [0.2, -1.0, 0.7]]), 0.5, [1.0, -0.5])


def _reported(name: str, problem: InverseProblem, steps: int = 30):
    spec = samplers.describe(name)
    small = {"mcgdiff": {"particles": 4}, "fps": {"particles": 3}, "daps": {"langevin_steps": 3}}.get(name, {})
    sampler = samplers.get(name, problem=problem, **small) if spec.control else samplers.get(name, **small)
    obs = _Observer()
    sampler(problem.task(steps=steps).with_observer(obs), 40, torch.Generator().manual_seed(0))
    return obs.seen


@pytest.mark.parametrize("name", samplers.available())
def test_every_zoo_sampler_reports_finite_guidance_of_the_right_shape(name):
    seen = _reported(name, _gaussian())
    assert seen and all(g is not None and g.shape == x.shape and torch.isfinite(g).all() for x, g in seen.values())


@pytest.mark.parametrize("name", ["oracle", "pigdm", "tmpd"])
def test_guidance_is_the_exact_score_where_the_method_is_exact(name):
    # N(0, I) prior: ΠGDM's Gaussian likelihood and TMPD's projection are exact, the oracle always is.
    problem = _gaussian()
    truth = Truth.get(problem, 40, 0)
    task = problem.task(steps=30)
    for t, (x, g) in _reported(name, problem).items():
        exact = exact_guidance(truth, x, task.alpha(t), task.sigma(t))
        torch.testing.assert_close(g, exact, rtol=1e-8, atol=1e-10)


def test_samplers_that_ignore_the_observer_keyword_still_work():
    seen = []
    problem = _gaussian()
    samplers.get("dps")(problem.task(steps=5).with_observer(lambda t, x, x0: seen.append(t)), 4,
                        torch.Generator().manual_seed(0))
    assert len(seen) == 5


class _ExactGuidanceDPS(DPS):
    """DPS with its gradient step replaced by the exact likelihood score (the swap control)."""

    def __init__(self, problem):
        super().__init__()
        self.problem = problem

    def step(self, task, x, t, t_next, generator):
        a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
        x0_hat = task.denoise(x, t)
        x_prime = ddim_update(x0_hat, eps_from_x0(x, x0_hat, a, s), a_next, s_next, s, a, 1.0,
                              ddim_noise(x, 1.0, s_next, generator))
        exact = (a / s**2) * (self.problem.posterior().denoise(x, a, s) - x0_hat)
        # The term that, read back by shift_to_score, is the exact score: δ = κ (s²/a) g*.
        delta = exact / shift_to_score(torch.ones_like(exact), a, s, a_next, s_next, 1.0)
        return Step(x_prime + delta, x0_hat)


def test_exact_guidance_swap_removes_dps_spread_failure_on_bimodal_1d():
    # DPS fails spread (and location, mode weights) on bimodal_1d; with its guidance swapped for the
    # exact ∇ log p(y|x_t) and everything else kept, nothing fails: the approximation is the cause.
    scenario = load_scenario("bimodal_1d")
    kw = dict(n=1000, steps=200, checks=["spread", "mode_weights"])
    dps = audit(samplers.get("dps"), scenario.problem, name="dps", **kw)
    swapped = audit(_ExactGuidanceDPS(scenario.problem), scenario.problem, name="dps-exact-guidance", **kw)
    assert {"spread", "location"} <= dps.failure_modes
    assert swapped.passed, swapped.summary()


def test_audit_names_the_failures_that_follow_a_departing_guidance(tmp_path):
    scenario = load_scenario("bimodal_1d")
    report = audit(samplers.get("dps"), scenario.problem, n=500, steps=100, floor=True, name="dps",
                   scenario="bimodal_1d")
    why = report["likelihood_approximation"]
    assert why.role == "info" and why.p_value is None and why.effect > 5
    assert "too strong" in why.detail and "failures at t = 0: " in why.detail and "spread" in why.detail
    oracle = audit(samplers.get("oracle", problem=scenario.problem), scenario.problem, n=500, steps=100)
    assert oracle["likelihood_approximation"].effect == pytest.approx(1.0)
    report.to_json(tmp_path / "dps.json")
    table = why_table([report, oracle])
    assert list(table.sampler) == ["dps"] and bool(table.explained.iloc[0])
    assert "**dps**: its guidance departs and explains bimodal_1d" in render(table, [])


def test_why_without_reports_is_one_line_exit_2(tmp_path, capsys):
    from samplerlab.studies.explanations import main

    assert main(["--reports", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "make audit" in capsys.readouterr().err


@pytest.mark.parametrize("name, exact", [("tmpd", True), ("dps", False)])
def test_reported_likelihood_covariance_is_compared_per_singular_direction(name, exact):
    # TMPD's A Cov[x0|x_t] Aᵀ + σ² I is exact (second-order Tweedie); DPS's Dirac σ² I ignores A C Aᵀ.
    problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0, 0.0, 1.0], [2.0, 1.0, 0.0]], [0.5, 0.5]),
                             Dense([[1.0, 0.5, -0.3], [0.2, -1.0, 0.7]]), 0.3, [0.5, -0.2])
    report = audit(samplers.get(name), problem, n=200, steps=30, checks=["why"], name=name)
    ratios = [v for row in report["likelihood_approximation"].data["cov_ratio"] for v in row]
    assert len(ratios) == 20
    if exact:
        assert max(abs(v - 1) for v in ratios) < 1e-6
    else:
        assert min(ratios) < 0.1 and "implied Cov[y|x_t]" in report["likelihood_approximation"].detail
