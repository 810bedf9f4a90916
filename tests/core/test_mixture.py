"""GaussianMixture: exact score and Tweedie identities, sampling, validation, numerics."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from scipy import stats

from samplerlab import GaussianMixture
from tests.strategies import COV_KINDS, mixtures, noise_levels, random_mixture

FAST = settings(max_examples=25, deadline=None)


def _points(gm: GaussianMixture, n: int = 5, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return gm.mean() + 3 * torch.randn(n, gm.dim, generator=g, dtype=gm.dtype)


@FAST
@given(mixtures())
def test_score_is_gradient_of_log_prob(gm):
    x = _points(gm).requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob(x).sum(), x)
    torch.testing.assert_close(gm.score(x.detach()), grad, rtol=1e-9, atol=1e-9)


@FAST
@given(mixtures(), noise_levels)
def test_tweedie_mean_matches_noised_score(gm, noise):
    a, s = noise
    x = _points(gm)
    expected = (x + s**2 * gm.noised(a, s).score(x)) / a
    torch.testing.assert_close(gm.denoise(x, a, s), expected, rtol=1e-8, atol=1e-8)


@FAST
@given(mixtures(), noise_levels)
def test_tweedie_jacobian_is_scaled_posterior_covariance(gm, noise):
    a, s = noise
    x = _points(gm, n=3)
    jac = torch.autograd.functional.jacobian(lambda z: gm.denoise(z, a, s).sum(0), x).permute(1, 0, 2)
    torch.testing.assert_close(jac, (a / s**2) * gm.denoise_cov(x, a, s), rtol=1e-7, atol=1e-8)


@FAST
@given(mixtures(), noise_levels)
def test_covariance_vector_product_matches_dense(gm, noise):
    a, s = noise
    x = _points(gm)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    dense = torch.einsum("nij,nj->ni", gm.denoise_cov(x, a, s), g)
    torch.testing.assert_close(gm.denoise_cov_vec(x, g, a, s), dense, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("kind", COV_KINDS)
def test_noised_mixture_has_shifted_covariances(kind):
    gm = random_mixture(0, 3, 4, kind)
    a, s = 0.6, 0.8
    noised = gm.noised(a, s)
    torch.testing.assert_close(noised.means, a * gm.means)
    expected = a**2 * gm.covariance_matrices() + s**2 * torch.eye(4, dtype=gm.dtype)
    torch.testing.assert_close(noised.covariance_matrices(), expected)


def test_three_covariance_forms_agree():
    iso = random_mixture(5, 3, 3, "isotropic")
    variances = iso.cov_factors.lam[:, 0]
    diag = GaussianMixture(iso.weights, iso.means, variances[:, None].expand(-1, 3))
    full = GaussianMixture(iso.weights, iso.means, iso.covariance_matrices())
    x = _points(iso, n=7)
    for other in (diag, full):
        torch.testing.assert_close(other.log_prob(x), iso.log_prob(x))
        torch.testing.assert_close(other.denoise(x, 0.7, 0.9), iso.denoise(x, 0.7, 0.9))


@pytest.mark.parametrize("kind", COV_KINDS)
def test_sample_moments_match(kind):
    """Sample mean and covariance within simultaneous normal bounds (family-wise α = 1e-4)."""
    gm = random_mixture(11, 3, 3, kind)
    n = 20_000
    x = gm.sample(n, generator=torch.Generator().manual_seed(2))
    mu, cov = gm.mean(), gm.covariance()
    d = gm.dim
    n_tests = d + d * (d + 1) // 2
    z = stats.norm.ppf(1 - 1e-4 / (2 * n_tests))  # Bonferroni over every mean and covariance entry
    assert ((x.mean(0) - mu).abs() <= z * (torch.diagonal(cov) / n).sqrt()).all()
    c = x - mu
    prods = c[:, :, None] * c[:, None, :]
    se = prods.std(0) / math.sqrt(n)  # plug-in standard error of each second moment
    assert ((prods.mean(0) - cov).abs() <= z * se + 1e-12).all()


def test_sample_labels_follow_weights():
    gm = random_mixture(3, 4, 2, "isotropic")
    n = 10_000
    _, labels = gm.sample(n, generator=torch.Generator().manual_seed(0), return_labels=True)
    counts = torch.bincount(labels, minlength=4).numpy()
    p = stats.chisquare(counts, n * gm.weights.numpy()).pvalue
    assert p > 1e-4


def test_same_generator_gives_identical_samples():
    gm = random_mixture(3, 4, 2, "full")
    a = gm.sample(50, generator=torch.Generator().manual_seed(9))
    b = gm.sample(50, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


def test_from_samples_builds_one_isotropic_component_per_row():
    x = torch.arange(6.0).reshape(3, 2)
    gm = GaussianMixture.from_samples(x, 0.5)
    assert gm.n_components == 3 and gm.cov_factors.kind == "isotropic"
    torch.testing.assert_close(gm.covariance_matrices()[0], 0.25 * torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(gm.weights, torch.full((3,), 1 / 3, dtype=torch.float64))


@pytest.mark.parametrize(
    "weights, means, cov, match",
    [
        ([0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[-1.0]]], r"covariances\[1\]: .*not symmetric positive definite"),
        ([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [[[1.0, 2.0], [0.0, 1.0]]] * 2, r"covariances\[0\]: .*not symmetric"),
        ([0.5, 0.5], [[0.0], [1.0]], [1.0, float("nan")], r"covariances: contains NaN"),
        ([0.5, 0.5], [[0.0], [1.0]], [1.0, 0.0], r"covariances: isotropic variances must be > 0"),
        ([-0.5, 1.5], [[0.0], [1.0]], [1.0, 1.0], r"weights: must be non-negative"),
        ([0.0, 0.0], [[0.0], [1.0]], [1.0, 1.0], r"weights: all weights are zero"),
        ([1.0, float("inf")], [[0.0], [1.0]], [1.0, 1.0], r"weights: contains NaN"),
        ([0.5, 0.5], [[0.0], [1.0], [2.0]], [1.0, 1.0], r"means: expected shape \(2, d\)"),
        ([0.5, 0.5], [[0.0], [1.0]], [[1.0, 1.0, 1.0]], r"covariances: expected shape"),
    ],
    ids=["non-spd", "asymmetric", "nan-cov", "zero-variance", "negative-weight", "zero-weights",
         "inf-weight", "means-shape", "cov-shape"],
)
def test_bad_input_names_field(weights, means, cov, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(weights, means, cov)


def test_wrong_point_dimension_is_rejected():
    gm = random_mixture(0, 2, 3, "isotropic")
    with pytest.raises(ValueError, match="x: last dimension is 2, expected d = 3"):
        gm.log_prob(torch.zeros(4, 2))


@pytest.mark.parametrize("kind", COV_KINDS)
@pytest.mark.parametrize("sigma", [1e-3, 1.0, 1e3])
def test_float32_and_extreme_noise_stay_finite(kind, sigma):
    gm64 = random_mixture(4, 5, 6, kind)
    gm32 = gm64.to(dtype=torch.float32)
    x = gm64.noised(1.0, sigma).sample(64, generator=torch.Generator().manual_seed(0))
    for gm in (gm64, gm32):
        xs = x.to(gm.dtype)
        assert torch.isfinite(gm.denoise(xs, 1.0, sigma)).all()
        assert torch.isfinite(gm.noised_log_prob(xs, 1.0, sigma)).all()
        assert torch.isfinite(gm.denoise_cov_vec(xs, xs, 1.0, sigma)).all()
    rel = (gm32.denoise(x.float(), 1.0, sigma).double() - gm64.denoise(x, 1.0, sigma)).norm()
    assert rel <= 1e-3 * (gm64.denoise(x, 1.0, sigma).norm() + 1)


@pytest.mark.parametrize("kind", COV_KINDS)
def test_exact_conditional_draws_have_the_tweedie_moments(kind):
    """Draws of x0 | x_t: mean and covariance within Bonferroni normal bounds (α = 1e-4) of Tweedie's."""
    gm = random_mixture(7, 3, 3, kind)
    a, s, n = 0.8, 0.9, 20_000
    x = gm.noised(a, s).sample(1, generator=torch.Generator().manual_seed(1)).expand(n, -1)
    draws = gm.denoise_sample(x, a, s, generator=torch.Generator().manual_seed(2))
    cov = gm.denoise_cov(x[:1], a, s)[0]
    z = stats.norm.ppf(1 - 1e-4 / (2 * (3 + 6)))  # 3 means and 6 distinct covariance entries
    mean = gm.denoise(x[:1], a, s)[0]
    assert ((draws.mean(0) - mean).abs() <= z * (torch.diagonal(cov) / n).sqrt()).all()
    c = draws - mean
    prods = c[:, :, None] * c[:, None, :]
    assert ((prods.mean(0) - cov).abs() <= z * prods.std(0) / math.sqrt(n)).all()  # plug-in standard errors


@pytest.mark.parametrize("rows", ["one-hot", "mixed", "mostly-mixed", "with-nan", "few-components"])
def test_responsibility_weighted_rows_match_the_gemm(rows):
    """Rows whose largest responsibility is 1 read their component's row; the rest, the GEMM."""
    from samplerlab.core.tweedie import GATHER_MIN_K, _weighted_rows

    g = torch.Generator().manual_seed(0)
    k = 5 if rows == "few-components" else GATHER_MIN_K + 6
    table = torch.randn(k, 5, generator=g, dtype=torch.float64)
    pi = torch.softmax(torch.randn(12, k, generator=g, dtype=torch.float64), -1)
    one_hot = torch.nn.functional.one_hot(torch.randint(k, (12,), generator=g), k).double()
    keep = {"one-hot": 12, "mixed": 9, "mostly-mixed": 3, "with-nan": 10, "few-components": 9}[rows]
    pi[:keep] = one_hot[:keep]
    if rows == "with-nan":
        pi[4] = float("nan")
    out = torch.empty(12, 5, dtype=torch.float64)
    got = _weighted_rows(pi, table, out=out)
    assert got.data_ptr() == out.data_ptr()
    torch.testing.assert_close(got, pi @ table, rtol=1e-14, atol=1e-14, equal_nan=True)


def test_denoiser_logits_relative_to_the_last_component_give_the_same_mean():
    """The denoiser's ``K − 1`` relative logits (small K) against the full ``log p`` path's."""
    g = torch.Generator().manual_seed(1)
    gm = GaussianMixture(torch.rand(25, generator=g, dtype=torch.float64) + 0.1,
                         3 * torch.randn(25, 8, generator=g, dtype=torch.float64),
                         torch.full((25,), 0.5, dtype=torch.float64))
    x = 2 * torch.randn(300, 8, generator=g, dtype=torch.float64)
    e_relative = gm.denoise(x, 0.8, 0.6)
    e_full, _ = gm._kernel.mean(x, 0.8, 0.6, need_logp=True)
    torch.testing.assert_close(e_relative, e_full, rtol=1e-12, atol=1e-12)
