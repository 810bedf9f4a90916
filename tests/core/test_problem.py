"""InverseProblem: exact posterior, noised posterior and p(y|x_t) against brute force."""

from __future__ import annotations

import math

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem
from samplerlab.core.schedules import VE, VPLinear
from samplerlab.operators import Dense, Identity, Mask
from tests.strategies import COV_KINDS, random_dense, random_mixture


def _normal_logpdf(y, mean, var):
    return -0.5 * ((y - mean) ** 2 / var + math.log(2 * math.pi * var))


@pytest.mark.parametrize("kind", COV_KINDS)
def test_posterior_matches_bayes_on_a_1d_grid(kind):
    prior = random_mixture(2, 3, 1, kind, spread=2.0)
    problem = InverseProblem(prior, Dense([[1.3]]), 0.7, [0.9])
    grid = torch.linspace(-15, 15, 6001, dtype=torch.float64)[:, None]
    log_joint = prior.log_prob(grid) + _normal_logpdf(0.9, 1.3 * grid[:, 0], 0.49)
    dx = grid[1, 0] - grid[0, 0]
    brute = log_joint - torch.logsumexp(log_joint, 0) - dx.log()
    exact = problem.posterior().log_prob(grid)
    mask = brute > -20  # compare where the density is not negligible
    torch.testing.assert_close(exact[mask], brute[mask], rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", COV_KINDS)
def test_posterior_matches_bayes_on_a_2d_grid(kind):
    prior = random_mixture(3, 3, 2, kind, spread=2.0)
    op = Dense([[1.0, -0.5]])
    problem = InverseProblem(prior, op, 0.5, [0.4])
    g1 = torch.linspace(-14, 14, 561, dtype=torch.float64)
    grid = torch.cartesian_prod(g1, g1)
    log_joint = prior.log_prob(grid) + _normal_logpdf(0.4, grid @ torch.tensor([1.0, -0.5], dtype=torch.float64), 0.25)
    area = (g1[1] - g1[0]) ** 2
    brute = log_joint - torch.logsumexp(log_joint, 0) - area.log()
    exact = problem.posterior().log_prob(grid)
    mask = brute > -15
    torch.testing.assert_close(exact[mask], brute[mask], rtol=0, atol=1e-6)


def test_covariance_forms_give_the_same_posterior():
    iso = random_mixture(8, 4, 5, "isotropic")
    full = GaussianMixture(iso.weights, iso.means, iso.covariance_matrices())
    diag = GaussianMixture(iso.weights, iso.means, iso.cov_factors.lam.expand(-1, 5))
    op = random_dense(1, 3, 5)
    y = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    ref = InverseProblem(iso, op, 0.4, y).posterior()
    for other in (full, diag):
        post = InverseProblem(other, op, 0.4, y).posterior()
        torch.testing.assert_close(post.weights, ref.weights)
        torch.testing.assert_close(post.means, ref.means)
        torch.testing.assert_close(post.covariance_matrices(), ref.covariance_matrices())


@pytest.mark.parametrize("kind", COV_KINDS)
def test_noised_posterior_at_zero_noise_is_the_posterior(kind):
    problem = InverseProblem.simulate(random_mixture(1, 3, 3, kind), random_dense(2, 2, 3), 0.3,
                                      torch.Generator().manual_seed(0))
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(problem.noised_posterior(1.0, 0.0).log_prob(x), problem.posterior().log_prob(x))


@pytest.mark.parametrize("schedule", [VPLinear(), VE(sigma_max=1000.0)], ids=["vp_linear", "ve"])
def test_noised_posterior_at_large_noise_tends_to_the_reference_law(schedule):
    problem = InverseProblem.simulate(random_mixture(1, 3, 3, "full"), random_dense(2, 2, 3), 0.3,
                                      torch.Generator().manual_seed(0))
    a, s = schedule.alpha(1.0), schedule.sigma(1.0)
    noised = problem.noised_posterior(a, s)
    ref = schedule.reference_std() ** 2 * torch.eye(3, dtype=torch.float64)
    # mean a·m̄ and covariance a² Σ + s² I: distance to N(0, r² I) at most a·|m̄| and a²|Σ| + |s² − r²|·|I|
    post = problem.posterior()
    assert noised.mean().norm() <= a * post.mean().norm() + 1e-12
    err = (noised.covariance() - ref).norm()
    bound = a**2 * post.covariance().norm() + abs(s**2 - schedule.reference_std() ** 2) * 3**0.5
    # s² I is formed and subtracted at scale s² (1e6 for VE): allow a few ulps of s² of round-off.
    assert err <= bound + 1e-12 + 64 * torch.finfo(torch.float64).eps * float(s) ** 2
    assert err / ref.norm() < 1e-3


@pytest.mark.parametrize("kind", COV_KINDS)
def test_exact_likelihood_is_normalised_over_y(kind):
    prior = random_mixture(6, 3, 2, kind, spread=2.0)
    x_t = torch.tensor([[0.3, -0.8], [2.0, 1.0]], dtype=torch.float64)
    ys = torch.linspace(-40, 40, 8001, dtype=torch.float64)
    op = Dense([[0.8, 1.1]])
    lls = torch.stack([InverseProblem(prior, op, 0.6, [float(y)]).log_likelihood(x_t, 0.8, 0.6) for y in ys[::10]])
    dy = (ys[10] - ys[0])
    total = lls.exp().sum(0) * dy
    torch.testing.assert_close(total, torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", COV_KINDS)
def test_exact_likelihood_satisfies_bayes_rule(kind):
    """log p(y|x_t) − log p_t(x_t|y) + log p_t(x_t) = log p(y), the same for every x_t."""
    problem = InverseProblem.simulate(random_mixture(4, 3, 3, kind), random_dense(0, 2, 3), 0.5,
                                      torch.Generator().manual_seed(3))
    a, s = 0.7, 0.9
    x = problem.prior.noised(a, s).sample(20, generator=torch.Generator().manual_seed(4))
    evidence = (problem.log_likelihood(x, a, s) - problem.noised_posterior(a, s).log_prob(x)
                + problem.prior.noised(a, s).log_prob(x))
    torch.testing.assert_close(evidence, evidence[:1].expand(20), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", COV_KINDS)
def test_exact_likelihood_gradient_matches_finite_differences(kind):
    problem = InverseProblem.simulate(random_mixture(4, 3, 3, kind), random_dense(0, 2, 3), 0.5,
                                      torch.Generator().manual_seed(3))
    x = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(problem.log_likelihood(x, 0.8, 0.7).sum(), x)
    h = 1e-6
    eye = torch.eye(3, dtype=torch.float64)
    fd = torch.stack([(problem.log_likelihood(x.detach() + h * e, 0.8, 0.7)
                       - problem.log_likelihood(x.detach() - h * e, 0.8, 0.7)) / (2 * h) for e in eye], -1)
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sigma_y", [1e-4, 1e-2, 1.0, 10.0])
@pytest.mark.parametrize("sigma", [1e-3, 1.0, 1e3])
def test_no_nan_across_noise_ranges(sigma_y, sigma):
    problem = InverseProblem.simulate(random_mixture(4, 5, 6, "isotropic"), Mask(6, [0, 2, 5]), sigma_y,
                                      torch.Generator().manual_seed(3))
    x = problem.noised_posterior(1.0, sigma).sample(32, generator=torch.Generator().manual_seed(1))
    post = problem.posterior()
    assert torch.isfinite(post.log_prob(post.sample(32, generator=torch.Generator().manual_seed(2)))).all()
    assert torch.isfinite(problem.noised_posterior(1.0, sigma).log_prob(x)).all()
    assert torch.isfinite(problem.log_likelihood(x, 1.0, sigma)).all()
    assert torch.isfinite(post.denoise(x, 1.0, sigma)).all()


def test_simulate_is_reproducible():
    prior, op = random_mixture(4, 3, 3, "full"), random_dense(0, 2, 3)
    p1 = InverseProblem.simulate(prior, op, 0.5, torch.Generator().manual_seed(3))
    p2 = InverseProblem.simulate(prior, op, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(p1.y, p2.y) and torch.equal(p1.x_star, p2.x_star)


@pytest.mark.parametrize(
    "operator, sigma_y, y, match",
    [
        (Identity(2), 0.5, [0.0, 0.0], "operator: input dimension 2 does not match prior dimension 3"),
        (Identity(3), 0.5, [0.0, float("nan"), 0.0], "y: contains NaN"),
        (Identity(3), 0.5, [0.0, 0.0], r"y: expected shape \(3,\)"),
        (Identity(3), -1.0, [0.0, 0.0, 0.0], "sigma_y: expected a positive finite number"),
        (Identity(3), float("inf"), [0.0, 0.0, 0.0], "sigma_y: expected a positive finite number"),
    ],
    ids=["dimension-mismatch", "nan-y", "y-shape", "negative-sigma", "inf-sigma"],
)
def test_bad_problem_input_names_field(operator, sigma_y, y, match):
    with pytest.raises(ValueError, match=match):
        InverseProblem(random_mixture(0, 2, 3, "isotropic"), operator, sigma_y, y)


@pytest.mark.parametrize("operator", [Mask(5, [4, 1, 2]), Identity(5), random_dense(3, 2, 5)],
                         ids=["mask", "identity", "dense"])
def test_isotropic_fast_posterior_matches_the_dense_update(operator):
    iso = random_mixture(8, 4, 5, "isotropic")
    full = GaussianMixture(iso.weights, iso.means, iso.covariance_matrices())
    y = operator.forward(torch.linspace(-1, 1, 5, dtype=torch.float64))
    fast, dense = InverseProblem(iso, operator, 0.3, y).posterior(), InverseProblem(full, operator, 0.3, y).posterior()
    expected_kind = "shared" if isinstance(operator, Dense) else "diagonal"
    assert fast.cov_factors.kind == expected_kind
    torch.testing.assert_close(fast.weights, dense.weights)
    torch.testing.assert_close(fast.means, dense.means)
    torch.testing.assert_close(fast.covariance_matrices(), dense.covariance_matrices())
