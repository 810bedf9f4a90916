"""DPS through ``task.denoise`` (analytic VJP) against DPS written the usual way, same run.

Run with ``make bench``. Setting: the 25-mode grid prior, d = 800, m = 1, N = 1000, float64,
the 1000-step DDPM grid. The usual way computes the score by autograd through a mixture
log-density, forms Tweedie ``x̂0 = (x + s² score) / a`` with ``create_graph=True`` and
differentiates ``‖y − A x̂0‖`` through that graph again. Two densities are timed: the one
notebooks use (``torch.distributions.MixtureSameFamily``; the target applies to it) and
samplerlab's own GEMM-shaped ``log_prob`` (reported, a much stronger baseline). Both run the
first ``STEPS`` steps of the same 1000-step grid from the same seed (cost per step does not depend
on t, so the ratio over 50 steps is the ratio over 1000); their outputs are checked to agree.
Target: samplerlab's ``dps`` at least 3× faster.
"""

from __future__ import annotations

import math
import timeit

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem, samplers
from samplerlab.operators import Dense
from samplerlab.samplers._base import ddim_update
from samplerlab.samplers._guidance import denoise_and_pullback

D, N, STEPS, TARGET = 800, 1000, 50, 3.0


def grid_problem() -> InverseProblem:
    ij = 8.0 * torch.cartesian_prod(torch.arange(-2, 3), torch.arange(-2, 3)).double()
    prior = GaussianMixture(torch.ones(25), ij.repeat(1, D // 2), torch.ones(25))
    g = torch.Generator().manual_seed(800)
    op = Dense(torch.randn(1, D, generator=g, dtype=torch.float64) / math.sqrt(D))
    return InverseProblem.simulate(prior, op, 0.5, generator=g)


def distributions_log_prob(prior: GaussianMixture):
    """The mixture density as notebooks write it: ``torch.distributions.MixtureSameFamily``."""
    std = prior.cov_factors.lam[:, 0].sqrt()  # isotropic components

    def log_prob(x, a, s):
        comp = torch.distributions.Independent(
            torch.distributions.Normal(a * prior.means,
                                       (a**2 * std**2 + s**2).sqrt()[:, None].expand_as(prior.means)), 1)
        return torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=prior.log_weights), comp).log_prob(x)

    return log_prob


def samplerlab_log_prob(prior: GaussianMixture):
    """samplerlab's own GEMM-shaped mixture density (a far stronger baseline than the usual one)."""
    return lambda x, a, s: prior.noised(a, s).log_prob(x)


BASELINES = {"torch.distributions": distributions_log_prob, "samplerlab log_prob": samplerlab_log_prob}


def dps_usual_way(problem: InverseProblem, task, n: int, generator, zeta: float = 1.0,
                  density=samplerlab_log_prob) -> torch.Tensor:
    """DPS (Chung et al. 2023, Alg. 1, official-code norm guidance) by double autograd."""
    prior, A = problem.prior, problem.operator.matrix()
    log_prob = density(prior)
    x = task.initial_noise(n, generator)
    grid = task.timesteps
    for t, t_next in zip(grid[:-1], grid[1:]):
        a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
        xr = x.detach().requires_grad_(True)
        score = torch.autograd.grad(log_prob(xr, a, s).sum(), xr, create_graph=True)[0]
        x0 = (xr + s**2 * score) / a
        grad = torch.autograd.grad((task.y - x0 @ A.T).norm(dim=-1).sum(), xr)[0]
        x0 = x0.detach()
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = ddim_update(x0, (x - a * x0) / s, a_next, s_next, s, a, 1.0, noise) - zeta * grad
    return x


@pytest.mark.parametrize("baseline", sorted(BASELINES))
def test_dps_is_faster_than_the_usual_double_autograd(benchmark, baseline):
    problem = grid_problem()
    full = problem.task(steps=1000)
    task = full.with_timesteps(full.timesteps[: STEPS + 1])  # the first STEPS steps of the 1000-step grid
    dps = samplers.get("dps")

    def ours():
        return dps(task, N, torch.Generator().manual_seed(0))

    def usual():
        return dps_usual_way(problem, task, N, torch.Generator().manual_seed(0), density=BASELINES[baseline])

    # same algorithm: x_t agrees after 5 steps (1e-10 after one step; guidance this strong amplifies
    # round-off chaotically, to ~1e-5 after 20 steps, so longer runs are not compared elementwise)
    check = full.with_timesteps(full.timesteps[:6])
    expected = dps_usual_way(problem, check, N, torch.Generator().manual_seed(0), density=BASELINES[baseline])
    torch.testing.assert_close(_raw_dps_state(dps, check), expected, rtol=1e-8, atol=1e-8)

    benchmark.pedantic(ours, rounds=3, warmup_rounds=1)
    best_ours = best_usual = float("inf")
    rounds = 3 if baseline == "samplerlab log_prob" else 1  # the torch.distributions run takes ~1 min
    for _ in range(rounds):  # interleaved best-of-rounds, so machine load hits both alike
        best_ours = min(best_ours, timeit.timeit(ours, number=1))
        best_usual = min(best_usual, timeit.timeit(usual, number=1))
    ratio = best_usual / best_ours
    guidance_ratio, noise_seconds = _parts(problem, full, dps)
    benchmark.extra_info.update(steps_timed=STEPS, seconds_ours=best_ours, seconds_usual=best_usual,
                                speedup=ratio, target=TARGET, guidance_speedup=guidance_ratio,
                                noise_seconds_per_step=noise_seconds)
    print(f"\n[{baseline}] DPS d={D} N={N}, {STEPS} steps: samplerlab {best_ours:.3f}s, usual {best_usual:.3f}s, "
          f"speed-up {ratio:.2f}x (target >= {TARGET}); guidance alone {guidance_ratio:.2f}x; "
          f"float64 noise draw {1e3 * noise_seconds:.1f} ms/step (paid by both)")
    if baseline == "torch.distributions":  # the "usual way"; the other row is reported only
        assert ratio >= TARGET


def _parts(problem, task, dps, rounds: int = 5) -> tuple[float, float]:
    """Diagnostics at mid-grid: guidance-gradient speed-up alone, and the cost of one noise draw."""
    t = task.timesteps[500]
    a, s, A = task.alpha(t), task.sigma(t), problem.operator.matrix()
    x = problem.prior.noised(a, s).sample(N, generator=torch.Generator().manual_seed(1))

    def usual():
        xr = x.detach().requires_grad_(True)
        score = torch.autograd.grad(problem.prior.noised(a, s).log_prob(xr).sum(), xr, create_graph=True)[0]
        return torch.autograd.grad((task.y - (xr + s**2 * score) / a @ A.T).norm(dim=-1).sum(), xr)[0]

    def ours():
        return denoise_and_pullback(task, x, t, lambda x0: dps._loss_gradient(task, x0))

    g = torch.Generator().manual_seed(2)
    best = [min(timeit.repeat(f, number=1, repeat=rounds)) for f in (usual, ours, lambda: torch.randn(
        x.shape, generator=g, dtype=x.dtype))]
    return best[0] / best[1], best[2]


def _raw_dps_state(dps, task) -> torch.Tensor:
    """``x_t`` after the last step of ``dps`` on ``task`` (the state before its final estimate)."""
    generator = torch.Generator().manual_seed(0)
    x = dps.init(task, N, generator)
    for t, t_next in zip(task.timesteps[:-1], task.timesteps[1:]):
        x = dps.step(task, x, t, t_next, generator).x_next
    return x
