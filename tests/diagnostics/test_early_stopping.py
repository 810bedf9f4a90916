"""Early stopping, two-sided: the stop-time sign tests (``early_stopping_sweep``) and the stop-time
profile (``early_stopping_profile``) — flagged in either direction, ties dropped, not applicable
when most pairs tie, stops at the same noise levels on every schedule (docs/early_stopping.md)."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from samplerlab.auditing.audit import audit
from samplerlab.auditing.pipeline import as_scenario, run
from samplerlab.core.schedules import EDM, VE, VPCosine, VPLinear
from samplerlab.diagnostics import early_stopping as es
from samplerlab.diagnostics.truth import Truth
from samplerlab.diagnostics.verdicts import holm
from samplerlab.render.tables import summary_row
from samplerlab.samplers.faults import exact_sampler

N = 2000  # the smallest n at which DPS's sweep is decisive with margin (p ~ 1e-15; at 1000 one seed gives 4e-6)
STOP = 0.05  # the one stop of the constructed pair sets
FAR = 1e3  # a point this far from both modes has level 0 at every stop: badness saturated at ½


@pytest.fixture(scope="module")
def reports():
    """``{(sampler, scenario): report}`` of the early-stopping checks at n = 2000, the scenarios' 200 steps."""
    pairs = [("dps", "bimodal_1d"), ("ddrm", "bimodal_1d"), ("oracle", "bimodal_1d"), ("dps", "outlier_2d")]
    return {(s, sc): run(s, sc, n=N, checks=["early_stopping"]) for s, sc in pairs}


@pytest.fixture(scope="module")
def bimodal_truth():
    return Truth.get(as_scenario("bimodal_1d").problem, 100, 0)


def _pairs(truth: Truth, wins: int, losses: int, ties: int) -> dict:
    """Sweep outputs ``{0: full run, STOP: stopped}`` whose pairs at ``STOP`` are ``wins`` wins, ``losses``
    losses and ``ties`` ties by construction. ``central`` is the point of an exact pool whose level at
    ``STOP`` is nearest ½ (badness ~ 0); a ``FAR`` point has level 0 before and after the push (badness ½).
    A win: full run far, stopped central. A loss: full run central (pushed through, it moves by ~0.15,
    its level stays inside (0, 1)), stopped far. A tie: both far."""
    n = wins + losses + ties
    assert n == truth.n
    ref = es._reference(truth, VPLinear(), [0.0, STOP])[1]
    (pool,) = es.exact_stopped(truth, VPLinear(), [STOP], "test-pairs-pool", 2000)
    central = pool[int(abs(es._level(es._logp(truth, pool), ref) - 0.5).argmin())]
    end, stopped = torch.full_like(pool[:n], FAR), torch.full_like(pool[:n], FAR)
    stopped[:wins] = central
    end[wins:wins + losses] = central
    return {0.0: end, STOP: stopped}


# -- constructed pair sets: the sign test, ties, the n/a rule, the direction ------------------------

def test_ties_are_dropped_from_the_sign_test(bimodal_truth):
    r = es.stop_sweep_check(_pairs(bimodal_truth, 30, 10, 60), bimodal_truth, VPLinear())
    assert (r.data["wins"], r.data["losses"], r.data["ties"]) == ([30], [10], [60])
    on_40 = stats.binomtest(30, 40, 0.5).pvalue  # 2.2e-3; counting the ties as pairs (30 of 100) would give 9e-5
    assert r.data["p_badness"][0] == pytest.approx(on_40, rel=1e-9)
    assert es._sign_p(30, 10) == pytest.approx(on_40, rel=1e-12) and es._sign_p(0, 0) == 1.0


@pytest.mark.parametrize("ties, applicable", [(50, True), (51, False)], ids=["exactly-half", "more-than-half"])
def test_not_applicable_only_when_more_than_half_the_pairs_tie(bimodal_truth, ties, applicable):
    r = es.stop_sweep_check(_pairs(bimodal_truth, 100 - ties - 20, 20, ties), bimodal_truth, VPLinear())
    assert r.data["ties"] == [ties] and r.applicable is applicable
    if not applicable:
        assert r.p_value is None and f"{ties} of 100 pairs tie" in r.detail


def test_stopped_output_worse_than_the_pushed_full_run_is_flagged(bimodal_truth):
    # The one-sided test asked only whether stopping early wins: 10 wins in 100 pairs passed it (p ~ 1).
    (r,) = holm([es.stop_sweep_check(_pairs(bimodal_truth, 10, 60, 30), bimodal_truth, VPLinear())], 1e-3)
    assert (r.data["wins"], r.data["losses"], r.data["ties"]) == ([10], [60], [30])
    assert r.p_value == pytest.approx(2 * stats.binomtest(10, 70, 0.5).pvalue, rel=1e-9)  # 1.6e-9: Bonferroni × 2
    assert not r.passed and "farther from" in r.detail and r.effect == pytest.approx(10 / 70)


# -- default stops ------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), VE(), EDM()], ids=repr)
def test_default_stops_are_at_the_same_noise_levels_on_every_schedule(schedule):
    stops = es.default_stops(schedule)
    ratios = [float(schedule.sigma(t) / schedule.alpha(t)) for t in stops]
    assert ratios == pytest.approx(list(es.NOISE_LEVELS), rel=1e-2)  # t rounded to 1e-4 and max(ratios) >= 0.1
    assert list(stops) == sorted(stops) and (max(stops) >= 0.1 or not isinstance(schedule, (VPLinear, VPCosine)))


@pytest.mark.parametrize("schedule", [VPLinear(), VE(), EDM()], ids=repr)
def test_audit_stops_sit_at_the_noise_levels_snapped_to_the_grid(schedule):
    # Each stop is snapped down in process order (to the last grid time >= t_stop): its noise level is at
    # or just above the target, within one of the 200 grid steps (< 25 % at the smallest level on vp_linear).
    problem = as_scenario("bimodal_1d").problem
    r = audit(exact_sampler(problem), problem, n=100, steps=200, schedule=schedule,
              checks=["early_stopping_sweep"])["early_stopping_sweep"]
    levels = [float(schedule.sigma(t) / schedule.alpha(t)) for t in r.data["t_stop"][1:]]
    assert r.applicable and all(v * (1 - 1e-3) <= got <= 1.25 * v for got, v in zip(levels, es.NOISE_LEVELS)), levels


# -- samplers of the zoo at n = 2000 --------------------------------------------------------------

@pytest.mark.parametrize("sampler, direction", [("dps", "farther from"), ("ddrm", "closer to")])
def test_dps_and_ddrm_on_bimodal_1d_fail_the_sweep_with_its_direction(reports, sampler, direction):
    report = reports[(sampler, "bimodal_1d")]
    sweep = report["early_stopping_sweep"]
    assert sweep.applicable and not sweep.passed and "early_stopping" in report.failure_modes
    assert sweep.p_value < 1e-10  # measured 2.6e-15 (DPS) and 2.5e-24 (DDRM): far below α = 1e-3
    assert f"{direction} its exact counterpart than the full run pushed to that time" in sweep.detail


def test_dps_on_outlier_2d_sweep_is_not_applicable_and_not_a_pass(reports):
    report = reports[("dps", "outlier_2d")]
    sweep = report["early_stopping_sweep"]
    assert not sweep.applicable and sweep.p_value is None and f"{N} of {N} pairs tie" in sweep.detail
    assert summary_row("outlier_2d", "dps", report)["early_stopping"] == "n/a"
    lines = report.summary().splitlines()
    assert not any("early_stopping_sweep" in line for line in lines if line.lstrip().startswith("✓"))
    assert any(line.lstrip().startswith("– early_stopping_sweep: not applicable") for line in lines)


def test_oracle_passes_and_its_pairs_are_counted_per_stop(reports):
    report = reports[("oracle", "bimodal_1d")]
    sweep = report["early_stopping_sweep"]
    assert sweep.applicable and sweep.passed and sweep.p_value > 0.05
    assert summary_row("bimodal_1d", "oracle", report)["early_stopping"] == "pass"
    stops = len(sweep.data["t_stop"]) - 1
    assert stops == len(es.NOISE_LEVELS)
    for key in ("wins", "losses", "ties", "denser", "sparser", "p_badness", "p_level"):
        assert len(sweep.data[key]) == stops, key
    assert [w + lo + t for w, lo, t in zip(sweep.data["wins"], sweep.data["losses"], sweep.data["ties"])] == [N] * stops


# -- the stop-time profile -----------------------------------------------------------------------

def _inside(profile) -> list[bool]:
    d = profile.data
    return [lo <= w <= hi for w, lo, hi in zip(d["w1"], d["band_lo"], d["band_hi"])]


def test_oracle_profile_lies_in_the_exact_band_and_is_not_called_sensitive(reports):
    """Each stop lies outside its 5-95 % band with probability ~0.1 and the change beyond every
    replicate with probability 0.01 under an exact chain (150 seeds: 0.09-0.14 and 0.007), so three
    of five stops outside or the "sensitive" words would be a 1 % event each."""
    profile = reports[("oracle", "bimodal_1d")]["early_stopping_profile"]
    assert profile.applicable and profile.role == "info" and sum(_inside(profile)) >= 3
    assert profile.p_value > 0.01 and "sensitive" not in profile.detail


def test_dps_profile_leaves_the_band_at_t0_and_improves_when_stopped(reports):
    profile = reports[("dps", "bimodal_1d")]["early_stopping_profile"]
    w, hi = profile.data["w1"], profile.data["band_hi"]
    # on the profile's first 100 rows: 1.08 against a band topping at 0.30; 1.08 -> 0.53 at t = 0.105
    assert not _inside(profile)[0] and w[0] > 2 * hi[0]
    assert min(w[1:]) < 0.7 * w[0] and profile.data["best_stop"] > 0 and "sensitive to early stopping" in profile.detail
    assert "closer to its exact counterpart than the full run" in profile.detail
