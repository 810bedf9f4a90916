"""Trustworthy verdicts: valid p-values, and each failure named as what it is.

Every test here failed on the diagnostics that preceded them (moment-matched tails fitted to
tens of replicates, a sign test on ‖z‖² mixing location with scale, a mode-weight check that
passed when no sample was on the support, a hard 1e-4 weight cut, a ×2 radius margin and an
early-stopping sweep that blamed faults present at every stop). All runs are seeded; the
thresholds come from the exact laws quoted next to them.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import torch
from scipy import stats

from samplerlab import GaussianMixture, InverseProblem
from samplerlab.auditing.audit import audit
from samplerlab.diagnostics import (
    Truth,
    hallucination_checks,
    mode_weight_checks,
    spread_checks,
)
from samplerlab.diagnostics.distribution import projected_cdf, projections, sliced_energy
from samplerlab.diagnostics.spread import pair_within_modes
from samplerlab.diagnostics.verdicts import hypergeom_two_sided, rank_pvalue
from samplerlab.operators import Dense, Identity
from samplerlab.samplers.faults import FaultSampler, LateSpoil, Shift, Spread
from samplerlab.scenarios import load_scenario
from samplerlab.scenarios.validation_families import FAMILIES, build

# -- 1. valid p-values ------------------------------------------------------------------------

def test_monte_carlo_p_value_is_never_below_its_resolution():
    # A statistic far beyond 40 replicates used to get a gamma tail of ~1e-30; the rank p-value is
    # bounded below by 1 / (R + 1), which is what R replicates can support.
    null = np.random.default_rng(0).gamma(2.0, size=40)
    assert rank_pvalue(1e6, null) == pytest.approx(1 / 41)
    assert rank_pvalue(-1.0, null) == 1.0


def test_hypergeometric_p_values_match_brute_force():
    # 6 draws from 15 items of which 5 are successes: exact two-sided p by enumeration.
    pmf = np.array([math.comb(5, k) * math.comb(10, 6 - k) / math.comb(15, 6) for k in range(6)])
    for k in range(6):
        brute = min(1.0, 2 * min(pmf[:k + 1].sum(), pmf[k:].sum()))
        assert hypergeom_two_sided(k, 5, 6, 15) == pytest.approx(brute, rel=1e-12)


def test_projected_cdf_is_the_exact_cdf_of_the_projection():
    # Monte Carlo check of F(θᵀx) for a full-covariance mixture: the exact CDF at 5 points against
    # the empirical CDF of 200,000 draws (sd <= 0.0011; 0.006 is > 5 sd).
    problem, _, _ = build("correlated_d5")
    post = problem.posterior()
    g = torch.Generator().manual_seed(0)
    theta = projections(post.dim, g, torch.float64, "cpu", count=3)
    draws = post.sample(200_000, generator=g) @ theta
    points = torch.quantile(draws, torch.tensor([0.05, 0.3, 0.5, 0.7, 0.95], dtype=torch.float64), dim=0)
    # Points are projections: build x whose projection on theta equals them, direction by direction.
    for j in range(3):
        x = points[:, j:j + 1] * theta[:, j] / theta[:, j].square().sum()
        exact = projected_cdf(post, x, theta[:, j:j + 1])[:, 0]
        empirical = (draws[:, j:j + 1] <= points[:, j]).double().mean(0)
        assert torch.allclose(exact, empirical, atol=0.006)


def test_sliced_energy_equals_the_pairwise_formula():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 3, generator=g, dtype=torch.float64).sort(0).values
    b = (torch.randn(200, 3, generator=g, dtype=torch.float64) + 0.3).sort(0).values

    def ed1(x, y):
        return float(2 * (x[:, None] - y[None]).abs().mean() - (x[:, None] - x[None]).abs().mean()
                     - (y[:, None] - y[None]).abs().mean())

    c_d = math.sqrt(math.pi) * math.gamma(1.5) / math.gamma(1.0)  # d = 2
    assert sliced_energy(a, b, 2) == pytest.approx(c_d * np.mean([ed1(a[:, j], b[:, j]) for j in range(3)]))


@pytest.mark.parametrize("family", ["grid_d8", "bimodal_1d", "unequal_weights_2d", "correlated_d5"])
def test_checks_hold_their_size_on_exact_draws(family):
    # Fast subset of `make calibration` (sweeps/calibration.toml), through the same sweep runner and
    # report: 4 audit seeds × 25 sample streams of exact draws (n = 200). Every p-value is exact or
    # conservative, so #{p <= 0.05} over 100 runs is at most Binomial(100, 0.05); P(>= 16) = 6e-5 per check.
    import tempfile

    from samplerlab.studies.sweep import parse_spec, sweep
    from samplerlab.studies.sweep_report import calibration_rows

    spec = parse_spec({"sweep": {"study": "calibration", "samplers": ["fault:exact"], "scenarios": [f"family:{family}"],
                                 "seeds": {"start": 0, "count": 4}, "n": 200, "reports": False},
                       "params": {"fault:exact": {"stream": {"start": 0, "count": 25}}}})
    rows = calibration_rows(sweep(spec, tempfile.mkdtemp(), workers=1))
    by_check: dict[str, list[float]] = {}
    for r in rows.to_dict("records"):
        by_check.setdefault(r["check"], []).append(r["p"])
    assert stats.binom.sf(15, 100, 0.05) < 1e-4
    for check, p in by_check.items():
        assert len(p) == 100, check
        assert sum(v <= 0.05 for v in p) <= 15, check


# -- 2. location apart from spread ------------------------------------------------------------

@pytest.fixture(scope="module")
def bimodal():
    return load_scenario("bimodal_1d").problem


class TowardY(FaultSampler):
    """Exact draws pulled ``pull`` of the way to ``y`` and shrunk by ``shrink`` (DPS-like collapse)."""

    def __init__(self, problem, pull=0.6, shrink=0.6):
        super().__init__(problem)
        self.pull, self.shrink = pull, shrink

    def fault(self, x0, labels, generator):
        m = self.posterior.means[labels]
        y = self.problem.y.expand_as(x0)
        return m + self.pull * (y - m) + self.shrink * (x0 - m)


def test_shifted_cloud_reads_as_location_not_spread(bimodal):
    truth = Truth.get(bimodal, 2000, 0)
    radius, directions, pit, location = spread_checks(Shift(bimodal, 0.5)(bimodal.task(steps=5), 2000,
                                                                          torch.Generator().manual_seed(1)), truth)
    assert location.p_value < 1e-8 and location.effect == pytest.approx(0.5, abs=0.1)
    assert min(radius.p_value, directions.p_value, pit.p_value) > 1e-4


def test_location_effect_reads_the_injected_shift_within_20_percent_in_d_100():
    # The projection on a direction estimated from 500 pairs in d = 100 read ‖δ‖ cos θ: 0.40 for
    # an injected 0.5 sd (0.14 for 0.25). The debiased length reads 0.46-0.53 over five seeds
    # (s.e. about 0.03; 0.1 is the 20 % the issue asks for).
    d = 100
    prior = GaussianMixture([0.5, 0.5], [[-4.0] * d, [4.0] * d], [1.0, 1.0])
    problem = InverseProblem(prior, Identity(d), 1.0, [0.5] * d)
    truth = Truth.get(problem, 2000, 0)
    for seed in range(3):
        x = Shift(problem, 0.5, seed=seed)(problem.task(steps=5), 2000, torch.Generator().manual_seed(seed))
        location = spread_checks(x, truth)[3]
        assert location.p_value < 1e-8 and location.effect == pytest.approx(0.5, rel=0.2), (seed, location.effect)


def test_likelihood_mode_contamination_is_not_also_named_spread():
    # Four 2-D modes, x1 observed between them: 3 % of the samples moved along the null direction
    # far from every prior mode. Whitened inside a posterior component they spoiled their pairs and
    # spread was named beside likelihood_hallucination in 42 of 100 seeded audits (44 of 100 with y
    # far from the modes); leaving them out once their own test rejects at p < 1e-6: 0 of 100.
    from samplerlab.diagnostics.verdicts import holm
    from samplerlab.samplers.faults import LikelihoodHallucination

    prior = GaussianMixture([0.25] * 4, [[-3.0, -3.0], [-3.0, 3.0], [3.0, -3.0], [3.0, 3.0]], [0.5] * 4)
    problem = InverseProblem(prior, Dense(torch.tensor([[1.0, 0.0]], dtype=torch.float64)), 1.0, [0.0])
    truth = Truth.get(problem, 2000, 0)
    named = []
    for seed in range(10):
        x = LikelihoodHallucination(problem, 0.03)(problem.task(steps=5), 2000, torch.Generator().manual_seed(seed))
        checks = holm(spread_checks(x, truth) + hallucination_checks(x, truth), 1e-3)
        assert not checks[-1].passed  # the contamination itself is caught
        named += [seed] * any(not c.passed for c in checks if c.failure_mode == "spread")
    assert len(named) <= 1, f"spread named beside likelihood_hallucination in seeds {named}"
    # exact draws never open the gate (it opens with probability <= 1e-6 under the truth)
    from samplerlab.diagnostics.spread import _likelihood_mode_to_drop

    exact = truth.draws(2000, "gate")
    assert _likelihood_mode_to_drop(exact, truth, truth.evaluate(exact)) is None


def test_collapse_onto_y_reads_as_shifted_toward_y_and_narrow(bimodal):
    report = audit(TowardY(bimodal), bimodal, n=1000, steps=20, checks=["spread"])
    location, radius = report["location"], report["spread_radius"]
    assert not location.passed and "shifted toward y" in location.detail
    assert not radius.passed and radius.effect < 1  # under-dispersed, never "over-dispersed"


def test_pairs_never_cross_modes_and_ignore_ruled_out_samples():
    labels = torch.tensor([0, 1, 0, 1, 1, 2, 0, 2, 2, 2])
    use = torch.tensor([True] * 9 + [False])
    pairs = pair_within_modes(labels, use, torch.Generator().manual_seed(0))
    assert (labels[pairs.first] == labels[pairs.second]).all()
    assert 9 not in set(pairs.first) | set(pairs.second)
    assert len(pairs.first) == 1 + 1 + 1  # modes 0 and 1 with 3 samples each, mode 2 with 3 usable


# -- 3. mode weights that cannot pass vacuously -----------------------------------------------

def test_mode_weights_not_applicable_when_every_sample_is_hallucinated():
    problem = load_scenario("outlier_2d").problem
    truth = Truth.get(problem, 500, 0)
    x = truth.draws(500, "t")
    x = x + torch.tensor([30.0, -30.0], dtype=x.dtype)  # A = [1, 1]: still fits y, far from the prior
    (r,) = mode_weight_checks(x, truth)
    assert not r.applicable and r.passed and "only 0 of 500" in r.detail


class Moved(FaultSampler):
    """Exact draws with a fraction ``rate`` replaced by draws of posterior component ``k``."""

    def __init__(self, problem, k, rate):
        super().__init__(problem)
        self.k, self.rate = k, rate

    def fault(self, x0, labels, generator):
        hit = torch.rand(len(x0), generator=generator, dtype=x0.dtype) < self.rate
        z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        k = torch.full((len(x0),), self.k)
        return torch.where(hit[:, None], self.posterior.means[k] + self.posterior.cov_factors.sqrt_apply(z, k), x0)


@pytest.mark.parametrize("n", [500, 2000])
def test_twenty_percent_on_a_mode_of_weight_5e_4_is_flagged(n):
    # Three 1-D modes; y makes the left mode's posterior weight ≈ 5e-4 while a fourth, lighter
    # mode carries the 0.1 % ruled-out mass, so the left mode is judged by the mode-weight counts.
    prior = GaussianMixture([0.3, 0.3, 0.3, 0.1], [[-3.0], [0.0], [3.0], [12.0]], [0.3, 0.3, 0.3, 0.3])
    problem = InverseProblem(prior, Identity(1), 1.0, [1.5])
    w = problem.posterior().weights
    assert 2e-4 < float(w[0]) < 2e-3
    report = audit(Moved(problem, 0, 0.2), problem, n=n, steps=20, checks=["mode_weights", "hallucination"])
    assert not report.passed and report.failure_modes & {"mode_weights", "prior_hallucination"}


def test_mode_weight_effect_is_debiased_when_modes_outnumber_samples():
    problem = load_scenario("digits_inpainting").problem
    truth = Truth.get(problem, 200, 0)
    r, labels = mode_weight_checks(truth.draws(200, "t"), truth)  # digits carry their classes
    assert r.data["tv_raw"] > 0.1 and abs(r.effect) < 0.05 and r.p_value > 1e-3
    assert labels.check == "label_weights" and abs(labels.effect) < 0.05 and labels.p_value > 1e-3


def test_mode_weights_memory_does_not_grow_with_components_times_replicates(monkeypatch):
    # K = 20,000 isotropic 2-D components: the old 100,000 × K multinomial null needed 16 GB.
    # (Smaller reference sets keep the truth's set-up quick; the check's memory does not depend on them.)
    import samplerlab.core.memory as sizes

    monkeypatch.setattr(sizes, "N_REFERENCE", 2000)
    g = torch.Generator().manual_seed(0)
    k = 20_000
    prior = GaussianMixture(torch.ones(k), 30 * torch.rand(k, 2, generator=g, dtype=torch.float64),
                            0.05 * torch.ones(k))
    problem = InverseProblem(prior, Dense(torch.tensor([[1.0, 0.0]], dtype=torch.float64)), 0.5, [15.0])
    truth = Truth.get(problem, 500, 0)
    x = truth.draws(500, "t")
    ev = truth.evaluate(x)
    tracemalloc.start()
    (r,) = mode_weight_checks(x, truth, ev)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert r.applicable and peak < 50e6


# -- 4. hallucination types defined by densities ----------------------------------------------

@pytest.mark.parametrize("sd", [0.3, 2.0], ids=["narrow", "broad"])
def test_cloud_that_fits_y_six_prior_sd_away_is_likelihood_mode(sd):
    prior = GaussianMixture([0.5, 0.5], [[-1.5, 0.0], [1.5, 0.0]], [sd**2, sd**2])
    problem = InverseProblem(prior, Dense(torch.tensor([[1.0, 0.0]], dtype=torch.float64)), 0.3, [1.0])
    truth = Truth.get(problem, 2000, 0)
    x = truth.draws(2000, "t")
    x[:, 1] = 6 * sd + 0.3 * sd * torch.randn(2000, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    prior_mode, lik_mode = hallucination_checks(x, truth)
    assert lik_mode.p_value < 1e-10 and lik_mode.effect > 0.5 and prior_mode.p_value > 1e-3


@pytest.mark.parametrize("family", ["grid_d8", "bimodal_1d", "unequal_weights_2d", "anisotropic_d50_m10"])
def test_overdispersion_up_to_1_3_is_not_hallucination(family):
    problem, _, _ = build(family)
    truth = Truth.get(problem, 2000, 0)
    for seed in range(3):
        x = Spread(problem, 1.3)(problem.task(steps=5), 2000, torch.Generator().manual_seed(seed))
        assert all(c.p_value > 1e-4 for c in hallucination_checks(x, truth)), seed


# -- 5. early stopping blames only what enters late ---------------------------------------------

@pytest.mark.parametrize("fault", [lambda p: Spread(p, 1.6), lambda p: Spread(p, 0.7), lambda p: Shift(p, 0.5)],
                         ids=["inflate", "shrink", "shift"])
def test_fault_present_at_every_stop_is_not_early_stopping(bimodal, fault):
    # Under such a fault the stopped and the pushed-through outputs are exchangeable pairs, so the
    # sweep's p-value is exactly super-uniform: all 8 seeds above 1e-3 fails with probability < 0.008.
    for seed in range(8):
        report = audit(fault(bimodal), bimodal, n=500, seed=seed, steps=200, checks=["early_stopping_sweep"])
        assert report["early_stopping_sweep"].p_value > 1e-3, seed


def test_fault_entering_in_the_last_steps_is_early_stopping(bimodal):
    report = audit(LateSpoil(bimodal), bimodal, n=2000, steps=200, checks=["early_stopping_sweep"])
    sweep = report["early_stopping_sweep"]
    assert not report.passed and sweep.p_value < 1e-6 and sweep.effect > 0.52


def test_stopped_output_is_the_prior_denoiser_the_readme_asks_for(bimodal):
    # The exact sampler stopped at t returns task.denoise(a x0 + s ε, t), the sweep's counterpart law;
    # the zoo's reverse samplers keep the base class's final estimate (the prior denoiser) too.
    from samplerlab.samplers._base import ReverseSampler
    from samplerlab.samplers.oracle import Oracle
    from samplerlab.samplers.tmpd import TMPD

    task = bimodal.task(steps=200)
    sub = task.with_timesteps(task.timesteps[task.timesteps >= 0.05])
    out = Spread(bimodal, 1.0)(sub, 50, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    x0 = bimodal.posterior().sample(50, generator=g)
    eps = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    t = sub.timesteps[-1]
    assert torch.equal(out, task.denoise(task.alpha(t) * x0 + task.sigma(t) * eps, t))
    assert Oracle.final_estimate is ReverseSampler.final_estimate is TMPD.final_estimate


@pytest.mark.parametrize("chunk", [None, 1000], ids=["one-buffer", "rows-in-several-buffers"])
def test_energy_cross_sum_paths_agree(chunk, monkeypatch):
    # The CPU path (merge of sorted runs, in cache-sized buffers of rows) and the GPU path (binary
    # search) compute the same sum; 1000 elements hold 2 of the 21 pooled rows: 11 buffers, the last partial.
    from samplerlab.diagnostics import distribution
    from samplerlab.diagnostics.distribution import _within_sum, cross_sum_pooled, cross_sum_search

    if chunk is not None:
        monkeypatch.setattr(distribution, "CHUNK_ELEMENTS", chunk)

    g = torch.Generator().manual_seed(4)
    a = torch.randn(3, 7, 300, generator=g, dtype=torch.float64).sort(-1).values
    b = torch.randn(7, 200, generator=g, dtype=torch.float64).sort(-1).values.expand(3, 7, 200)
    brute = (a[..., :, None] - b[..., None, :]).abs().sum((-1, -2))
    torch.testing.assert_close(cross_sum_search(a, b), brute, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(cross_sum_pooled(a, b, _within_sum(a), _within_sum(b)), brute, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind", ["isotropic-posterior", "isotropic-posterior-L=d", "full-covariance"])
def test_projected_draws_have_the_exact_projected_moments(kind, dtype):
    # Null replicates are drawn in projection space when all components share a covariance (and
    # L < d), from full draws otherwise; the distribution null draws them in float32 (θ's dtype).
    # The draws' mean and covariance must match θᵀμ and θᵀΣθ of the mixture: with n = 200,000 the
    # standardised mean error of each coordinate is N(0, 1); 5 (Bonferroni over 8, α ≈ 5e-6) bounds it.
    from samplerlab.studies.validation import grid_problem

    if kind.startswith("isotropic-posterior"):
        post = grid_problem(8, 2, seed=1).posterior()
    else:
        g = torch.Generator().manual_seed(3)
        b = torch.randn(3, 4, 4, generator=g, dtype=torch.float64)
        post = GaussianMixture([0.2, 0.3, 0.5], torch.randn(3, 4, generator=g, dtype=torch.float64),
                               b @ b.transpose(1, 2) + 0.1 * torch.eye(4, dtype=torch.float64))
    count = post.dim if kind.endswith("L=d") else 8 if post.dim > 8 else 3
    theta = projections(post.dim, torch.Generator().manual_seed(0), torch.float64, "cpu", count=count)
    n = 200_000
    x = post.sample_projected(n, theta.to(dtype), torch.Generator().manual_seed(1))
    assert x.dtype == dtype
    x = x.double()
    w, m, cov = post.weights, post.means, post.covariance_matrices()
    mu = w @ m
    second = torch.einsum("k,kij->ij", w, cov + m[:, :, None] * m[:, None, :])
    exact_mean, exact_cov = theta.T @ mu, theta.T @ (second - torch.outer(mu, mu)) @ theta
    z = (x.mean(0) - exact_mean) / (exact_cov.diagonal() / n).sqrt()
    assert z.abs().max() < 5, z
    rel = (torch.cov(x.T) - exact_cov).abs().max() / exact_cov.diagonal().max()
    assert rel < 0.02, rel


@pytest.mark.slow
@pytest.mark.parametrize("family", [name for name in FAMILIES if name != "bimodal_1d"])  # bimodal_1d: no null space
def test_likelihood_mode_contamination_is_named_spread_in_at_most_5_percent_on_each_validation_family(family):
    # 60 seeded audits of 3 % likelihood-mode contamination (n = 2000, Holm at 1e-3 over the
    # spread, location and hallucination checks). Before the gate: 13/60 on unequal_weights_2d,
    # 4/60 on correlated_d5, 2/60 on digits_500; after it 0/60 on every family.
    from samplerlab.diagnostics.verdicts import holm
    from samplerlab.samplers.faults import LikelihoodHallucination

    problem, schedule, _ = build(family)
    fault, truth = LikelihoodHallucination(problem, 0.03), Truth.get(problem, 2000, 0)
    named = caught = 0
    for seed in range(60):
        x = fault(problem.task(schedule=schedule, steps=5), 2000, torch.Generator().manual_seed(100 + seed))
        checks = holm(spread_checks(x, truth) + hallucination_checks(x, truth), 1e-3)
        named += any(not c.passed for c in checks if c.failure_mode == "spread")
        caught += not checks[-1].passed
    assert caught >= 57 and named <= 3, (caught, named)
