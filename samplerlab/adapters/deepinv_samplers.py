"""The ready deepinv samplers: DPS, DDRM, DiffPIR and ``PosteriorDiffusion`` under the audit's contracts.

Imported by :mod:`samplerlab.adapters.deepinv` (which documents the coordinates, randomness,
hyperparameter mapping and deepinv's behaviours); papers: DPS — Chung et al. 2023, "Diffusion
Posterior Sampling for General Noisy Inverse Problems"; DDRM — Kawar et al. 2022, "Denoising
Diffusion Restoration Models"; DiffPIR — Zhu et al. 2023, "Denoising Diffusion Models for
Plug-and-Play Image Restoration"; ΠGDM — Song et al. 2023, "Pseudoinverse-Guided Diffusion Models
for Inverse Problems".

Example:
    >>> deepinv_ddrm(eta=0.5)
    deepinv:ddrm(eta=0.5, etab=1.0, data_scale=1.0)
    >>> deepinv_dps(clip=(1, -1)).params["clip"]
    (-1.0, 1.0)
"""

from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from samplerlab.adapters.deepinv import (
    TaskDenoiser,
    affine,
    as_measurement,
    as_physics,
    grid_levels,
    require,
    sde_times,
)

__all__ = ["DeepinvSampler", "deepinv_dps", "deepinv_ddrm", "deepinv_diffpir", "deepinv_posterior_diffusion"]


# -- running a deepinv sampler under the audit's contracts -----------------------------------------
@contextlib.contextmanager
def _seeded(generator: torch.Generator | None, device):
    """A seed drawn from ``generator``; global torch RNG forked and seeded with it for the block."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=getattr(generator, "device", "cpu")))
    cuda = torch.device(device).type == "cuda"
    with torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda else []):
        torch.manual_seed(seed)
        yield seed


class DeepinvSampler:
    """``sampler(task, n, generator)`` around ``run(task, n, seed, denoiser) -> u`` (deepinv's output).

    Maps the output back to the task's units and, on a grid ending above 0, returns the exact
    ``task.denoise(x_t, t_last)`` the denoiser recorded at the last grid time (the stop-time
    contract; ``stop_from_notify`` holds since each run's first steps, random numbers included,
    do not depend on where the grid ends).
    """

    stop_from_notify = True

    def __init__(self, name: str, run: Callable, *, data_scale: float, unit: bool, floor_eta: float = 1.0,
                 params: dict | None = None):
        self.__name__ = self.name = name
        self.run, self.data_scale, self.unit = run, float(data_scale), unit
        self.floor_eta, self.params = floor_eta, dict(params or {})

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        require()
        denoiser = TaskDenoiser(task, data_scale=self.data_scale, unit=self.unit)
        with _seeded(generator, task.device) as seed:
            out = self.run(task, n, seed, denoiser)
        denoiser.flush()
        t_last = float(task.timesteps[-1])
        if not task.finishes_at_zero:
            if denoiser.last is None or denoiser.last[0] != t_last:  # the run never denoised its last state
                raise RuntimeError(f"{self.name}: no denoiser call at the last grid time t = {t_last:g}")
            return denoiser.last[1].clone()
        scale, shift = affine(self.data_scale, self.unit)
        return (out.reshape(n, -1).to(task.dtype) * scale + shift).detach()


def _capture_state(solver) -> dict:
    """Keep the solver's final state (``PosteriorDiffusion`` maps it to ``[0, 1]`` before returning)."""
    state: dict = {}
    sample = solver.sample

    def capture(*args, **kwargs):
        out = sample(*args, **kwargs)
        state["x"] = out.sample.detach()
        return out

    solver.sample = capture
    return state


def _solver(dinv, name: str, times: Tensor, rng: torch.Generator, eta: float | None):
    s = dinv.sampling
    if name == "ddpm":
        return s.DDPMSolver(timesteps=times, rng=rng)
    if name == "ddim":
        return s.DDIMSolver(timesteps=times, eta=0.0 if eta is None else eta, rng=rng)
    if name == "ancestral":
        return s.AncestralSolver(timesteps=times, eta=eta, rng=rng)
    raise ValueError(f"solver: expected 'ddpm', 'ddim' or 'ancestral', got {name!r}")


def _check(name: str, value, lo: float | None = 0.0, hi: float | None = None, strict: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (lo is None or (value > lo if strict else value >= lo)) and (hi is None or value <= hi)
    if not ok:
        bounds = f"{'>' if strict else '>='} {lo}" + (f" and <= {hi}" if hi is not None else "")
        raise ValueError(f"{name}: expected a number {bounds}, got {value!r}")
    return float(value)


def _clip(clip) -> tuple[float, float] | None:
    if clip is None:
        return None
    if not (isinstance(clip, (tuple, list)) and len(clip) == 2 and all(isinstance(c, (int, float)) for c in clip)):
        raise ValueError(f"clip: expected None or a pair (low, high), got {clip!r}")
    return tuple(sorted(float(c) for c in clip))


def _posterior(name: str, fidelity: Callable, *, solver: str, eta, alpha: float, minus_one_one: bool,
               data_scale: float, params: dict) -> DeepinvSampler:
    """A ``PosteriorDiffusion`` (VP SDE) sampler; ``fidelity(dinv)`` builds its data-fidelity term."""

    def run(task, n, seed, denoiser):
        dinv = require()
        sde = dinv.sampling.VariancePreservingDiffusion(alpha=alpha, device=task.device, dtype=torch.float64)
        times = sde_times(task, sde, data_scale=data_scale).to(task.device)
        rng = torch.Generator(device=task.device).manual_seed(seed)
        fid = fidelity(dinv)
        model = dinv.sampling.PosteriorDiffusion(
            data_fidelity=fid, denoiser=denoiser, sde=sde, solver=_solver(dinv, solver, times, rng, eta),
            dtype=torch.float64, device=task.device, minus_one_one=minus_one_one)
        physics = as_physics(task, data_scale=data_scale, unit=minus_one_one)
        y = as_measurement(task, n, data_scale=data_scale, unit=minus_one_one)
        state = _capture_state(model.solver)
        out = model(y, physics, denoise_output=False)
        if not task.finishes_at_zero:  # denoise the last state exactly as the score does on the full grid
            tau = times[-1]
            x, sigma, scale = state["x"], sde.sigma_t(tau), sde.scale_t(tau)
            if fid is None:  # the SDE's own score: through deepinv's [-1, 1] wrapper, if any
                model.sde.denoiser((x / scale).to(torch.float32), sigma.to(torch.float32))
            else:  # the data-fidelity term's call
                x, sigma = ((x / scale + 1) / 2, sigma / 2) if minus_one_one else (x / scale, sigma)
                denoiser(x.to(torch.float32), sigma.to(torch.float32))
        return out

    return DeepinvSampler(name, run, data_scale=data_scale, unit=minus_one_one,
                          floor_eta=1.0 if solver == "ddpm" else (0.0 if eta is None else eta), params=params)


def deepinv_dps(weight: float = 1.0, guidance: str = "norm", solver: str = "ddpm", clip=None,
                minus_one_one: bool = False, data_scale: float = 1.0) -> DeepinvSampler:
    """deepinv's ``DPS`` (Chung et al. 2023) on the task's grid: ``weight`` λ (see module doc),
    ``guidance`` ``"norm"`` / ``"annealed"``, ``solver`` ``"ddpm"`` (deepinv's default) / ``"ddim"``,
    ``clip`` on ``D(x_t)`` (deepinv hard-codes ``(-1, 1)``), ``minus_one_one`` (deepinv: ``True``)."""
    weight, data_scale = _check("weight", weight), _check("data_scale", data_scale, strict=True)
    if guidance not in ("norm", "annealed"):
        raise ValueError(f"guidance: expected 'norm' or 'annealed', got {guidance!r}")
    clip = _clip(clip)
    params = dict(weight=weight, guidance=guidance, solver=solver, clip=clip, minus_one_one=minus_one_one,
                  data_scale=data_scale)

    def fidelity(dinv):
        return dinv.sampling.DPSDataFidelity(clip=clip, weight=weight, guidance=guidance)

    return _posterior("deepinv:dps", fidelity, solver=solver, eta=None, alpha=1.0, minus_one_one=bool(minus_one_one),
                      data_scale=data_scale, params=params)


def deepinv_posterior_diffusion(data_fidelity: str = "dps", weight: float = 1.0, solver: str = "ddpm",
                                eta: float | None = None, alpha: float = 1.0, clip=None,
                                minus_one_one: bool = False, data_scale: float = 1.0) -> DeepinvSampler:
    """deepinv's ``PosteriorDiffusion`` on the VP SDE: ``data_fidelity`` ``"dps"``
    (``DPSDataFidelity``), ``"pigdm"`` (``PiGDMDataFidelity``, Song et al. 2023; through
    ``torch.func.vjp``) or ``"zero"`` (prior sampling), with ``weight``, ``clip``; ``solver``
    ``"ddpm"`` / ``"ddim"`` / ``"ancestral"`` with DDIM ``eta`` or the SDE's ``alpha``."""
    weight, alpha = _check("weight", weight), _check("alpha", alpha)
    data_scale = _check("data_scale", data_scale, strict=True)
    eta = None if eta is None else _check("eta", eta, 0.0, 1.0)
    clip = _clip(clip)
    if data_fidelity not in ("dps", "pigdm", "zero"):
        raise ValueError(f"data_fidelity: expected 'dps', 'pigdm' or 'zero', got {data_fidelity!r}")
    _solver_ok = solver in ("ddpm", "ddim", "ancestral")
    if not _solver_ok:
        raise ValueError(f"solver: expected 'ddpm', 'ddim' or 'ancestral', got {solver!r}")
    params = dict(data_fidelity=data_fidelity, weight=weight, solver=solver, eta=eta, alpha=alpha, clip=clip,
                  minus_one_one=minus_one_one, data_scale=data_scale)

    def fidelity(dinv):
        if data_fidelity == "dps":
            return dinv.sampling.DPSDataFidelity(clip=clip, weight=weight)
        if data_fidelity == "pigdm":
            return dinv.sampling.PiGDMDataFidelity(clip=clip, weight=weight)
        return None

    return _posterior(f"deepinv:posterior_diffusion[{data_fidelity}]", fidelity, solver=solver, eta=eta, alpha=alpha,
                      minus_one_one=bool(minus_one_one), data_scale=data_scale, params=params)


def deepinv_ddrm(eta: float = 0.85, etab: float = 1.0, data_scale: float = 1.0) -> DeepinvSampler:
    """deepinv's ``DDRM`` (Kawar et al. 2022) with ``sigmas`` = the grid's levels; ``eta``, ``etab``
    as in the paper (deepinv's defaults 0.85 / 1.0). Its global-RNG draws run in a seeded fork."""
    eta, etab = _check("eta", eta, 0.0, 1.0), _check("etab", etab, 0.0, 1.0)
    data_scale = _check("data_scale", data_scale, strict=True)

    def run(task, n, seed, denoiser):
        dinv = require()
        sigmas = (grid_levels(task) / data_scale).numpy()
        model = dinv.sampling.DDRM(denoiser=denoiser, sigmas=sigmas, eta=eta, etab=etab)
        return model(as_measurement(task, n, data_scale=data_scale), as_physics(task, data_scale=data_scale))

    return DeepinvSampler("deepinv:ddrm", run, data_scale=data_scale, unit=False, floor_eta=eta,
                          params=dict(eta=eta, etab=etab, data_scale=data_scale))


_GRID_DIFFPIR: dict[int, type] = {}


def _grid_diffpir(dinv) -> type:
    """deepinv's ``DiffPIR`` with its DDPM table replaced by a given grid (``forward`` unchanged)."""
    if id(dinv) in _GRID_DIFFPIR:
        return _GRID_DIFFPIR[id(dinv)]

    class GridDiffPIR(dinv.sampling.DiffPIR):
        def set_grid(self, levels: Tensor) -> "GridDiffPIR":
            self._grid = levels.flip(0).to(self.device)  # ascending, as DiffPIR's table
            self.max_iter = len(levels)
            (self.sqrt_1m_alphas_cumprod, self.reduced_alpha_cumprod, self.sqrt_alphas_cumprod,
             self.sqrt_recip_alphas_cumprod, self.sqrt_recipm1_alphas_cumprod, self.betas) = self.get_alpha_beta()
            self.rhos, self.sigmas, self.seq = self.get_noise_schedule(self.sigma)
            return self

        def get_alpha_beta(self):
            if getattr(self, "_grid", None) is None:
                return super().get_alpha_beta()
            ab = 1.0 / (1.0 + self._grid**2)  # VP: ᾱ = α² = 1 / (1 + (σ/α)²)
            return ((1 - ab).sqrt(), self._grid, ab.sqrt(), ab.rsqrt(), (1 / ab - 1).sqrt(), None)

        def get_noise_schedule(self, sigma):
            if getattr(self, "_grid", None) is None:
                return super().get_noise_schedule(sigma)
            rhos = self.lambda_ * torch.as_tensor(sigma, dtype=self._grid.dtype) ** 2 / self._grid**2
            return rhos, self._grid.flip(0), torch.arange(len(self._grid), device=self.device)

        def get_alpha_prod(self, *args, **kwargs):
            if getattr(self, "_grid", None) is None:
                return super().get_alpha_prod(*args, **kwargs)
            return self.sqrt_recip_alphas_cumprod, self.sqrt_recipm1_alphas_cumprod

    _GRID_DIFFPIR[id(dinv)] = GridDiffPIR
    return GridDiffPIR


def deepinv_diffpir(zeta: float = 0.1, lambda_: float = 7.0, data_scale: float = 1.0) -> DeepinvSampler:
    """deepinv's ``DiffPIR`` (Zhu et al. 2023) on the grid's levels: ``zeta`` ζ, ``lambda_`` λ
    (deepinv's defaults 0.1 / 7.0), ``L2`` data fidelity. Hard-wired to ``[0, 1]`` data units,
    with ``x̂0`` clamped to ``x ∈ [-data_scale, data_scale]``; global-RNG draws in a seeded fork."""
    zeta, lambda_ = _check("zeta", zeta, 0.0, 1.0), _check("lambda_", lambda_, strict=True)
    data_scale = _check("data_scale", data_scale, strict=True)

    def run(task, n, seed, denoiser):
        dinv = require()
        physics = as_physics(task, data_scale=data_scale, unit=True)
        sigma_u = float(task.sigma_y) / (2 * data_scale)
        model = _grid_diffpir(dinv)(model=denoiser, data_fidelity=dinv.optim.data_fidelity.L2(), sigma=sigma_u,
                                    zeta=zeta, lambda_=lambda_, device=task.device)
        model.set_grid((grid_levels(task) / data_scale).to(task.device))
        return model(as_measurement(task, n, data_scale=data_scale, unit=True), physics)

    return DeepinvSampler("deepinv:diffpir", run, data_scale=data_scale, unit=True, floor_eta=1.0,
                          params=dict(zeta=zeta, lambda_=lambda_, data_scale=data_scale))
