"""Validation of the diagnostics: power and attribution under injected faults; false-alarm rate.

CI version (fast): one seed per family × fault, at the study's size (n = 2000, α = 1e-3). Each
asserts that the fault's own failure mode is flagged and that no other specific mode is
(``distribution``, the global net, and ``spread`` for the late spoil are expected co-flags, see
:mod:`samplerlab.studies.validation`). This is a regression net over every family, not the power
estimate; `make validation` measures the confusion matrices (power ≥ 0.95, mis-attribution ≤ 0.05
over 50 seeds per family, committed in results/validation/). The power argument is analytic where
the test is exact: for spread ×0.8 at d = 8, n = 2000 the pair sign test's count has mean
≈ 1000·F_{χ²_8}(7.34/0.64) ≈ 820 vs 500 ± 16 under the truth (20 sd); 2 % hallucinated mass gives
≈ 40 samples of the type against ≈ 0 expected; a 0.5-sd shift moves the split-half sign count by
≈ 12 sd.
"""

from __future__ import annotations

import pytest
from scipy import stats

from samplerlab.diagnostics.registry import FAILURE_MODES
from samplerlab.samplers.faults import FAULTS
from samplerlab.scenarios.validation_families import FAMILIES, build
from samplerlab.studies.validation import EXPECTED, GLOBAL, OWN, grid_problem, run


@pytest.fixture(scope="module")
def problem():
    return grid_problem()


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fault_is_flagged_by_its_own_mode_only(family, fault):
    problem, schedule, steps = build(family)
    try:
        FAULTS[fault](problem)
    except ValueError as exc:
        pytest.skip(f"{family} cannot host {fault}: {exc}")
    modes = run(problem, fault, 1000, steps=steps, schedule=schedule).failure_modes
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
