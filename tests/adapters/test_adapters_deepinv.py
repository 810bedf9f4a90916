"""deepinv's samplers through samplerlab.adapters.deepinv, run for real (deepinv 0.5.0).

The denoiser, physics and time map against samplerlab's exact objects; each wrapper's
stop-time contract bit for bit; its randomness from the audit's generator only; the documented
deepinv behaviours; ``samplerlab score deepinv:dps`` and the one-line error without the extra.
Statistical assertions use fixed seeds (deterministic outcomes).
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem
from samplerlab.operators import Dense, Identity, Mask

if importlib.util.find_spec("deepinv") is None:  # CI installs the extra: there, missing is a failure
    if os.environ.get("CI"):
        raise ImportError("deepinv is not installed: pip install 'samplerlab[deepinv]'")
    pytest.skip("deepinv not installed (pip install 'samplerlab[deepinv]')", allow_module_level=True)

from samplerlab.adapters import deepinv as A  # noqa: E402
from samplerlab.adapters import deepinv_samplers as S  # noqa: E402

dinv = A.require()


def make_task(operator=None, steps=30, d=2, sigma_y=0.5, y=None):
    prior = GaussianMixture([0.4, 0.6], [[-1.0] * d, [1.5] * d], [0.3, 0.5])
    operator = operator or Identity(d)
    y = y if y is not None else [0.3] * operator.out_dim
    return InverseProblem(prior, operator, sigma_y, y).task(steps=steps)


def rows(n, d, seed=0, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- installation --------------------------------------------------------------------------------
def test_deepinv_imports_and_the_shim_is_only_the_two_schemas():
    import torchvision

    assert dinv.__version__ and torchvision.__version__
    if A._SHIM is not None:  # the CPU torch beside a CUDA torchvision: compiled ops stay unavailable
        with pytest.raises(RuntimeError):
            torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)


# -- denoiser, physics, time map -----------------------------------------------------------------
@pytest.mark.parametrize("unit, scale", [(False, 1.0), (True, 1.0), (False, 3.0)])
def test_denoiser_is_the_exact_one_in_float32_and_notifies_on_the_grid(unit, scale):
    seen = []
    task = make_task().with_observer(lambda t, x, x0: seen.append((float(t), x, x0)))
    den = A.as_denoiser(task, data_scale=scale, unit=unit)
    a_, b_ = (2 * scale, -scale) if unit else (scale, 0.0)
    x = rows(5, 2)
    for sigma in (0.05, 1.0, 20.0):  # off the grid: no notification
        u = ((x - b_) / a_).float()
        out = den(u, sigma / a_)
        assert out.dtype == torch.float32
        exact = (task.denoise_sigma(u.double() * a_ + b_, sigma) - b_) / a_
        torch.testing.assert_close(out, exact.float())
    assert seen == []
    t = task.timesteps[7]
    level = float(task.sigma(t) / task.alpha(t))
    den((x - b_) / a_, level / a_)
    assert len(seen) == 1 and seen[0][0] == float(t)
    torch.testing.assert_close(seen[0][1], task.alpha(t) * x)
    torch.testing.assert_close(seen[0][2], task.denoise(task.alpha(t) * x, t))


def test_denoiser_under_torch_func_vjp_matches_autograd():
    task = make_task()
    den = A.as_denoiser(task)
    x, v = rows(4, 2, 1).float(), rows(4, 2, 2).float()
    _, vjp = torch.func.vjp(lambda z: den(z, 0.7), x)
    xr = x.clone().requires_grad_(True)
    (den(xr, 0.7) * v).sum().backward()
    torch.testing.assert_close(vjp(v)[0], xr.grad)


@pytest.mark.parametrize("op", [Dense(rows(2, 4, 3)), Dense(rows(5, 3, 4)), Mask(5, [0, 3]), Identity(3)],
                         ids=["wide", "tall", "mask", "identity"])
def test_physics_is_the_operator_with_a_full_basis(op):
    task = make_task(op, d=op.in_dim)
    phys = A.as_physics(task)
    M = op.matrix()
    x, y = rows(3, op.in_dim, 5), rows(3, op.out_dim, 6)
    torch.testing.assert_close(phys.A(x), x @ M.T)
    torch.testing.assert_close(phys.A_adjoint(y), y @ M)
    torch.testing.assert_close(phys.V(phys.V_adjoint(x)), x)  # V is a full orthonormal basis
    torch.testing.assert_close(phys.A_dagger(y), y @ torch.linalg.pinv(M).T)
    gamma = 0.7  # prox of γ/2 ‖A x − y‖² at z: (γ AᵀA + I)⁻¹ (z + γ Aᵀ y)
    expected = torch.linalg.solve(gamma * M.T @ M + torch.eye(op.in_dim, dtype=M.dtype), (x + gamma * y @ M).T).T
    torch.testing.assert_close(phys.prox_l2(x, y, gamma), expected)
    assert float(phys.noise_model.sigma) == pytest.approx(task.sigma_y)
    assert phys.A(x.float()).dtype == torch.float64  # float32 in: computed in float64 (mask)


def test_measurement_in_unit_coordinates_is_consistent():
    op = Dense([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]])
    task = make_task(op)
    x = rows(1, 2, 7)
    u = (x / 2.0 + 1) / 2  # data_scale 2, unit: x = 2 (2u - 1)
    y_u = A.as_measurement(task, 1, data_scale=2.0, unit=True)
    y_x = task.y
    # y = A x + n  <=>  y_u = A u + n / (2 · 2): the same residual, scaled
    torch.testing.assert_close(y_u - u @ op.matrix().T, (y_x - x @ op.matrix().T) / 4)


def test_sde_times_reach_the_grid_levels_and_honour_truncation():
    task = make_task(steps=50)
    sde = dinv.sampling.VariancePreservingDiffusion(dtype=torch.float64)
    tau = A.sde_times(task, sde)
    torch.testing.assert_close(sde.sigma_t(tau), A.grid_levels(task), rtol=1e-10, atol=0)
    assert float(tau[0]) > 1.0 and float(tau[-1]) == 0.0  # vp_linear ends at σ/α ≈ 157 > deepinv's 152
    short = A.sde_times(task.with_timesteps(task.timesteps[:20]), sde)
    assert torch.equal(short, tau[:20])


# -- the wrappers ----------------------------------------------------------------------------------
WRAPPERS = {
    "dps": lambda: S.deepinv_dps(),
    "dps_deepinv_defaults": lambda: S.deepinv_dps(clip=(-1, 1), minus_one_one=True),
    "ddrm": lambda: S.deepinv_ddrm(),
    "diffpir": lambda: S.deepinv_diffpir(data_scale=2.0),
    "pigdm": lambda: S.deepinv_posterior_diffusion("pigdm"),
    "prior_ddim": lambda: S.deepinv_posterior_diffusion("zero", solver="ddim", minus_one_one=True),
}


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_stop_contract_reproducibility_and_global_rng(name):
    task = make_task(Dense([[1.0, 0.5]]), steps=24)
    sampler = WRAPPERS[name]()
    seen = {}
    watched = task.with_observer(lambda t, x, x0: seen.__setitem__(float(t), x))
    state = torch.random.get_rng_state()
    full = sampler(watched, 40, torch.Generator().manual_seed(3))
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched (seeded fork)
    assert full.shape == (40, 2) and full.dtype == torch.float64 and bool(torch.isfinite(full).all())
    assert torch.equal(full, sampler(task, 40, torch.Generator().manual_seed(3)))
    assert len(seen) == 24 and sampler.stop_from_notify
    k = 17
    short = sampler(task.with_timesteps(task.timesteps[:k + 1]), 40, torch.Generator().manual_seed(3))
    assert torch.equal(short, task.denoise(seen[float(task.timesteps[k])], task.timesteps[k]))


def test_ddrm_ignores_y_when_the_singular_value_is_at_most_sigma_y():
    # bimodal_1d's shape: A = I, σ_y = 1. deepinv's DDRM treats s ≤ σ_y as unobserved: prior weights.
    prior = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.25, 0.25])
    task = InverseProblem(prior, Identity(1), 1.0, [0.4]).task(steps=50)
    exact = float(InverseProblem(prior, Identity(1), 1.0, [0.4]).posterior().weights[1])
    right = float((S.deepinv_ddrm()(task, 400, torch.Generator().manual_seed(0)) > 0).double().mean())
    assert exact > 0.75 and abs(right - 0.5) < 0.1  # binomial sd 0.025: 4 sd either way
    task_low = InverseProblem(prior, Identity(1), 0.5, [0.4]).task(steps=50)  # s = 1 > σ_y: y is used
    right_low = float((S.deepinv_ddrm()(task_low, 400, torch.Generator().manual_seed(0)) > 0).double().mean())
    assert right_low > 0.65


def test_dps_clip_is_explicit():
    task = make_task(steps=20)
    x = S.deepinv_dps(weight=0.0, clip=(-1, 1))(task, 200, torch.Generator().manual_seed(0))
    assert float(x.abs().max()) <= 1.0 + 1e-12  # the prior part of the score uses the clipped D too
    assert float(S.deepinv_dps(weight=0.0)(task, 200, torch.Generator().manual_seed(0)).abs().max()) > 1.5


@pytest.mark.parametrize("call, message", [
    (lambda: S.deepinv_dps(weight=-1), "weight: expected a number >= 0"),
    (lambda: S.deepinv_dps(clip=(1,)), "clip: expected None or a pair"),
    (lambda: S.deepinv_ddrm(eta=2), "eta: expected a number >= 0.0 and <= 1.0"),
    (lambda: S.deepinv_diffpir(data_scale=0), "data_scale: expected a number > 0.0"),
    (lambda: S.deepinv_posterior_diffusion("nope"), "data_fidelity: expected 'dps', 'pigdm' or 'zero'"),
])
def test_bad_parameters_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- audit, command line, missing extra ------------------------------------------------------------
def test_score_deepinv_dps_on_bimodal_1d(capsys):
    from samplerlab.cli import main

    code = main(["score", "deepinv:dps", "--scenario", "bimodal_1d", "--n", "200", "--steps", "40", "--no-floor"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "sampler 'deepinv:dps' on 'bimodal_1d'" in out


def test_audit_reads_the_sweep_off_the_main_run_and_sees_no_global_rng():
    from samplerlab.auditing.pipeline import run

    report = run("deepinv:ddrm", "bimodal_1d", params={"eta": 0.85}, n=300, steps=40)
    assert report.meta["stop_sweep"] == "read off the main run" and not report.meta.get("global_rng")
    assert not report["mode_weights"].passed  # the DDRM behaviour above, caught by the audit


def test_missing_extra_is_a_one_line_error(monkeypatch):
    from samplerlab.auditing.sampler_ref import SamplerRefError, resolve_sampler

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepinv" else real(name, *a))
    with pytest.raises(SamplerRefError, match=r"^deepinv:dps: .*pip install 'samplerlab\[deepinv\]'$"):
        resolve_sampler("deepinv:dps")
    with pytest.raises(SamplerRefError, match="unknown deepinv sampler"):
        resolve_sampler("deepinv:nope")
