"""Reference samplers: the interface every registry entry honours, and exactness of the controls.

Interface tests are parametrised over ``samplers.available()`` (controls get ``problem=``) on a
2-D and a d = 80 problem. Correctness: ``oracle`` and ``prior`` against exact laws with seeded
tests at a stated error rate; DPS / ΠGDM against hand-written reference steps and a sanity check.
"""

from __future__ import annotations

import inspect
import math
from functools import lru_cache

import pytest
import torch
from scipy import stats

from samplerlab import VE, GaussianMixture, InverseProblem, VPLinear, samplers
from samplerlab.operators import Dense, Identity, Mask
from samplerlab.samplers._base import ddim_update
from samplerlab.samplers._guidance import gram_solve

ALPHA = 1e-3  # error rate of every statistical test in this file (per test, Bonferroni inside)
N_IFACE, STEPS_IFACE = 64, 20


# -- problems --------------------------------------------------------------------------------
def grid_prior(d: int) -> GaussianMixture:
    """The 25-mode benchmark prior: means (8i, 8j) repeated over d/2 coordinate pairs, unit covariance."""
    ij = 8.0 * torch.cartesian_prod(torch.arange(-2, 3), torch.arange(-2, 3)).double()  # (25, 2)
    return GaussianMixture(torch.ones(25), ij.repeat(1, d // 2), torch.ones(25))


@lru_cache(maxsize=None)
def problem_2d() -> InverseProblem:
    # m = 1 slanted line through the grid: posterior mass on ~6 modes with unequal weights
    return InverseProblem(grid_prior(2), Dense([[1.0, 0.7]]), 1.0, [3.0])


@lru_cache(maxsize=None)
def problem_80d() -> InverseProblem:
    g = torch.Generator().manual_seed(80)
    op = Dense(torch.randn(2, 80, generator=g, dtype=torch.float64) / math.sqrt(80))
    return InverseProblem.simulate(grid_prior(80), op, 0.5, generator=g)


PROBLEMS = {"d2": problem_2d, "d80": problem_80d}


def build(name: str, problem: InverseProblem):
    """A registry entry with its defaults; controls are given the problem's truth."""
    spec = samplers.describe(name)
    return samplers.get(name, problem=problem) if spec.control else samplers.get(name)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- interface: every registry entry ---------------------------------------------------------
NAMES = samplers.available()
CASES = [pytest.param(n, p, id=f"{n}-{p}") for n in NAMES for p in PROBLEMS]


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_documents_its_constructor_keywords(name):
    spec = samplers.describe(name)
    sig = inspect.signature(spec.factory)
    keywords = {k: p.default for k, p in sig.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    assert set(keywords) == set(spec.params), \
        f"{name}: registry params {sorted(spec.params)} vs __init__ {sorted(keywords)}"
    for key, (default, doc) in spec.params.items():
        assert doc, f"{name}.{key} is undocumented"
        if keywords[key] is not inspect.Parameter.empty:
            assert keywords[key] == default, \
                f"{name}.{key}: registry default {default!r}, __init__ default {keywords[key]!r}"


@pytest.mark.parametrize(("name", "prob"), CASES)
def test_output_has_shape_dtype_and_finite_values(name, prob):
    problem = PROBLEMS[prob]()
    x = build(name, problem)(problem.task(steps=STEPS_IFACE), N_IFACE, gen())
    assert x.shape == (N_IFACE, problem.dim)
    assert x.dtype == torch.float64
    assert torch.isfinite(x).all()


@pytest.mark.parametrize(("name", "prob"), CASES)
def test_same_generator_seed_gives_identical_samples(name, prob):
    problem = PROBLEMS[prob]()
    task = problem.task(steps=STEPS_IFACE)
    x1 = build(name, problem)(task, N_IFACE, gen(3))
    x2 = build(name, problem)(task, N_IFACE, gen(3))
    assert torch.equal(x1, x2)


@pytest.mark.parametrize(("name", "prob"), CASES)
def test_observer_is_called_once_per_step_with_t_xt_and_x0hat(name, prob):
    problem = PROBLEMS[prob]()
    calls = []
    task = problem.task(steps=STEPS_IFACE, observe=lambda t, x, x0: calls.append((t, x.shape, x0.shape)))
    build(name, problem)(task, N_IFACE, gen())
    assert len(calls) == STEPS_IFACE
    times = torch.stack([torch.as_tensor(c[0], dtype=torch.float64) for c in calls])
    assert torch.equal(times, task.timesteps[:-1].cpu()), "observer times must walk task.timesteps[:-1] in order"
    assert all(c[1] == (N_IFACE, problem.dim) and c[2] == (N_IFACE, problem.dim) for c in calls)


@pytest.mark.parametrize(("name", "prob"), CASES)
def test_truncated_grid_is_honoured(name, prob):
    # grid[:k] stops at t = 0.5: the sampler takes k − 1 steps and returns its denoised estimate
    problem = PROBLEMS[prob]()
    k = STEPS_IFACE // 2 + 1
    calls = []
    full = problem.task(steps=STEPS_IFACE)
    short = full.with_timesteps(full.timesteps[:k]).with_observer(lambda t, x, x0: calls.append(t))
    x_full = build(name, problem)(full, N_IFACE, gen())
    x_short = build(name, problem)(short, N_IFACE, gen())
    assert len(calls) == k - 1
    assert x_short.shape == (N_IFACE, problem.dim) and torch.isfinite(x_short).all()
    assert not torch.equal(x_short, x_full)


# -- parameter validation ----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params"), [
    ("oracle", {}),
    ("oracle", {"variant": "euler"}),
    ("prior", {"eta": 1.5}),
    ("dps", {"zeta": -1.0}),
    ("dps", {"squared": "yes"}),
    ("pigdm", {"eta": -0.1}),
    ("pigdm", {"weight": float("nan")}),
], ids=lambda v: str(v))
def test_bad_parameters_raise_value_error(name, params):
    if name == "oracle" and "variant" in params:
        params = {**params, "problem": problem_2d()}
    with pytest.raises(ValueError, match=name):
        samplers.get(name, **params)


# -- exactness of the controls: 1-D bimodal, KS against the exact mixture CDF -----------------
def bimodal_problem() -> InverseProblem:
    # prior 0.5 N(−2, 1/4) + 0.5 N(2, 1/4), y = x + N(0, 1), y = 0.5:
    # posterior ≈ 0.17 N(−1.5, 0.2) + 0.83 N(1.7, 0.2), two well-separated modes
    prior = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.25, 0.25])
    return InverseProblem(prior, Identity(1), 1.0, [0.5])


def mixture_cdf(gm: GaussianMixture):
    w = gm.weights.numpy()
    m = gm.means[:, 0].numpy()
    sd = gm.covariance_matrices()[:, 0, 0].sqrt().numpy()
    return lambda x: (w * stats.norm.cdf((x[:, None] - m) / sd)).sum(-1)


N_KS, STEPS_KS, T_MID = 4000, 1000, 500  # KS rejects at ALPHA when D > ~1.95/sqrt(N) ≈ 0.031


@lru_cache(maxsize=None)
def oracle_run(variant: str, schedule: str):
    """Final samples and the trajectory's x_t at grid index T_MID (seeded, cached across tests)."""
    problem = bimodal_problem()
    seen = []

    def observe(t, x, x0):
        seen.append((t, x) if len(seen) == T_MID else None)

    task = problem.task(schedule={"vp": VPLinear(), "ve": VE()}[schedule], steps=STEPS_KS, observe=observe)
    x = samplers.get("oracle", problem=problem, variant=variant)(task, N_KS, gen(11))
    return problem, task, x, seen[T_MID]


ORACLE_CASES = [(v, s) for v in ("ddpm", "ode") for s in ("vp", "ve")]


@pytest.mark.parametrize(("variant", "schedule"), ORACLE_CASES)
def test_oracle_samples_follow_the_exact_posterior(variant, schedule):
    # one-sample KS test against the exact posterior CDF; N = 4000 draws, error rate ALPHA.
    # 1000 steps keep the discretisation error an order below the KS critical distance ~0.031:
    # measured with N = 50 000 draws, D <= 0.0061 for every variant/schedule here (p > 0.04).
    problem, _, x, _ = oracle_run(variant, schedule)
    p = stats.kstest(x[:, 0].numpy(), mixture_cdf(problem.posterior())).pvalue
    assert p > ALPHA, f"oracle {variant}/{schedule}: KS p = {p:.2e}"


@pytest.mark.parametrize(("variant", "schedule"), ORACLE_CASES)
def test_oracle_trajectory_follows_the_noised_posterior(variant, schedule):
    # the x_t handed to the observer halfway down the grid is a draw of p_t(x_t | y) (same KS test)
    problem, task, _, (t, xt) = oracle_run(variant, schedule)
    noised = problem.noised_posterior(task.alpha(t), task.sigma(t))
    p = stats.kstest(xt[:, 0].numpy(), mixture_cdf(noised)).pvalue
    assert p > ALPHA, f"oracle {variant}/{schedule} at t = {float(t):.3f}: KS p = {p:.2e}"


@pytest.mark.parametrize("schedule", ["vp", "ve"])
@pytest.mark.parametrize("steps", [1, 3, 10])
def test_exact_oracle_has_no_discretisation_error(steps, schedule):
    # exact reverse transitions: the same KS test (N = 4000, error rate ALPHA) passes on grids of
    # 1-10 steps, where the ddpm variant is rejected (measured: KS p = 0 at 3 steps, N = 20 000)
    problem = bimodal_problem()
    task = problem.task(schedule={"vp": VPLinear(), "ve": VE()}[schedule], steps=steps)
    x = samplers.get("oracle", problem=problem, variant="exact")(task, N_KS, gen(13))
    p = stats.kstest(x[:, 0].numpy(), mixture_cdf(problem.posterior())).pvalue
    assert p > ALPHA, f"exact oracle, {steps} steps, {schedule}: KS p = {p:.2e}"


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_prior_sampler_reproduces_the_prior(eta):
    # same KS test against the prior's CDF (prior sampler ignores y); N = 4000, ALPHA
    problem = bimodal_problem()
    x = samplers.get("prior", eta=eta)(problem.task(steps=STEPS_KS), N_KS, gen(12))
    p = stats.kstest(x[:, 0].numpy(), mixture_cdf(problem.prior)).pvalue
    assert p > ALPHA, f"prior eta={eta}: KS p = {p:.2e}"


# -- mode weights in 2-D: mean responsibilities against exact weights --------------------------
def bernstein_radius(w: torch.Tensor, n: int, alpha: float) -> torch.Tensor:
    """Half-width ε_k with P(|mean_k − w_k| ≥ ε_k) ≤ alpha / K for every k simultaneously.

    Responsibilities lie in [0, 1] with mean w_k, so their variance is ≤ w_k (1 − w_k).
    Bernstein: P(|mean − w| ≥ ε) ≤ 2 exp(−n ε² / (2 (v + ε/3))); setting the right side to
    alpha/K (union bound over K modes) and solving n ε² − (2L/3) ε − 2 L v = 0, L = log(2K/alpha).
    """
    L = math.log(2 * w.numel() / alpha)
    v = w * (1 - w)
    return (2 * L / 3 + torch.sqrt((2 * L / 3) ** 2 + 8 * n * L * v)) / (2 * n)


N_RESP, STEPS_RESP = 4000, 200  # measured at N = 40 000, 200 steps: max |gap| <= 0.0041 (noise included)


@pytest.mark.parametrize("variant", ["ddpm", "ode"])
def test_oracle_mode_weights_match_the_exact_posterior_weights(variant):
    problem = problem_2d()
    post = problem.posterior()
    x = samplers.get("oracle", problem=problem, variant=variant)(problem.task(steps=STEPS_RESP), N_RESP, gen(21))
    gap = (post.responsibilities(x).mean(0) - post.weights).abs()
    assert (gap <= bernstein_radius(post.weights, N_RESP, ALPHA)).all(), f"max gap {gap.max():.4f}"


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_prior_sampler_mode_weights_match_the_prior_weights(eta):
    prior = problem_2d().prior
    x = samplers.get("prior", eta=eta)(problem_2d().task(steps=STEPS_RESP), N_RESP, gen(22))
    gap = (prior.responsibilities(x).mean(0) - prior.weights).abs()
    assert (gap <= bernstein_radius(prior.weights, N_RESP, ALPHA)).all(), f"max gap {gap.max():.4f}"


# -- DPS and ΠGDM: one step against the textbook computation ----------------------------------
def _step_inputs():
    problem = problem_2d()
    task = problem.task(steps=10)
    t, t_next = task.timesteps[3], task.timesteps[4]
    x = problem.prior.noised(task.alpha(t), task.sigma(t)).sample(16, generator=gen(5))
    return problem, task, x, t, t_next


@pytest.mark.parametrize("squared", [False, True])
def test_dps_step_matches_autograd_through_the_mixture_density(squared):
    # the usual way: score by autograd of log p_t, Tweedie with create_graph, autograd of the loss
    problem, task, x, t, t_next = _step_inputs()
    a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
    xr = x.clone().requires_grad_(True)
    score = torch.autograd.grad(problem.prior.noised(a, s).log_prob(xr).sum(), xr, create_graph=True)[0]
    x0 = (xr + s**2 * score) / a
    r = task.y - x0 @ problem.operator.matrix().T
    loss = (r.square().sum(-1) if squared else r.norm(dim=-1)).sum()
    grad = torch.autograd.grad(loss, xr)[0]
    g1 = gen(9)
    noise = torch.randn(x.shape, generator=g1, dtype=x.dtype)
    x0 = x0.detach()
    expected = ddim_update(x0, (x - a * x0) / s, a_next, s_next, s, a, 1.0, noise) - 0.7 * grad
    step = samplers.get("dps", zeta=0.7, squared=squared).step(task, x, t, t_next, gen(9))
    got, x0_hat = step.x_next, step.x0_hat
    torch.testing.assert_close(x0_hat, x0, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_pigdm_step_matches_the_dense_formula():
    # g = Jᵀ Aᵀ (r² A Aᵀ + σ_y² I)⁻¹ (y − A x̂0) with J = (a/s²) Cov[x0|x_t] (symmetric), dense
    problem, task, x, t, t_next = _step_inputs()
    a, s, a_next, s_next = task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)
    A = problem.operator.matrix()
    r2 = s**2 / (a**2 + s**2)
    x0 = problem.prior.denoise(x, a, s)
    gram = r2 * A @ A.T + problem.sigma_y**2 * torch.eye(A.shape[0], dtype=A.dtype)
    v = torch.linalg.solve(gram, (task.y - x0 @ A.T).T).T @ A  # (N, d)
    jac = (a / s**2) * problem.prior.denoise_cov(x, a, s)
    g = torch.einsum("nij,nj->ni", jac, v)
    expected = ddim_update(x0, (x - a * x0) / s, a_next, s_next, s, a, 0.0, None) + 0.5 * a_next * a * r2 * g
    got = samplers.get("pigdm_reddiff", eta=0.0, weight=0.5).step(task, x, t, t_next, gen(0)).x_next
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    # Score form: x̂0_y = x̂0 + (s²/a) w g, then the DDIM step from (x̂0_y, ε̂_y).
    x0_y = x0 + (s**2 / a) * 0.5 * g
    expected = ddim_update(x0_y, (x - a * x0_y) / s, a_next, s_next, s, a, 0.0, None)
    step = samplers.get("pigdm", eta=0.0, weight=0.5).step(task, x, t, t_next, gen(0))
    got, x0_hat = step.x_next, step.x0_hat
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(x0_hat, x0_y, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("op", [Dense([[1.0, 2.0, 0.0], [0.5, 0.0, 1.0]]), Dense([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]),
                                Identity(3), Mask(4, [0, 2])], ids=["dense", "rank-deficient", "identity", "mask"])
def test_gram_solve_matches_the_dense_inverse(op):
    A = op.matrix()
    v = torch.randn(5, A.shape[0], generator=gen(1), dtype=torch.float64)
    gram = 0.3 * A @ A.T + 0.2 * torch.eye(A.shape[0], dtype=A.dtype)
    torch.testing.assert_close(gram_solve(op, v, 0.3, 0.2), torch.linalg.solve(gram, v.T).T, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["dps", "pigdm", "pigdm_reddiff"])
def test_guided_sample_mean_is_nearer_the_posterior_mean_than_the_prior_mean(name):
    # prior N(0, I_4), A = I, σ_y = 0.5, y = 2·1: posterior mean 1.6·1, prior mean 0 (seeded run)
    problem = InverseProblem(GaussianMixture([1.0], [[0.0] * 4], [1.0]), Identity(4), 0.5, [2.0] * 4)
    x = samplers.get(name)(problem.task(steps=100), 256, gen(4))
    post_mean, prior_mean = problem.posterior().mean(), problem.prior.mean()
    assert (x.mean(0) - post_mean).norm() < (x.mean(0) - prior_mean).norm()
