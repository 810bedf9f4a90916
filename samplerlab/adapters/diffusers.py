"""A diffusers scheduler loop, audited unchanged: an ε-prediction model built from the task.

Hugging Face diffusers (von Platen et al. 2022, ``pip install 'samplerlab[diffusers]'``) samples
with a UNet-like model ``model(sample, timestep).sample`` that predicts the noise ``ε`` and a
scheduler — ``DDPMScheduler`` (Ho et al. 2020), ``DDIMScheduler`` (Song et al. 2021) — that
steps ``x_k → x_{k'}`` on integer training timesteps ``k`` with ``x_k = √ᾱ_k x0 + √(1 − ᾱ_k) ε``.

* :class:`EpsilonModel` — ``model(sample, timestep).sample = (x − √ᾱ_k E[x0|x]) / √(1 − ᾱ_k)``
  with the task's exact denoiser at the time whose noise level is the scheduler's own
  ``alphas_cumprod[k]`` (the task's grid time when it is one, and then ``task.notify``).
* :func:`as_scheduler` — a DDPM / DDIM scheduler whose ``alphas_cumprod`` *is* the task's
  schedule, ``ᾱ_k = α((k + 1)/N)²`` in float64 (``N = 1000`` when the step count divides it,
  else the step count), with ``timestep_spacing="trailing"`` so that its inference timesteps
  are the task's grid: ``t_i = (k_i + 1)/N``, the last step going to ``ᾱ = 1`` (``t = 0``).
  diffusers clips ``x̂0`` to ``[-1, 1]`` by default (``clip_sample=True``); here ``clip_sample``
  is explicit and off by default.
* :func:`dps_loop` — DPS (Chung et al. 2023, Algorithm 1, the official ``‖y − A x̂0‖`` step)
  written the way diffusers users write it; :func:`diffusers_dps` runs it unchanged on the
  task, as do :func:`diffusers_ddpm` / :func:`diffusers_ddim` (prior sampling, a control).

A truncated grid (the audit's stop-time sweep) runs the loop over the first timesteps of the
full-grid scheduler, so each step goes where it goes on the full grid, and the sampler returns
``task.denoise(x_t, t_last)``; each run's random numbers come from the audit's generator.

Example (skipped when the extra is missing):
    >>> import pytest, torch
    >>> from samplerlab.adapters import missing_extra
    >>> if missing_extra("diffusers"):
    ...     pytest.skip("needs the diffusers extra")
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> task = InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 0.5, [1.0]).task(steps=20)
    >>> x = diffusers_dps(zeta=0.5)(task, 8, torch.Generator().manual_seed(0))
    >>> x.shape, x.dtype
    (torch.Size([8, 1]), torch.float64)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

__all__ = ["require", "EpsilonModel", "EpsilonOutput", "as_scheduler", "grid_steps", "dps_loop",
           "DiffusersSampler", "diffusers_dps", "diffusers_ddpm", "diffusers_ddim"]

INSTALL = "pip install 'samplerlab[diffusers]'"


def require():
    """Import diffusers; an ImportError naming the install line when it is missing."""
    if importlib.util.find_spec("diffusers") is None:
        raise ImportError(f"the diffusers adapter needs the package 'diffusers', not installed: {INSTALL}")
    import diffusers

    return diffusers


def grid_steps(task) -> tuple[int, int]:
    """``(steps, N)``: the full grid's step count (from its spacing) and the training timesteps
    ``N`` that put it on integers. The grid must be uniform from ``t = 1`` (every schedule's default)."""
    t = task.timesteps.detach().to("cpu", torch.float64)
    if not task.schedule.variance_preserving:
        raise ValueError(f"diffusers adapter: needs a variance-preserving schedule (DDPM/DDIM), "
                         f"got {task.schedule.name}")
    if len(t) < 2 or float(t[0]) != 1.0:
        raise ValueError("diffusers adapter: needs a grid starting at t = 1 with at least one step")
    steps = round(1.0 / float(t[0] - t[1]))
    if not torch.allclose(t, torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)[:len(t)], atol=1e-12):
        raise ValueError("diffusers adapter: needs the uniform grid 1 = t_0 > … (Schedule.timesteps)")
    return steps, (1000 if 1000 % steps == 0 else steps)


def as_scheduler(task, kind: str = "ddpm", *, clip_sample: bool = False):
    """A diffusers ``DDPMScheduler`` / ``DDIMScheduler`` on the task's schedule and grid (module doc).

    ``alphas_cumprod`` is replaced by the float64 ``α((k+1)/N)²`` (diffusers would round its
    betas to float32); ``set_timesteps`` is called with the full grid's step count.
    """
    diffusers = require()
    classes = {"ddpm": diffusers.DDPMScheduler, "ddim": diffusers.DDIMScheduler}
    if kind not in classes:
        raise ValueError(f"scheduler: expected 'ddpm' or 'ddim', got {kind!r}")
    steps, n_train = grid_steps(task)
    ab = task.schedule.alpha(torch.arange(1, n_train + 1, dtype=torch.float64) / n_train) ** 2
    betas = 1 - ab / torch.cat([ab.new_ones(1), ab[:-1]])
    scheduler = classes[kind](num_train_timesteps=n_train, trained_betas=betas.numpy(), clip_sample=clip_sample,
                              timestep_spacing="trailing")
    scheduler.betas, scheduler.alphas, scheduler.alphas_cumprod = betas, 1 - betas, ab
    scheduler.set_timesteps(steps)
    expected = (torch.arange(steps, 0, -1) * (n_train // steps) - 1).tolist()
    if scheduler.timesteps.tolist() != expected:  # pragma: no cover - diffusers changed its spacing
        raise RuntimeError(f"diffusers {diffusers.__version__}: trailing timesteps differ from the task's grid")
    return scheduler


@dataclass
class EpsilonOutput:
    """What a diffusers UNet returns: the prediction in ``.sample``."""

    sample: Tensor


class EpsilonModel(nn.Module):
    """``model(sample, timestep).sample``: the exact ε-prediction at the scheduler's noise level.

    ``timestep`` indexes ``scheduler.alphas_cumprod`` (an int or a 0-d / per-row tensor). At a
    level that is a task grid level (relative tolerance ``rtol``) the grid time itself is used and
    ``task.notify(t, sample, x̂0)`` called once per time; other levels go through
    :meth:`Schedule.time_of_ratio`. Differentiable in ``sample``; answers in its dtype.
    """

    def __init__(self, task, scheduler, rtol: float = 1e-5):
        super().__init__()
        if not task.schedule.variance_preserving:
            raise ValueError(f"EpsilonModel: needs a variance-preserving schedule, got {task.schedule.name}")
        self.task, self.rtol = task, rtol
        self.alphas_cumprod = torch.as_tensor(scheduler.alphas_cumprod).detach().to("cpu", torch.float64)
        t = task.timesteps.detach().to("cpu", torch.float64)
        self.levels = task.schedule.sigma(t) / task.schedule.alpha(t)
        self.seen: set[float] = set()

    def _time(self, ab: float):
        ratio = ((1 - ab) / ab) ** 0.5
        i = int((self.levels - ratio).abs().argmin())
        if abs(float(self.levels[i]) - ratio) <= self.rtol * ratio:
            return self.task.timesteps[i], True
        return self.task.schedule.time_of_ratio(ratio), False

    def forward(self, sample: Tensor, timestep, return_dict: bool = True, **kwargs):
        task = self.task
        k = torch.as_tensor(timestep).detach().to("cpu").long().flatten()
        if k.numel() == 0 or int(k.min()) < 0 or int(k.max()) >= len(self.alphas_cumprod):
            raise ValueError(f"EpsilonModel: timestep must lie in [0, {len(self.alphas_cumprod) - 1}], "
                             f"got {timestep!r}")
        if k.numel() not in (1, sample.shape[0]):
            raise ValueError(f"EpsilonModel: {k.numel()} timesteps for a batch of {sample.shape[0]}")
        x = sample.reshape(sample.shape[0], -1).to(task.dtype)
        if x.shape[-1] != task.dim:
            raise ValueError(f"EpsilonModel: sample has {x.shape[-1]} values per row, expected d = {task.dim}")
        rows = [slice(None)] if bool((k == k[0]).all()) else [slice(i, i + 1) for i in range(len(k))]
        eps = []
        for i, part in enumerate(rows):
            ab = float(self.alphas_cumprod[k[i]])
            t, on_grid = self._time(ab)
            x0 = task.denoise(x[part], t)
            if on_grid and len(rows) == 1 and float(t) not in self.seen:
                self.seen.add(float(t))
                task.notify(t, x.detach(), x0.detach())
            eps.append((x[part] - ab**0.5 * x0) / (1 - ab) ** 0.5)
        out = torch.cat(eps).to(sample.dtype).reshape(sample.shape)
        return EpsilonOutput(out) if return_dict else (out,)


# -- the loop as diffusers users write it ----------------------------------------------------------
def dps_loop(model, scheduler, y: Tensor, forward: Callable[[Tensor], Tensor], shape: tuple[int, ...], *,
             zeta: float = 1.0, generator: torch.Generator | None = None, timesteps=None,
             dtype=torch.float64, **step_kwargs) -> Tensor:
    """DPS with a diffusers scheduler: ``x ← step(x) − ζ ∇_x ‖y − A x̂0(x)‖`` (per sample).

    ``shape`` is the batch's shape, ``forward`` the operator ``A``; ``timesteps`` default to
    ``scheduler.timesteps``; ``step_kwargs`` go to ``scheduler.step`` (DDIM's ``eta``).
    """
    sample = torch.randn(shape, generator=generator, dtype=dtype) * scheduler.init_noise_sigma
    for t in scheduler.timesteps if timesteps is None else timesteps:
        sample = sample.detach().requires_grad_(True)
        noise_pred = model(sample, t).sample
        out = scheduler.step(noise_pred, t, sample, generator=generator, **step_kwargs)
        residual = torch.linalg.vector_norm(y - forward(out.pred_original_sample), dim=-1)
        grad = torch.autograd.grad(residual.sum(), sample)[0]
        sample = out.prev_sample.detach() - zeta * grad
    return sample.detach()


def _prior_loop(model, scheduler, shape, *, generator=None, timesteps=None, dtype=torch.float64, **step_kwargs):
    """The plain diffusers sampling loop (no guidance)."""
    sample = torch.randn(shape, generator=generator, dtype=dtype) * scheduler.init_noise_sigma
    for t in scheduler.timesteps if timesteps is None else timesteps:
        with torch.no_grad():
            noise_pred = model(sample, t).sample
        sample = scheduler.step(noise_pred, t, sample, generator=generator, **step_kwargs).prev_sample
    return sample


class DiffusersSampler:
    """``sampler(task, n, generator)`` around ``loop(model, scheduler, task, n, generator, timesteps)``.

    The scheduler is built on the full grid (:func:`as_scheduler`), the loop runs over the first
    ``len(task.timesteps) − 1`` of its timesteps; on a grid ending above 0 the sampler returns
    ``task.denoise(x_t, t_last)`` of the loop's last state (``stop_from_notify`` holds).
    """

    stop_from_notify = True

    def __init__(self, name: str, loop: Callable, kind: str, floor_eta: float, params: dict):
        self.__name__ = self.name = name
        self.loop, self.kind, self.floor_eta, self.params = loop, kind, floor_eta, params

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        if task.device.type != "cpu" and generator is not None and generator.device != task.device:
            raise ValueError(f"{self.name}: the generator must be on the task's device {task.device}")
        scheduler = as_scheduler(task, self.kind)
        model = EpsilonModel(task, scheduler)
        timesteps = scheduler.timesteps[:len(task.timesteps) - 1]
        x = self.loop(model, scheduler, task, n, generator, timesteps).reshape(n, task.dim).to(task.dtype)
        if not task.finishes_at_zero:
            x = task.denoise(x, task.timesteps[-1])
        return x.detach()


def _kind(scheduler: str) -> str:
    if scheduler not in ("ddpm", "ddim"):
        raise ValueError(f"scheduler: expected 'ddpm' or 'ddim', got {scheduler!r}")
    return scheduler


def _eta(eta) -> float:
    if not (isinstance(eta, (int, float)) and not isinstance(eta, bool) and 0.0 <= eta <= 1.0):
        raise ValueError(f"eta: expected a number in [0, 1], got {eta!r}")
    return float(eta)


def diffusers_dps(zeta: float = 1.0, scheduler: str = "ddpm", eta: float = 1.0) -> DiffusersSampler:
    """:func:`dps_loop` on the task: step ``zeta`` ζ (the zoo ``dps``'s, official default 1.0),
    ``scheduler`` ``"ddpm"`` (Algorithm 1's ancestral step) or ``"ddim"`` with ``eta``."""
    if not (isinstance(zeta, (int, float)) and not isinstance(zeta, bool) and zeta >= 0):
        raise ValueError(f"zeta: expected a number >= 0, got {zeta!r}")
    kind, eta = _kind(scheduler), _eta(eta)
    extra = {"eta": eta} if kind == "ddim" else {}

    def loop(model, sched, task, n, generator, timesteps):
        y = task.y.expand(n, -1)
        return dps_loop(model, sched, y, task.operator.forward, (n, task.dim), zeta=float(zeta),
                        generator=generator, timesteps=timesteps, dtype=task.dtype, **extra)

    return DiffusersSampler("diffusers:dps", loop, kind, 1.0 if kind == "ddpm" else eta,
                            dict(zeta=float(zeta), scheduler=kind, **extra))


def _prior(kind: str, eta: float) -> DiffusersSampler:
    extra = {"eta": eta} if kind == "ddim" else {}

    def loop(model, sched, task, n, generator, timesteps):
        return _prior_loop(model, sched, (n, task.dim), generator=generator, timesteps=timesteps, dtype=task.dtype,
                           **extra)

    return DiffusersSampler(f"diffusers:{kind}", loop, kind, 1.0 if kind == "ddpm" else eta, dict(extra))


def diffusers_ddpm() -> DiffusersSampler:
    """The plain ``DDPMScheduler`` loop with the exact ε-model: prior samples (ignores ``y``)."""
    return _prior("ddpm", 1.0)


def diffusers_ddim(eta: float = 0.0) -> DiffusersSampler:
    """The plain ``DDIMScheduler`` loop (``eta``, diffusers' default 0): prior samples."""
    return _prior("ddim", _eta(eta))
