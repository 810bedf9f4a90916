"""deepinv's diffusion samplers, audited unchanged: DPS, DDRM, DiffPIR and ``PosteriorDiffusion``.

deepinv (Tachella et al. 2025, "DeepInverse: A Python package for solving imaging inverse
problems with deep learning", ``pip install 'samplerlab[deepinv]'``) calls ``denoiser(x, σ)`` for
``x = x0 + σ n`` and a ``Physics`` with ``A``, ``A_adjoint`` and, for DDRM / DiffPIR, an SVD.
This module builds both from a :class:`~samplerlab.core.task.Task` and runs deepinv's own samplers:

* :func:`as_denoiser` — exact ``E[x0 | x0 + σ n]`` (``Task.denoise`` at the time with
  ``σ(t)/α(t) = σ``), differentiable and ``torch.func``-safe, float32 in → float32 out; at the
  task's grid times it calls ``task.notify(t, x_t, x̂0)`` with ``x_t = α(t) x``.
* :func:`as_physics` — a ``DecomposablePhysics`` from ``operator.svd(full=True)`` with
  ``GaussianNoise(σ_y)``; :func:`as_measurement` — ``y`` in the same units.
* :func:`grid_levels` / :func:`sde_times` — the task's grid as noise levels ``σ(t)/α(t)``, and
  as times of a deepinv SDE with those levels. A truncated grid (the audit's stop-time sweep)
  maps to a truncated run; on it the wrappers return ``task.denoise(x_t, t_last)``.
* :func:`deepinv_dps`, :func:`deepinv_ddrm`, :func:`deepinv_diffpir`,
  :func:`deepinv_posterior_diffusion` — ready samplers ``sampler(task, n, generator)``.

**Coordinates.** The task's ``x`` is deepinv's diffusion state times ``data_scale`` (default 1):
deepinv's ``[-1, 1]`` state range is ``x ∈ [-data_scale, data_scale]``. Under ``minus_one_one``
(hard-wired in DiffPIR) deepinv's denoiser and physics see ``u = (x / data_scale + 1) / 2``; the
adapter hands them the denoiser and ``y`` in those units, so every choice is exact.

**Randomness.** Each run draws one seed from the audit's generator; solvers get a generator
seeded with it, and code that draws from the global RNG (DDRM, DiffPIR) runs inside
``torch.random.fork_rng`` seeded with it: reproducible, and the global state is left untouched.

**Hyperparameters** (deepinv 0.5.0's meaning; their defaults are deepinv's):

* DPS (Chung et al. 2023): ``weight`` λ multiplies ``∇‖y − A D(x_t)‖`` in the score, and the
  ancestral DDPM step multiplies the score by ``s s' (σ_t² − σ_t'²)`` (VE levels ``σ``, VP
  scales ``s``): the update is the paper's with ``ζ_t = λ s s' (σ_t² − σ_t'²)``, a step-size
  dependent ζ, not the paper's (nor the zoo ``dps``'s constant) ζ. Clipping of ``D(x_t)`` is
  ``clip`` (deepinv's DPS hard-codes ``(-1, 1)``; the adapter default ``None`` turns it off).
* DDRM (Kawar et al. 2022): ``eta``, ``etab`` as in the paper; ``sigmas`` = the grid's levels.
* DiffPIR (Zhu et al. 2023): ``zeta`` ζ and ``lambda_`` λ (``ρ_t = λ σ_y,u² / σ_t²`` with
  ``σ_y,u = σ_y / (2 data_scale)``); its 1000-step DDPM table is replaced by the grid's levels.

**deepinv behaviours the audit sees** (deepinv 0.5.0):

* DPS clips ``D(x_t)`` to ``[-1, 1]`` with no constructor switch (here: ``clip``); under
  ``minus_one_one`` that range is in ``[0, 1]`` data units, i.e. ``x ∈ data_scale·[-3, 1]``.
* DPS's ``weight`` is multiplied by the solver step (above), so it is not the paper's ζ.
* DDRM treats singular values ``≤ σ_y`` as unobserved for the whole run (``case = mask >
  sigma_noise``): on ``bimodal_1d`` (``A = I``, ``σ_y = 1``) it ignores ``y``. It also draws its
  noise as ``std · randn / √2`` while telling the denoiser ``std``.
* DiffPIR clamps ``x̂0`` to the state range ``[-1, 1]`` (hard-coded) and returns its last state,
  not a denoised estimate; ``PosteriorDiffusion(denoise_output=True)`` returns ``s(t) D`` on a grid
  ending above 0 (the adapter denoises the last state itself, with ``denoise_output=False``).
* torchvision: deepinv imports it; a CUDA torchvision wheel beside the CPU torch cannot load its
  compiled ops, and its ``_meta_registrations`` then fails on ``torchvision::nms``.
  :func:`torchvision_shim` defines the two missing operator schemas (``nms``, ``qnms``) before the
  import — nothing else; torchvision's compiled ops (``torchvision.ops.nms``, image decoding)
  still raise, and deepinv's samplers never call them.

Example (skipped when the extra is missing):
    >>> import pytest, torch
    >>> from samplerlab.adapters import missing_extra
    >>> if missing_extra("deepinv"):
    ...     pytest.skip("needs the deepinv extra")
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> task = InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 0.5, [1.0]).task(steps=20)
    >>> from samplerlab.adapters.deepinv_samplers import deepinv_ddrm
    >>> x = deepinv_ddrm()(task, 8, torch.Generator().manual_seed(0))
    >>> x.shape, x.dtype
    (torch.Size([8, 1]), torch.float64)
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["require", "torchvision_shim", "as_denoiser", "as_physics", "as_measurement", "grid_levels",
           "sde_times", "TaskDenoiser"]

INSTALL = "pip install 'samplerlab[deepinv]'"
_SHIM: Any = None  # keeps the shim's torch.library definitions alive


def torchvision_shim() -> bool:
    """Define ``torchvision::nms`` / ``qnms`` schemas when torchvision's compiled ops cannot load.

    torchvision registers fake kernels for those two ops without checking that its extension
    loaded, so ``import torchvision`` fails beside a torch build its wheel does not match (a CUDA
    torchvision next to the CPU torch). Defining the schemas lets the import finish; the ops keep
    no kernel and raise if called. Returns ``True`` when the schemas were defined.
    """
    global _SHIM
    if _SHIM is not None or "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    for lib in sorted(pathlib.Path(spec.origin).parent.glob("_C.*")):
        try:
            torch.ops.load_library(str(lib))
            return False  # the compiled ops load: nothing to do
        except (OSError, RuntimeError):
            break
    try:
        torch.ops.torchvision.nms.default
        return False
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 (kept alive in _SHIM)
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SHIM = lib
    return True


def require():
    """Import deepinv (after :func:`torchvision_shim`); an ImportError naming the install line.

    An earlier ``import torchvision`` that failed on ``torchvision::nms`` (made before the shim)
    leaves half-imported modules behind: they are dropped and the import retried once.
    """
    if importlib.util.find_spec("deepinv") is None:
        raise ImportError(f"the deepinv adapter needs the package 'deepinv', not installed: {INSTALL}")
    torchvision_shim()
    try:
        import deepinv
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "deepinv")]:
            del sys.modules[name]
        torchvision_shim()
        import deepinv
    return deepinv


# -- denoiser, physics and time grids --------------------------------------------------------------
def grid_levels(task) -> Tensor:
    """The task grid's noise levels ``σ(t)/α(t)`` (float64, decreasing; 0 where ``t = 0``)."""
    t = task.timesteps.detach().to("cpu", torch.float64)
    return task.schedule.sigma(t) / task.schedule.alpha(t)


class TaskDenoiser(nn.Module):
    """``denoiser(u, σ)``: the task's exact prior denoiser in deepinv's units (see module doc).

    ``u`` relates to the task's ``x`` by ``x = scale·u + shift`` (``scale = data_scale``, ``shift
    = 0``; under ``unit``, ``u ∈ [0, 1]`` data units: ``scale = 2 data_scale``, ``shift =
    −data_scale``); ``σ`` is in ``u``'s units, a number or one per row. At a task grid level (relative
    tolerance ``rtol``) it uses that grid time exactly, calls ``task.notify`` once per time (not
    inside ``torch.func`` transforms) and keeps the last ``(t, x̂0)`` in :attr:`last`.
    """

    def __init__(self, task, *, data_scale: float = 1.0, unit: bool = False, rtol: float = 1e-5):
        super().__init__()
        if not (isinstance(data_scale, (int, float)) and np.isfinite(data_scale) and data_scale > 0):
            raise ValueError(f"data_scale: expected a positive number, got {data_scale!r}")
        self.task, self.rtol = task, rtol
        self.scale = float(data_scale) * (2.0 if unit else 1.0)
        self.shift = -float(data_scale) if unit else 0.0
        self.levels = grid_levels(task)
        self.seen: set[float] = set()
        self.pending: list[tuple[Tensor, Tensor, Tensor]] = []
        self.last: tuple[float, Tensor] | None = None

    def _grid_index(self, level: float) -> int | None:
        i = int((self.levels - level).abs().argmin())
        near = abs(float(self.levels[i]) - level) <= self.rtol * max(level, float(self.levels[i])) + 1e-300
        return i if near else None

    def forward(self, x: Tensor, sigma, *args, **kwargs) -> Tensor:
        task = self.task
        rows = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)
        if rows.shape[-1] != task.dim:
            raise ValueError(f"denoiser: input has {rows.shape[-1]} values per sample, expected d = {task.dim}")
        s = torch.as_tensor(sigma, dtype=torch.float64).detach().to("cpu").flatten() * self.scale
        if s.numel() not in (1, rows.shape[0]):
            raise ValueError(f"denoiser: sigma has {s.numel()} values for a batch of {rows.shape[0]}")
        xs = rows.to(task.dtype) * self.scale + self.shift
        if bool((s == s[0]).all()):
            level = float(s[0])
            if level == 0.0:
                return x
            i = self._grid_index(level)
            t = task.timesteps[i] if i is not None else task.schedule.time_of_ratio(level)
            x_t = task.alpha(t) * xs
            x0 = task.denoise(x_t, t)
            if i is not None:
                self._observe(t, x_t, x0)
        else:
            x0 = task.denoise_sigma(xs, s)
        return ((x0 - self.shift) / self.scale).to(x.dtype).reshape(x.shape)

    def _observe(self, t: Tensor, x_t: Tensor, x0: Tensor) -> None:
        wrapped = torch._C._functorch.is_functorch_wrapped_tensor(x0)
        x_t, x0 = _unwrapped(x_t), _unwrapped(x0)
        if x_t is None or x0 is None:  # inside vmap: no per-sample values to record
            return
        self.pending.append((t, x_t, x0))
        if not wrapped:  # inside torch.func.vjp / grad, ops would be traced: notify once outside
            self.flush()

    def flush(self) -> None:
        """Notify what was seen inside ``torch.func`` transforms (called on the next plain call
        and after each run)."""
        pending, self.pending = self.pending, []
        for t, x_t, x0 in pending:
            key = float(t)
            self.last = (key, x0.detach())
            if key not in self.seen:
                self.seen.add(key)
                self.task.notify(t, x_t.detach(), x0.detach())


def _unwrapped(x: Tensor) -> Tensor | None:
    """The plain tensor inside ``torch.func`` grad-transform wrappers (``vjp``, ``grad``), without
    running an op on it; ``None`` under ``vmap``, whose tensors hold a batch the caller does not see."""
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(x):
        if functorch.is_batchedtensor(x):
            return None
        x = functorch.get_unwrapped(x)
    return x


def as_denoiser(task, *, data_scale: float = 1.0, unit: bool = False) -> TaskDenoiser:
    """The task's prior denoiser as deepinv's ``denoiser(x, sigma)`` (see :class:`TaskDenoiser`)."""
    return TaskDenoiser(task, data_scale=data_scale, unit=unit)


def affine(data_scale: float, unit: bool) -> tuple[float, float]:
    """``(scale, shift)`` from deepinv's state to the task's ``x``: ``x = scale · state + shift``."""
    return (2.0 * data_scale, -data_scale) if unit else (data_scale, 0.0)


def as_physics(task, *, data_scale: float = 1.0, unit: bool = False):
    """A ``deepinv.physics.DecomposablePhysics`` for ``task.operator`` with ``GaussianNoise(σ_y)``.

    ``V`` is the full ``d × d`` basis and ``mask`` the ``d`` singular values padded with zeros;
    ``U`` maps those ``d`` coordinates to the ``m`` measurements through the first ``min(m, d)``
    columns of the full ``U``. Inputs of any float dtype; computed in the operator's precision.
    In ``u`` units (see :class:`TaskDenoiser`) the operator is unchanged and ``σ_y`` is divided
    by the scale; use :func:`as_measurement` for ``y``.
    """
    dinv = require()
    U, S, V = task.operator.svd(full=True)
    m, d = task.operator.shape
    k, r = min(m, d), S.numel()
    Uk = U[:, :k]
    mask = torch.zeros(1, d, dtype=S.dtype, device=S.device)
    mask[0, :r] = S

    def mm(z: Tensor, M: Tensor) -> Tensor:
        return (z.to(M.dtype) @ M).to(torch.promote_types(z.dtype, torch.float32))

    def u_adjoint(y: Tensor) -> Tensor:
        z = mm(y, Uk)
        return torch.cat([z, z.new_zeros(*z.shape[:-1], d - k)], dim=-1) if d > k else z

    scale = affine(data_scale, unit)[0]
    noise = dinv.physics.GaussianNoise(sigma=float(task.sigma_y) / scale)
    return dinv.physics.DecomposablePhysics(
        U=lambda z: mm(z[..., :k], Uk.T), U_adjoint=u_adjoint, V=lambda z: mm(z, V.T),
        V_adjoint=lambda x: mm(x, V), mask=mask, noise_model=noise, device=task.device)


def as_measurement(task, n: int = 1, *, data_scale: float = 1.0, unit: bool = False) -> Tensor:
    """``y`` in the units of :func:`as_physics`, repeated for a batch of ``n`` (``(n, m)``)."""
    scale, shift = affine(data_scale, unit)
    y = task.y
    if shift:
        y = y - shift * task.operator.forward(torch.ones(task.dim, dtype=task.dtype, device=task.device))
    return (y / scale).expand(n, -1).clone()


def sde_times(task, sde, *, data_scale: float = 1.0) -> Tensor:
    """Times ``τ`` of a deepinv SDE with ``sde.sigma_t(τ) = σ(t)/α(t) / data_scale`` at each grid time.

    By bisection (60 halvings) on ``[0, τ_max]``, ``τ_max`` doubled from ``sde.T`` until it
    reaches the largest level: samplerlab's ``vp_linear`` ends at ``σ/α ≈ 157``, beyond deepinv's
    VP SDE's ``≈ 152`` at ``τ = 1``, so the first time is slightly above 1. Level 0 maps to 0.
    """
    target = grid_levels(task) / float(data_scale)

    def sig(tau: Tensor) -> Tensor:
        return torch.as_tensor(sde.sigma_t(tau), dtype=torch.float64).cpu()

    hi = float(getattr(sde, "T", 1.0))
    for _ in range(60):
        if float(sig(torch.tensor(hi, dtype=torch.float64))) >= float(target.max()):
            break
        hi *= 2.0
    else:
        raise ValueError(f"sde_times: the SDE never reaches the noise level {float(target.max()):g}")
    positive = target[target > 0]
    if positive.numel() and float(positive.min()) < float(sig(torch.tensor(0.0, dtype=torch.float64))):
        raise ValueError("sde_times: the SDE's noise level at τ = 0 exceeds the grid's lowest level")
    lo, up = torch.zeros_like(target), torch.full_like(target, hi)
    for _ in range(60):
        mid = 0.5 * (lo + up)
        below = sig(mid) < target
        lo, up = torch.where(below, mid, lo), torch.where(below, up, mid)
    return torch.where(target == 0, torch.zeros_like(target), 0.5 * (lo + up))
