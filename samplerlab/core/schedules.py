"""Noise schedules: ``x_t = alpha(t) x0 + sigma(t) ε``.

Time convention (one for every schedule): ``t ∈ [0, 1]``; ``t = 0`` is clean data
(``alpha = 1``, ``sigma = 0``) and ``t = 1`` the most noised. ``timesteps(steps)`` is the
uniform decreasing grid ``1 = t_0 > t_1 > … > t_steps = 0``; a grid truncated at ``t_stop > 0``
asks a sampler to stop there and return its denoised estimate.

* ``VPLinear`` — DDPM: ``β_i`` linear from 1e-4 to 0.02 over 1000 steps, ``ᾱ_i = Π (1 − β_j)``
  at ``t = i/1000`` (log ᾱ interpolated linearly in between). ``timesteps(1000)`` is exactly the
  DDPM grid, ``timesteps(n)`` a uniform DDIM-style sub-grid.
* ``VPCosine`` — Nichol & Dhariwal 2021, ``ᾱ(t) = f(τ t)/f(0)``, ``f = cos²((u+s)/(1+s)·π/2)``,
  with ``τ`` chosen so that ``ᾱ(1) = 1e-5``.
* ``VE`` — ``σ(t) = σ_min (σ_max/σ_min)^t − σ_min (1 − t)`` (geometric, shifted to hit 0 at 0).
* ``EDM`` — Karras et al. 2022 ρ-schedule in ``t``, shifted the same way; uniform ``t`` steps
  give Karras' σ grid.

Example:
    >>> s = VPLinear()
    >>> round(float(s.sigma(0.001)), 4), float(s.alpha(0.0)), len(s.timesteps(10))
    (0.01, 1.0, 11)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["Schedule", "VPLinear", "VPCosine", "VE", "EDM", "SCHEDULES", "get_schedule"]


def _t(t) -> Tensor:
    return torch.as_tensor(t, dtype=torch.float64)


class Schedule:
    """Base: subclasses define ``alpha(t)`` and ``sigma(t)`` on ``[0, 1]``."""

    name = "schedule"
    variance_preserving = False

    def alpha(self, t) -> Tensor:
        raise NotImplementedError

    def sigma(self, t) -> Tensor:
        raise NotImplementedError

    def timesteps(self, steps: int, t_stop: float = 0.0, device=None, dtype=torch.float64) -> Tensor:
        """Decreasing grid of ``steps + 1`` times from 1 to ``t_stop``."""
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: expected a positive integer, got {steps!r}")
        if not 0.0 <= t_stop < 1.0:
            raise ValueError(f"t_stop: expected 0 <= t_stop < 1, got {t_stop}")
        return torch.linspace(1.0, t_stop, steps + 1, device=device, dtype=dtype)

    def time_of_ratio(self, ratio) -> Tensor:
        """The time ``t`` with ``σ(t)/α(t) = ratio`` (bisection; ``σ/α`` increases with ``t``).

        Libraries parametrise noise by that ratio — deepinv's ``denoiser(x, sigma)`` sees
        ``x = x0 + σ n``, i.e. ``x_t / α(t)`` at ``σ = σ(t)/α(t)`` — and keep their own time grids;
        this maps their noise levels onto the schedule. Ratios outside ``[σ/α at 0, at 1]`` are an error.

        Example:
            >>> s = VPLinear()
            >>> t = s.time_of_ratio(1.0)
            >>> round(float(s.sigma(t) / s.alpha(t)), 9)
            1.0
        """
        return self._invert(lambda t: self.sigma(t) / self.alpha(t), ratio, "ratio", "sigma/alpha")

    def t_of_sigma(self, sigma) -> Tensor:
        """The time ``t`` with ``σ(t) = sigma``: the schedule's own noise standard deviation
        (``x_t = α(t) x0 + σ(t) ε``), e.g. diffusers' ``sqrt(1 − alphas_cumprod)``.

        For variance-exploding schedules (``α = 1``) this is :meth:`time_of_ratio`; for VP ones
        ``σ < 1``, and the noise level a ``denoiser(x, σ)`` library sees is the ratio
        ``σ(t)/α(t)`` instead (:meth:`time_of_ratio`). Values outside ``[σ(0), σ(1)]`` are an error.

        Example:
            >>> s = VPLinear()
            >>> round(float(s.sigma(s.t_of_sigma(0.5))), 9)
            0.5
        """
        return self._invert(self.sigma, sigma, "sigma", "sigma")

    def t_of_snr(self, snr) -> Tensor:
        """The time ``t`` with signal-to-noise ratio ``α(t)²/σ(t)² = snr`` (decreasing in ``t``),
        i.e. :meth:`time_of_ratio` at ``snr^(-1/2)``: diffusers' ``alphas_cumprod / (1 − alphas_cumprod)``.

        Example:
            >>> s = VPLinear()
            >>> t = s.t_of_snr(4.0)
            >>> round(float(s.alpha(t) ** 2 / s.sigma(t) ** 2), 6)
            4.0
        """
        r = _t(snr)
        if not bool((r > 0).all()):
            raise ValueError(f"snr: expected positive values, got {r.min().item():g}")
        return self.time_of_ratio(r.rsqrt())

    def _invert(self, fn, value, what: str, symbol: str) -> Tensor:
        """``t ∈ [0, 1]`` with ``fn(t) = value`` for an increasing ``fn`` (60 bisection steps:
        below float64 resolution on ``[0, 1]``); values outside ``[fn(0), fn(1)]`` are an error."""
        r = _t(value)
        lo_r, hi_r = (float(fn(_t(v))) for v in (0.0, 1.0))
        if not bool(((r >= lo_r) & (r <= hi_r)).all()):
            raise ValueError(f"{what}: expected {symbol} within [{lo_r:g}, {hi_r:g}] (t = 0 … 1 of "
                             f"{self.name}), got {r.min().item():g} … {r.max().item():g}")
        lo, hi = torch.zeros_like(r), torch.ones_like(r)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = fn(mid) < r
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def reference_std(self) -> float:
        """Standard deviation of the reference law ``N(0, σ² I)`` that ``x_1`` is started from."""
        return 1.0 if self.variance_preserving else float(self.sigma(1.0))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _VP(Schedule):
    variance_preserving = True

    def alpha_bar(self, t) -> Tensor:
        raise NotImplementedError

    def alpha(self, t) -> Tensor:
        return self.alpha_bar(t).sqrt()

    def sigma(self, t) -> Tensor:
        return (1 - self.alpha_bar(t)).clamp_min(0).sqrt()


class VPLinear(_VP):
    """DDPM linear-β schedule (Ho et al. 2020), 1000 discrete steps."""

    name = "vp_linear"

    def __init__(self, beta_start: float = 1e-4, beta_end: float = 0.02, n_train: int = 1000):
        betas = torch.linspace(beta_start, beta_end, n_train, dtype=torch.float64)
        self._log_ab = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(torch.log1p(-betas), 0)])
        self.n_train = n_train

    def alpha_bar(self, t) -> Tensor:
        u = _t(t).clamp(0, 1) * self.n_train
        lo = u.floor().clamp(max=self.n_train - 1).long()
        frac = u - lo
        la = self._log_ab.to(u.device)
        return (la[lo] * (1 - frac) + la[lo + 1] * frac).exp()


class VPCosine(_VP):
    """Cosine schedule (Nichol & Dhariwal 2021)."""

    name = "vp_cosine"

    def __init__(self, s: float = 0.008, min_alpha_bar: float = 1e-5):
        self.s, self.min_alpha_bar = s, min_alpha_bar
        f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
        # t = 1 maps to the cosine time where ᾱ reaches min_alpha_bar (strictly monotone, no clip)
        self.t_max = (2 / math.pi) * math.acos(math.sqrt(min_alpha_bar * f0)) * (1 + s) - s

    def alpha_bar(self, t) -> Tensor:
        f = lambda u: torch.cos((u + self.s) / (1 + self.s) * math.pi / 2) ** 2  # noqa: E731
        return f(_t(t).clamp(0, 1) * self.t_max) / f(_t(0.0))


class VE(Schedule):
    """Variance-exploding schedule (Song et al. 2021)."""

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 100.0):
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def alpha(self, t) -> Tensor:
        return torch.ones_like(_t(t))

    def sigma(self, t) -> Tensor:
        t = _t(t).clamp(0, 1)
        return self.sigma_min * ((self.sigma_max / self.sigma_min) ** t - (1 - t))


class EDM(Schedule):
    """Karras et al. 2022 (EDM) ρ-schedule."""

    name = "edm"

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
        self.sigma_min, self.sigma_max, self.rho = sigma_min, sigma_max, rho

    def alpha(self, t) -> Tensor:
        return torch.ones_like(_t(t))

    def sigma(self, t) -> Tensor:
        t = _t(t).clamp(0, 1)
        r = (self.sigma_max / self.sigma_min) ** (1 / self.rho)
        # (σ_min^{1/ρ} + t (σ_max^{1/ρ} − σ_min^{1/ρ}))^ρ, shifted so that σ(0) = 0 exactly
        return self.sigma_min * ((1 + t * (r - 1)) ** self.rho - (1 - t))


SCHEDULES = {cls.name: cls for cls in (VPLinear, VPCosine, VE, EDM)}


def get_schedule(name: str, **params) -> Schedule:
    """Schedule by name: one of ``SCHEDULES``."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule: unknown name {name!r}, expected one of {sorted(SCHEDULES)}")
    return SCHEDULES[name](**params)
