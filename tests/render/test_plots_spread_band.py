"""The exact band of the time-resolved spread ratio: stored by the trajectory check (plot material,
no p-value), and covering an exact sampler's ratio at its stated level (order statistics of χ²_d)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from samplerlab.diagnostics.stop_trajectory import spread_ratio_band


@pytest.fixture(scope="module")
def trajectory():
    """The trajectory check of a tiny oracle audit (n = 300, 20 steps) and its α."""
    from samplerlab.auditing.pipeline import run
    from samplerlab.auditing.sampler_ref import resolve_sampler
    from samplerlab.scenarios import load_scenario

    scenario = load_scenario("unequal_weights_2d")
    oracle, _ = resolve_sampler("oracle", problem=scenario.problem)
    report = run(oracle, scenario, n=300, steps=20, checks=["early_stopping_trajectory"])
    return report["early_stopping_trajectory"], report.meta["alpha"]


def test_spread_band_is_stored_per_recorded_time_at_the_checks_per_time_level(trajectory):
    c, alpha = trajectory
    d = c.data
    assert len(d["spread_lo"]) == len(d["spread_hi"]) == len(d["t"])
    assert d["band_level"] == pytest.approx(alpha / (2 * len(d["t"])))
    assert (d["spread_lo"][0], d["spread_hi"][0]) == pytest.approx(spread_ratio_band(300, 2, d["band_level"]))


def test_spread_band_lies_around_the_exact_ratio_and_holds_the_oracles(trajectory):
    d = trajectory[0].data
    for lo, r, hi in zip(d["spread_lo"], d["spread_ratio"], d["spread_hi"]):
        assert 0.7 < lo < 1.0 < hi < 1.4
        assert lo <= r <= hi  # the oracle is exact up to its 20-step grid


@pytest.mark.parametrize("n", [41, 40])
def test_spread_ratio_band_covers_exact_draws_at_its_level(n):
    level, d, reps = 0.1, 3, 4000
    lo, hi = spread_ratio_band(n, d, level)
    rng = np.random.default_rng(0)
    ratio = np.sqrt(np.median(rng.chisquare(d, size=(reps, n)), axis=1) / stats.chi2.median(d))
    outside = float(np.mean((ratio < lo) | (ratio > hi)))
    sd = np.sqrt(level * (1 - level) / reps)
    assert outside <= level + 4 * sd  # valid (conservative for even n) ...
    assert outside >= level - (4 * sd if n % 2 else 0.06)  # ... and exact for odd n, not a loose bound


def test_spread_band_is_tighter_with_more_samples():
    small, large = spread_ratio_band(101, 2, 1e-3), spread_ratio_band(10_001, 2, 1e-3)
    assert small[0] < large[0] < 1.0 < large[1] < small[1]
    assert all(type(v) is float for v in small + large)  # plain floats: JSON-serialisable
