"""Validation of the diagnostics: power and attribution under injected faults; false-alarm rate.

CI version (fast): 3 seeds per fault. Each seed asserts that the fault's own failure mode is
flagged and that no other specific mode is (``distribution``, the global net, and ``spread`` for
the late spoil are expected co-flags, see :mod:`samplerlab.validation`). This is a regression
net, not the power estimate: 3/3 would still happen with probability 0.86 at power 0.95. The
power argument is analytic where the test is exact: for spread ×0.8 at d = 8, n = 2000 the sign
test's count has mean n·F_{χ²_8}(7.34/0.64) ≈ 1646 vs 1000 ± 22 under the truth (29 sd; power
≈ 1); 2 % hallucinated mass gives ≈ 40 off-support samples of the type against ≈ 0 expected
(conditional binomial p ≈ 0.09^40); a TV 0.1 re-weighting is ≈ 8 null sd of the label TV. The
slow version (100 seeds per fault) measures the confusion matrix and checks power ≥ 0.95 and
mis-attribution ≤ 0.05 directly.
"""

from __future__ import annotations

import pytest
from scipy import stats

from samplerlab.diagnostics.result import FAILURE_MODES
from samplerlab.faults import FAULTS
from samplerlab.validation import EXPECTED, GLOBAL, OWN, grid_problem, run


@pytest.fixture(scope="module")
def problem():
    return grid_problem()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_flagged_by_its_own_mode_only(problem, fault, seed):
    modes = run(problem, fault, seed).failure_modes
    assert OWN[fault] in modes
    assert modes <= EXPECTED[fault] | GLOBAL


def test_false_alarm_rate_at_large_alpha(problem):
    # alpha = 0.2, 30 seeds, n = 500: failures ~ Binomial(30, <= 0.2) (Holm controls the
    # family-wise rate); P(Binomial(30, 0.2) >= 15) = 3.5e-4, so more than 14 failures refutes
    # the calibration at that error rate.
    failures = sum(not run(problem, "exact", seed, n=500, alpha=0.2, steps=20).passed for seed in range(30))
    assert stats.binom.sf(14, 30, 0.2) < 1e-3
    assert failures <= 14


@pytest.mark.slow
def test_false_alarm_rate_over_500_seeds(problem):
    # alpha = 1e-3: failures ~ Binomial(500, <= 1e-3), P(>= 5) = 1.7e-4.
    failures = sum(not run(problem, "exact", seed).passed for seed in range(500))
    assert failures <= 4


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_confusion_matrix_power_and_attribution(problem, fault):
    seeds = 100
    reports = [run(problem, fault, 1000 + s).failure_modes for s in range(seeds)]
    power = sum(OWN[fault] in m for m in reports) / seeds
    wrong = {mode: sum(mode in m for m in reports) / seeds
             for mode in FAILURE_MODES if mode not in EXPECTED[fault] | GLOBAL}
    assert power >= 0.95
    assert max(wrong.values()) <= 0.05
