"""Schedules (one time convention) and the Task a sampler sees."""

from __future__ import annotations

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem
from samplerlab.core.schedules import SCHEDULES, VPLinear, get_schedule
from tests.strategies import random_dense, random_mixture

ALL = sorted(SCHEDULES)


@pytest.mark.parametrize("name", ALL)
def test_schedule_starts_clean_and_noise_increases(name):
    sched = get_schedule(name)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    a, s = sched.alpha(t), sched.sigma(t)
    assert a[0] == 1 and s[0] == 0
    assert (torch.diff(s / a) > 0).all()  # the noise-to-signal ratio is strictly increasing
    if sched.variance_preserving:
        torch.testing.assert_close(a**2 + s**2, torch.ones_like(t))


@pytest.mark.parametrize("name", ALL)
def test_timesteps_are_a_decreasing_grid_from_one(name):
    grid = get_schedule(name).timesteps(50, t_stop=0.2)
    assert grid.shape == (51,) and grid[0] == 1 and abs(float(grid[-1]) - 0.2) < 1e-12
    assert (torch.diff(grid) < 0).all()


def test_vp_linear_matches_ddpm_discrete_alpha_bar():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    torch.testing.assert_close(VPLinear().alpha(t) ** 2, alpha_bar)


@pytest.mark.parametrize("steps, t_stop, match", [(0, 0.0, "steps: expected a positive integer"),
                                                  (10, 1.0, "t_stop: expected 0 <= t_stop < 1")])
def test_bad_grid_arguments_are_rejected(steps, t_stop, match):
    with pytest.raises(ValueError, match=match):
        VPLinear().timesteps(steps, t_stop)


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="schedule: unknown name 'cosine'"):
        get_schedule("cosine")


@pytest.fixture
def problem():
    return InverseProblem.simulate(random_mixture(2, 4, 3, "full"), random_dense(1, 2, 3), 0.4,
                                   torch.Generator().manual_seed(0))


def test_task_hides_the_prior_and_posterior(problem):
    task = problem.task(steps=10)
    public = {n for n in dir(task) if not n.startswith("_")}
    assert not public & {"prior", "posterior", "problem", "noised_posterior", "log_likelihood"}


EQUAL_ISOTROPIC = GaussianMixture(torch.ones(4), 2 * torch.arange(12.0).reshape(4, 3) / 5, torch.full((4,), 0.6))


@pytest.mark.parametrize("prior", [random_mixture(2, 4, 3, "full"), random_mixture(2, 4, 3, "isotropic"),
                                   random_mixture(2, 4, 3, "diagonal"), EQUAL_ISOTROPIC],
                         ids=["full", "isotropic", "diagonal", "equal-isotropic"])
def test_task_denoiser_gradient_is_the_exact_autograd_gradient(prior):
    """The analytic backward (a/s²)·Cov equals plain autograd through the mixture."""
    problem = InverseProblem.simulate(prior, random_dense(1, 2, 3), 0.4, torch.Generator().manual_seed(0))
    task = problem.task(steps=10)
    t = task.timesteps[4]
    a, s = task.alpha(t), task.sigma(t)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    (fast,) = torch.autograd.grad((task.denoise(x, t) * w).sum(), x)
    (slow,) = torch.autograd.grad((problem.prior.denoise(x, a, s) * w).sum(), x)
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-10)


def test_task_score_matches_noised_prior_score(problem):
    task = problem.task(steps=10)
    t = task.timesteps[3]
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = problem.prior.noised(task.alpha(t), task.sigma(t)).score(x)
    torch.testing.assert_close(task.score(x, t), expected)


def test_task_observer_and_grid_replacement(problem):
    seen = []
    task = problem.task(steps=10).with_observer(lambda t, x, x0: seen.append(float(t)))
    task.notify(task.timesteps[0], torch.zeros(1, 3), torch.zeros(1, 3))
    short = task.with_timesteps(task.timesteps[:4])
    assert seen == [1.0] and not short.finishes_at_zero and task.finishes_at_zero


@pytest.mark.parametrize("covariances", [[1.0, 1.0], [1.0, 0.5], [[1.0, 0.3], [0.2, 0.6]]],
                         ids=["equal-isotropic", "isotropic", "diagonal"])
def test_torch_func_goes_through_the_exact_denoiser(covariances):
    # torch.func.vjp / jacrev (deepinv's ΠGDM, vmap-based code) give the same exact VJP as autograd
    from samplerlab import GaussianMixture, InverseProblem
    from samplerlab.operators import Identity

    prior = GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]], covariances)
    task = InverseProblem(prior, Identity(2), 0.5, [1.0, 0.0]).task(steps=10)
    g = torch.Generator().manual_seed(0)
    x, v, t = (torch.randn(4, 2, generator=g, dtype=torch.float64), torch.randn(4, 2, generator=g, dtype=torch.float64),
               task.timesteps[3])
    out, vjp = torch.func.vjp(lambda z: task.denoise(z, t), x)
    xr = x.clone().requires_grad_(True)
    (task.denoise(xr, t) * v).sum().backward()
    torch.testing.assert_close(vjp(v)[0], xr.grad)
    jac = torch.func.jacrev(lambda z: task.denoise(z[None], t)[0])(x[0])
    torch.testing.assert_close(v[0] @ jac, vjp(v)[0][0])


def test_sigma_parametrised_denoiser_is_the_exact_one():
    # deepinv-style denoiser(x, σ) for x = x0 + σ n: Tweedie at α = 1, s = σ under the prior
    from samplerlab import GaussianMixture, InverseProblem
    from samplerlab.operators import Identity

    prior = GaussianMixture([0.3, 0.7], [[0.0, 0.0], [2.0, 1.0]], [1.0, 0.5])
    task = InverseProblem(prior, Identity(2), 0.5, [1.0, 0.0]).task(steps=10)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for sigma in (0.05, 1.0, 20.0):
        torch.testing.assert_close(task.denoise_sigma(x, sigma), prior.denoise(x, 1.0, sigma))
    per_row = torch.tensor([0.1, 0.5, 1.0, 2.0, 5.0])
    torch.testing.assert_close(task.denoise_sigma(x, per_row),
                               torch.cat([prior.denoise(x[i:i + 1], 1.0, float(s)) for i, s in enumerate(per_row)]))
    with pytest.raises(ValueError, match=r"ratio: expected sigma/alpha within \[0, 15\d\.\d+\]"):
        task.denoise_sigma(x, 1e4)
