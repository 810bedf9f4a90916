"""Diagnostics as pure functions: exact nulls are calibrated, each fault moves its own check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem
from samplerlab.auditing.audit import audit
from samplerlab.core.schedules import VPLinear
from samplerlab.diagnostics import (
    CheckResult,
    Truth,
    distribution_checks,
    hallucination_checks,
    holm,
    mode_weight_checks,
    spread_checks,
    stop_sweep_check,
    trajectory_check,
)
from samplerlab.diagnostics.distribution import projections, sliced_w2, sorted_projections
from samplerlab.diagnostics.result import fmt_p
from samplerlab.diagnostics.spread import radius_test
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import evaluate
from samplerlab.operators import Identity
from samplerlab.samplers.faults import FAULTS, Spread
from samplerlab.studies.validation import grid_problem

N = 2000


@pytest.fixture(scope="module")
def problem():
    return grid_problem()


@pytest.fixture(scope="module")
def truth(problem):
    return Truth.get(problem, N, 0)


def fault_output(problem, fault, seed=0):
    return FAULTS[fault](problem)(problem.task(steps=10), N, torch.Generator().manual_seed(seed))


def test_holm_adjusts_and_rejects_step_down():
    rs = [CheckResult(f"c{i}", "spread", p_value=p) for i, p in enumerate([0.004, 1e-5, 0.03])]
    holm(rs, alpha=0.01)
    assert [r.p_holm for r in rs] == pytest.approx([0.008, 3e-5, 0.03])
    assert [r.passed for r in rs] == [False, False, True]


def test_not_applicable_and_info_checks_never_fail():
    rs = [CheckResult("a", "spread", p_value=1e-9, role="info"),
          CheckResult("b", "early_stopping", p_value=None, applicable=False)]
    assert all(r.passed for r in holm(rs, alpha=0.5))


def test_sampled_labels_keep_radius_test_calibrated_when_modes_overlap():
    # Overlapping 1-D modes: argmax labels would bias radii; sampled labels make r² ~ χ²_1 exactly.
    # The sign test is exact (discrete, so P(p < 0.1) <= 0.1); over 300 seeds the count of p < 0.1
    # is at most Binomial(300, 0.1): mean 30, sd 5.2; P(count >= 48) < 1e-3.
    gm = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [1.0, 1.0])
    small = 0
    for seed in range(300):
        g = torch.Generator().manual_seed(seed)
        ev = evaluate(gm, gm.sample(200, generator=g), g)
        small += radius_test(ev.r2, 1)[1] < 0.1
    assert small < 48


def test_spread_effect_is_the_shrink_factor(problem, truth):
    # Shrink ×0.8: the median of the pair radius² over ~1000 pairs (d = 8) has sd ≈ 1 / (2 f(med) sqrt(1000))
    # ≈ 0.16 on 7.34, i.e. 1.1 % on the ratio; 0.05 is > 4 sd. Shrinking does not move the location.
    radius, directions, pit, location = spread_checks(fault_output(problem, "shrink"), truth)
    assert location.p_value > 1e-4
    assert radius.effect == pytest.approx(0.8, abs=0.05)
    assert radius.p_value < 1e-12 and pit.p_value < 1e-12 and pit.effect < 0.5


@pytest.mark.parametrize("check", [spread_checks, mode_weight_checks, hallucination_checks, distribution_checks])
def test_exact_draws_are_not_flagged(truth, check):
    # Seeded exact draws; at the Holm level 1e-3/10 a false flag of one check has probability <= 1e-4.
    x = truth.draws(N, "test-exact")
    assert all(r.p_value > 1e-4 for r in check(x, truth))


@pytest.mark.parametrize("fault,check,name", [
    ("shrink", spread_checks, "spread_radius"), ("inflate", spread_checks, "spread_radius"),
    ("reweight", mode_weight_checks, "mode_weights"),
    ("prior_mode", hallucination_checks, "prior_hallucination"),
    ("likelihood_mode", hallucination_checks, "likelihood_hallucination")])
def test_fault_moves_its_own_check(problem, truth, fault, check, name):
    result = {r.check: r for r in check(fault_output(problem, fault), truth)}[name]
    assert result.p_value < 1e-6


def test_reweight_effect_is_its_total_variation(problem, truth):
    # Mean responsibilities: sd of the TV estimate ~ sqrt(w(1-w)/n) ≈ 0.011 per moved mode; 0.04 is > 3.5 sd.
    (r,) = mode_weight_checks(fault_output(problem, "reweight"), truth)
    assert r.effect == pytest.approx(0.1, abs=0.04)


def test_sweep_not_applicable_when_output_ignores_the_grid(truth):
    x = truth.draws(N, "test-sweep")
    r = stop_sweep_check({0.0: x, 0.02: x.clone()}, truth, VPLinear())
    assert not r.applicable and r.passed and "ignores the grid" in r.detail


def test_trajectory_not_applicable_without_observer_calls(truth):
    r = trajectory_check({}, truth, VPLinear(), 1e-3)
    assert not r.applicable and r.passed and "observer" in r.detail


def test_truth_is_cached_and_reproducible():
    problem = InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 1.0, [0.5])
    a, b = Truth.get(problem, 100, 1), Truth.get(problem, 100, 2)
    assert Truth.get(problem, 100, 1) is a
    assert torch.equal(a.reference_logp, Truth(problem, 100, 1).reference_logp)
    assert not torch.equal(a.reference_logp, b.reference_logp)
    assert np.isfinite(a.q_post)


@pytest.mark.parametrize("p,text", [(0.0, "< 1e-300"), (5e-324, "< 1e-300"), (3e-9, "3.0e-09"), (0.042, "0.042"),
                                    (None, "n/a")])
def test_fmt_p_renders_underflowed_p_values_as_a_bound(p, text):
    assert fmt_p(p) == text


def test_sliced_w2_with_presorted_reference_is_identical():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 3, generator=g, dtype=torch.float64), torch.randn(300, 3, generator=g, dtype=torch.float64)
    theta = projections(3, g, torch.float64, "cpu")
    assert sliced_w2(a, b, theta) == sliced_w2(a, None, theta, sorted_projections(b, theta))


def test_small_problem_checks_run_on_one_thread_and_restore_the_setting(truth):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = single_threaded_if_small(lambda x, t: torch.get_num_threads())(None, truth)
        assert (seen, torch.get_num_threads()) == (1, 2)
    finally:
        torch.set_num_threads(before)


def test_grossly_overdispersed_audit_is_flagged_and_builds_each_null_once():
    # Regression: an audit of ×10 over-dispersed samples (DAPS on prior_mode_ruled_out_2d) was slow.
    # The work is fixed by the truth, not by the samples: one distribution null and one stop-time null (the sweep's
    # and the profile's) per (problem, n, seed), reused by a second audit; the test itself runs in about a second.
    problem = InverseProblem(GaussianMixture([0.8, 0.2], [[-4.0, 0.0], [4.0, 0.0]], [0.5, 0.5]), Identity(2), 0.5,
                             [4.0, 0.5])
    inflate = Spread(problem, 10.0)
    first = audit(inflate, problem, n=500, steps=100, name="inflate")
    truth = Truth.get(problem, 500, 0)
    nulls = dict(truth.nulls)
    second = audit(inflate, problem, n=500, steps=100, name="inflate")
    assert {k if isinstance(k, str) else k[0] for k in nulls} == {"distribution", "stop-nulls"}
    assert all(truth.nulls[k] is v for k, v in nulls.items()) and len(truth.nulls) == len(nulls)
    radius = {c.check: c for c in first.checks}["spread_radius"]
    assert not radius.passed and radius.effect > 5
    assert first.without_timings().to_dict() == second.without_timings().to_dict()
