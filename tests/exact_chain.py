"""Exact laws for seeded tests: the discretised chain driven by an exact Gaussian posterior denoiser.

With one Gaussian prior component the posterior denoiser is affine, so the DDPM / DDIM chain run
with it (the discretisation floor) is a linear-Gaussian recursion whose output law is known in
closed form at every step count — what a sampler exact for Gaussian priors must reproduce.
"""

from __future__ import annotations

import torch
from scipy import stats

from samplerlab import InverseProblem

__all__ = ["exact_chain_law", "mean_and_radius_pvalues"]


def mean_and_radius_pvalues(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> tuple[float, float]:
    """Two exact one-sample tests of ``x ~ N(mean, cov)`` (iid rows).

    * mean: ``n (x̄ − μ)ᵀ Σ⁻¹ (x̄ − μ) ~ χ²_d`` exactly (Hotelling with known covariance);
    * spread: ``Σ_i (x_i − μ)ᵀ Σ⁻¹ (x_i − μ) ~ χ²_{n d}`` exactly (sum of independent χ²_d);
      two-sided, it fails on under- and over-dispersion alike.
    """
    n, d = x.shape
    chol = torch.linalg.cholesky(cov)
    white = torch.linalg.solve_triangular(chol, (x - mean).T, upper=False)  # (d, n)
    hotelling = float(n * white.mean(1).square().sum())
    radius_sum = float(white.square().sum())
    p_mean = stats.chi2.sf(hotelling, d)
    p_spread = 2 * min(stats.chi2.cdf(radius_sum, n * d), stats.chi2.sf(radius_sum, n * d))
    return p_mean, p_spread



def exact_chain_law(problem: InverseProblem, task, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact law of the DDPM/DDIM chain driven by the exact posterior denoiser (one Gaussian).

    The posterior denoiser is affine, ``E[x0|x_t, y] = m̄ + K_t (x_t − a m̄)`` with
    ``K_t = a S̄ (a² S̄ + s² I)⁻¹``, so one step ``x' = a' x̂0 + b (x − a x̂0)/s + c z``
    (``b = √(s'² − c²)``) is ``x' = M x + const + c z``: mean and covariance propagate exactly
    from ``x_1 ~ N(0, σ_ref² I)``. This is what the discretised chain should produce, free of
    any step-count slack.
    """
    post = problem.posterior()
    m_bar, S_bar = post.means[0], post.covariance_matrices()[0]
    d = m_bar.shape[0]
    eye = torch.eye(d, dtype=torch.float64)
    mean = torch.zeros(d, dtype=torch.float64)
    cov = task.schedule.reference_std() ** 2 * eye
    grid = task.timesteps
    for t, t_next in zip(grid[:-1], grid[1:]):
        a, s, a_n, s_n = (float(v) for v in (task.alpha(t), task.sigma(t), task.alpha(t_next), task.sigma(t_next)))
        gain = a * S_bar @ torch.linalg.inv(a * a * S_bar + s * s * eye)
        c = 0.0 if s_n == 0.0 else eta * s_n * max(0.0, 1 - (a * s_n / (a_n * s)) ** 2) ** 0.5
        b = max(s_n**2 - c**2, 0.0) ** 0.5
        M = (a_n - a * b / s) * gain + (b / s) * eye
        mean = M @ mean + (a_n - a * b / s) * (eye - a * gain) @ m_bar
        cov = M @ cov @ M.T + c**2 * eye
    return mean, cov
