"""An audit's draws on disk: ``.npz`` with, in 2-D, the exact posterior density on a grid.

``samplerlab score --save-samples``, the suite and sweeps with ``samples = true`` write them;
``samplerlab plot`` and the report cards read them for the panel of samples over the exact
posterior's contours.
"""

from __future__ import annotations

__all__ = ["save_samples"]


def save_samples(path, samples, scenario) -> None:
    """Save samples as ``.npz``; in 2-D also the exact posterior log-density on a grid covering
    them and the posterior means (for the contour plot of ``samplerlab plot``)."""
    import numpy as np
    import torch

    x = samples.detach().cpu().double().numpy()
    extra = {}
    if scenario.problem.dim == 2:
        post = scenario.problem.posterior().to(device="cpu")
        sd = np.sqrt(np.diagonal(post.covariance_matrices().numpy(), axis1=1, axis2=2))
        keep = post.weights.numpy() > 1e-3  # the exact posterior's visible modes, ±3 sd
        lo = np.minimum(np.quantile(x, 0.005, 0), (post.means.numpy() - 3 * sd)[keep].min(0))
        hi = np.maximum(np.quantile(x, 0.995, 0), (post.means.numpy() + 3 * sd)[keep].max(0))
        pad = 0.15 * (hi - lo) + 1e-3
        gx, gy = (np.linspace(lo[i] - pad[i], hi[i] + pad[i], 160) for i in range(2))
        grid = torch.tensor(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2), dtype=post.dtype)
        extra = {"grid_x": gx, "grid_y": gy, "log_density": post.log_prob(grid).reshape(len(gy), len(gx)).numpy()}
    np.savez(path, samples=x, scenario=scenario.name, **extra)
