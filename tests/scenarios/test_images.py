"""Real-image priors at scale: bundled data, image operators, chunking and float32 precision."""

from __future__ import annotations

import pytest
import torch

from samplerlab import InverseProblem
from samplerlab.operators.images import IMAGE_OPERATORS, box_inpainting, random_inpainting
from samplerlab.scenarios.images import DATASETS, finite_sample_prior, fitted_prior, load_images


@pytest.fixture(scope="module")
def big_prior():
    """≥ 20,000 components at d = 1024: 32×32 natural-image patches."""
    return finite_sample_prior(load_images("patches", size=32, n=20_000), 0.05)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_bundled_data_sets_load_in_range(name):
    data = load_images(name)
    assert data.images.shape[1] == data.shape[0] * data.shape[1]
    assert data.images.min() >= -1 and data.images.max() <= 1 and data.images.std() > 0.1


def test_unknown_data_set_is_rejected():
    with pytest.raises(ValueError, match="images: unknown data set 'mnist'"):
        load_images("mnist")


def test_patches_are_reproducible():
    assert torch.equal(load_images("patches", n=10, seed=3).images, load_images("patches", n=10, seed=3).images)


OPERATORS = {
    "box_inpainting": lambda: box_inpainting((16, 16), 4, 4, 8, 8),
    "random_inpainting": lambda: random_inpainting((16, 16), 0.7, torch.Generator().manual_seed(0)),
    "superresolution": lambda: IMAGE_OPERATORS["superresolution"]((16, 16), 4),
    "gaussian_blur": lambda: IMAGE_OPERATORS["gaussian_blur"]((16, 16), 1.0),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_image_operator_is_adjoint_and_has_an_svd(name):
    op = OPERATORS[name]()
    assert op.adjointness_test() < 1e-10
    u, s, v = op.svd()
    torch.testing.assert_close((u * s) @ v.T, op.matrix(), atol=1e-10, rtol=0)


def test_image_operator_arguments_are_checked():
    with pytest.raises(ValueError, match=r"box: \(6, 0, 4, 4\) does not fit"):
        box_inpainting((8, 8), 6, 0, 4, 4)
    with pytest.raises(ValueError, match=r"missing: expected a fraction in \[0, 1\)"):
        random_inpainting((8, 8), 1.0)


def test_chunked_denoiser_equals_the_unchunked_one(big_prior):
    x = big_prior.noised(1.0, 0.3).sample(40, generator=torch.Generator().manual_seed(1))
    # float64 isotropic: a row costs K logits, so K·16 elements make chunks of 16 rows
    small = big_prior.with_max_elements(big_prior.n_components * 16)
    assert small._kernel._row_chunk(40) < 40
    torch.testing.assert_close(small.denoise(x, 1.0, 0.3), big_prior.denoise(x, 1.0, 0.3), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(small.noised_log_prob(x, 1.0, 0.3), big_prior.noised_log_prob(x, 1.0, 0.3))


@pytest.mark.parametrize("sigma", [0.01, 0.1, 1.0, 10.0])
def test_float32_denoiser_tracks_float64(big_prior, sigma):
    """Float32 with top-k refinement: responsibilities within TV 1e-3, denoiser within 1e-4 relative."""
    x = big_prior.noised(1.0, sigma).sample(32, generator=torch.Generator().manual_seed(2))
    p32 = big_prior.to(dtype=torch.float32)
    e64, e32 = big_prior.denoise(x, 1.0, sigma), p32.denoise(x.float(), 1.0, sigma).double()
    assert ((e32 - e64).norm(dim=1) / e64.norm(dim=1)).max() < 1e-4
    r64 = big_prior.noised(1.0, sigma).responsibilities(x)
    r32 = p32.noised(1.0, sigma).responsibilities(x.float()).double()
    assert 0.5 * (r32 - r64).abs().sum(1).max() < 1e-3


@pytest.mark.parametrize("sigma", [0.01, 0.1, 1.0, 10.0])
def test_tf32_screening_keeps_the_float32_accuracy(big_prior, sigma):
    """TF32 screening (operands rounded to 10 mantissa bits, as tensor cores read them; emulated
    off CUDA) then float32 refinement of the top 32: the same documented accuracy as float32."""
    x = big_prior.noised(1.0, sigma).sample(32, generator=torch.Generator().manual_seed(3))
    p32 = big_prior.to(dtype=torch.float32)
    p32._kernel.screen = "tf32"
    e64, e32 = big_prior.denoise(x, 1.0, sigma), p32.denoise(x.float(), 1.0, sigma).double()
    assert ((e32 - e64).norm(dim=1) / e64.norm(dim=1)).max() < 1e-4
    noised32 = p32.noised(1.0, sigma)
    noised32._kernel.screen = "tf32"
    r64 = big_prior.noised(1.0, sigma).responsibilities(x)
    r32 = noised32.responsibilities(x.float()).double()
    assert 0.5 * (r32 - r64).abs().sum(1).max() < 1e-3


@pytest.mark.parametrize("sigma", [0.01, 0.1, 1.0, 10.0])
def test_float64_logits_keep_the_float32_accuracy(big_prior, sigma):
    """Float32 rows whose isotropic logits are computed in float64 (the path taken on cards with
    fast float64 GEMMs, forced here): the same documented accuracy as the refinement, without it."""
    x = big_prior.noised(1.0, sigma).sample(32, generator=torch.Generator().manual_seed(4))
    p32 = big_prior.to(dtype=torch.float32)
    p32._kernel.logits_dtype = torch.float64
    e64, e32 = big_prior.denoise(x, 1.0, sigma), p32.denoise(x.float(), 1.0, sigma)
    assert e32.dtype == torch.float32
    assert ((e32.double() - e64).norm(dim=1) / e64.norm(dim=1)).max() < 1e-4
    lp64, lp32 = big_prior.noised_log_prob(x, 1.0, sigma), p32.noised_log_prob(x.float(), 1.0, sigma).double()
    assert ((lp32 - lp64).abs() / lp64.abs().clamp_min(1)).max() < 1e-5
    chunked = p32.with_max_elements(p32.n_components * 8)  # chunks of 8 rows, written into one output
    chunked._kernel.logits_dtype = torch.float64
    assert chunked._kernel._row_chunk(len(x)) < len(x)
    torch.testing.assert_close(chunked.denoise(x.float(), 1.0, sigma), e32, rtol=1e-6, atol=1e-6)
    noised32 = p32.noised(1.0, sigma)
    noised32._kernel.logits_dtype = torch.float64
    r64 = big_prior.noised(1.0, sigma).responsibilities(x)
    r32 = noised32.responsibilities(x.float()).double()
    assert 0.5 * (r32 - r64).abs().sum(1).max() < 1e-3


def test_posterior_at_image_scale_is_exact_and_finite(big_prior):
    """Super-resolution posterior of the 20,000-image prior: weights sum to one, means fit y."""
    op = IMAGE_OPERATORS["superresolution"]((32, 32), 4)
    problem = InverseProblem.simulate(big_prior, op, 0.05, torch.Generator().manual_seed(0))
    post = problem.posterior()
    assert post.n_components == 20_000 and torch.isfinite(post.log_weights).all()
    draws = post.sample(8, generator=torch.Generator().manual_seed(1))
    resid = (op.forward(draws) - problem.y).square().mean()
    # a sanity bound, not a calibrated test: draws reproduce y to the noise level σ_y (and h = σ_y here)
    assert resid < 4 * 0.05**2


def test_fitted_prior_is_a_smooth_mixture():
    prior = fitted_prior(load_images("digits"), components=10, covariance="diag", seed=0)
    assert prior.n_components == 10 and prior.cov_factors.kind == "diagonal"
    assert torch.isfinite(prior.log_prob(load_images("digits").images[:5])).all()
