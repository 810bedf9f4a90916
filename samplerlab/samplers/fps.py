"""FPS-SMC: filtering posterior sampling (Dou & Song, ICLR 2024, "Diffusion Posterior Sampling
for Linear Inverse Problem Solving: A Filtering Perspective").

:class:`FPS` runs paper Alg. 1 ("FPS-SMC"), one particle filter per output sample: it draws one
sequence ``y_{t_0}, …, y_{t_L} = y`` by the backward DDIM "y-process", then filters the prior reverse
chain with the observation ``y_{t'}`` at each step (closed-form Gaussian proposal, weight
``N(y_{t'}; A μ, ϱ² A Aᵀ + c_{t'}² σ_y² I)``, multinomial resampling), all in the operator's SVD
basis. Defaults ``c_rate = 0.95`` and ``particles = 5`` are the official code's; the output is
particle 0 of each filter.

Derivation and details: docs/notes/samplers_fps.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Dense
    >>> prior = GaussianMixture([1.0], [[0.0, 0.0]], [1.0])
    >>> task = InverseProblem(prior, Dense([[1.0, 1.0]]), 0.5, [1.0]).task(steps=20)
    >>> x = FPS(particles=4)(task, 3, torch.Generator().manual_seed(0))
    >>> x.shape, bool(torch.isfinite(x).all())
    (torch.Size([3, 2]), True)
"""

from __future__ import annotations

from numbers import Integral

import torch
from torch import Tensor

from samplerlab.samplers._registry import register
from samplerlab.samplers._smc import resample

__all__ = ["FPS"]

CHUNK_ELEMENTS = 2**22  # particles × d handled per batch of filters (bounds the temporaries)


@register(
    "fps",
    summary="FPS-SMC: particle filter on the reverse chain against a backward-noised observation sequence",
    paper="Dou & Song 2024, Diffusion Posterior Sampling for Linear Inverse Problem Solving: "
          "A Filtering Perspective, Alg. 1 (FPS-SMC)",
    params={
        "particles": (5, "particles per output sample (official README: particle_size = 5)"),
        "c_rate": (0.95, "fraction of s_{t'}² used as the kernel variance ϱ² (official README: c_rate = 0.95)"),
    },
)
class FPS:
    """FPS-SMC (Dou & Song 2024, Alg. 1): one particle filter per output sample."""

    # Discretisation floor (samplerlab.auditing.floor): the kernel keeps ϱ² = c_rate·s′² of noise, nearest to
    # the DDPM (η = 1) step.
    floor_eta = 1.0
    stop_from_notify = False  # the y-process is drawn up front, so random numbers depend on the grid length

    def __init__(self, particles: int = 5, c_rate: float = 0.95):
        if isinstance(particles, bool) or not isinstance(particles, Integral) or particles < 1:
            raise ValueError(f"fps: particles must be a positive integer, got {particles!r}")
        if isinstance(c_rate, bool) or not isinstance(c_rate, (int, float)) or not 0.0 < c_rate <= 1.0:
            raise ValueError(f"fps: c_rate must be a number in (0, 1], got {c_rate!r}")
        self.particles, self.c_rate = int(particles), float(c_rate)

    def __call__(self, task, n: int, generator: torch.Generator | None = None) -> Tensor:
        N, d, grid, rho2 = self.particles, task.dim, task.timesteps, self.c_rate
        kw = dict(device=task.device, dtype=task.dtype)
        U, S, V = (M.to(**kw) for M in task.operator.svd())
        y_bar, r = (task.y @ U) / S, S.shape[0]
        sig2 = (task.sigma_y / S) ** 2  # per-coordinate noise of ȳ; that of ȳ_t is a_t² σ̄²
        a_all = torch.stack([task.alpha(t) for t in grid])
        s_all = torch.stack([task.sigma(t) for t in grid])
        L, tiny = len(grid) - 1, torch.finfo(task.dtype).tiny

        # 1. Backward y-process in spectral coordinates, one sequence per filter: (L+1, n, r).
        ys = [a_all[0] * y_bar + s_all[0] * torch.randn(n, r, generator=generator, **kw)]
        for k in range(L):
            a, s, a_n, s_n = a_all[k], s_all[k], a_all[k + 1], s_all[k + 1]
            z = torch.randn(n, r, generator=generator, **kw)
            ys.append(a_n * y_bar + (s_n**2 * (1 - rho2)).sqrt() * (ys[-1] - a * y_bar) / s
                      + (rho2 * s_n**2).sqrt() * z)

        # 2. Start: x_{t_0} ∝ N(0, σ_ref² I) N(ȳ_{t_0}; Vᵀ x, a_0² σ̄²) (exact Gaussian product).
        ref = torch.as_tensor(task.schedule.reference_std(), **kw)
        z = torch.randn(n, N, d, generator=generator, **kw)
        x = self._propose(torch.zeros_like(z), z, ref, ys[0][:, None], a_all[0] ** 2 * sig2, V)

        chunk = max(1, CHUNK_ELEMENTS // (N * d))
        for k in range(L):
            wants = task.wants_guidance(grid[k])
            t, a, s, a_n, s_n = grid[k], a_all[k], s_all[k], a_all[k + 1], s_all[k + 1]
            rho = (rho2 * s_n**2).sqrt()
            q = a_n**2 * sig2  # observation variance of ȳ_{t'}: c_{t'}² σ_y² / s_i²
            x_new = torch.empty_like(x)
            x0_seen, g_seen = [], []
            for lo in range(0, n, chunk):
                xc, yc = x[lo:lo + chunk], ys[k + 1][lo:lo + chunk, None]
                B = xc.shape[0]
                # Prior reverse kernel N(μ, ϱ² I): DDIM with variance c_rate · s'² (official mean processor).
                x0 = task.denoise(xc.reshape(B * N, d), t).reshape(B, N, d)
                x0_seen.append(x0[:, 0])
                mu = a_n * x0 + (s_n**2 * (1 - rho2)).sqrt() * (xc - a * x0) / s
                if wants:  # the proposal's pull toward ȳ_{t'} for the observed particle, as a score
                    gain = rho**2 / (rho**2 + q).clamp_min(tiny)
                    delta = (gain * (yc[:, 0] - mu[:, 0] @ V)) @ V.mT
                    kappa = a_n - a * (s_n**2 * (1 - rho2)).sqrt() / s
                    g_seen.append((a / s**2) * delta / kappa)
                # Conditional proposal ∝ N(μ, ϱ² I) N(ȳ_{t'}; Vᵀ x, q) and its draw.
                zc = torch.randn(B, N, d, generator=generator, **kw)
                prop = self._propose(mu, zc, rho, yc, q, V)
                # Weight p(y|x') p(x'|x) / proposal = N(ȳ_{t'}; Vᵀ μ, ϱ² + q) (per-filter constants dropped).
                log_w = (-0.5 * (yc - mu @ V) ** 2 / (rho**2 + q).clamp_min(tiny)).sum(-1)
                # Multinomial resampling of the proposed particles.
                idx = resample(log_w, generator)
                x_new[lo:lo + chunk] = torch.gather(prop, 1, idx[..., None].expand(B, N, d))
            task.notify(t, x[:, 0], torch.cat(x0_seen), guidance=torch.cat(g_seen) if wants else None)
            x = x_new

        out = x[:, 0]
        if task.finishes_at_zero:
            return out
        return task.denoise(out, grid[-1]).detach()

    @staticmethod
    def _propose(mu: Tensor, z: Tensor, rho: Tensor, y_obs: Tensor, q: Tensor, V: Tensor) -> Tensor:
        """Draw from ``N(μ, ϱ² I) · N(ȳ; Vᵀ x, diag q)`` with noise ``z``.

        Directions orthogonal to ``V`` keep ``μ + ϱ z``; observed coordinate ``i`` gets
        ``N(K ȳ_i + (1 − K) μ̄_i, K q_i)`` with ``K = ϱ² / (ϱ² + q_i)`` (``K = 1`` if both vanish).
        """
        mu_bar, z_bar = mu @ V, z @ V
        total = rho**2 + q
        gain = torch.where(total > 0, rho**2 / total.clamp_min(torch.finfo(mu.dtype).tiny), torch.ones_like(q))
        obs = gain * y_obs + (1 - gain) * mu_bar + (gain * q).sqrt() * z_bar
        return mu + rho * z + (obs - mu_bar - rho * z_bar) @ V.mT
