"""Posterior samples of image problems, side by side with exact posterior draws.

:func:`gallery` computes (runs samplers, draws from the exact posterior); :func:`plot_gallery`
only draws the picture. Rows: the hidden image ``x*``, the observation (unobserved pixels grey
for masks, ``Aᵀ y`` otherwise), exact posterior draws, then each sampler's samples.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.image_operators import box_inpainting
    >>> prior = GaussianMixture.from_samples(torch.rand(10, 16) * 2 - 1, 0.1)
    >>> problem = InverseProblem.simulate(prior, box_inpainting((4, 4), 1, 1, 2, 2), 0.05,
    ...                                   torch.Generator().manual_seed(0))
    >>> rows = gallery(problem, {"prior": lambda task, n, g: task.initial_noise(n, g)}, n=3, steps=5)
    >>> list(rows), rows["exact posterior"].shape
    (['truth', 'observation', 'exact posterior', 'prior'], torch.Size([3, 16]))
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from samplerlab.operators import Mask
from samplerlab.problem import InverseProblem

__all__ = ["gallery", "plot_gallery"]


def gallery(problem: InverseProblem, samplers: dict, n: int = 6, steps: int = 200, seed: int = 0,
            schedule=None) -> dict[str, Tensor]:
    """Rows of flattened images: truth, observation, exact posterior draws, each sampler's samples."""
    rows: dict[str, Tensor] = {}
    if problem.x_star is not None:
        rows["truth"] = problem.x_star[None].cpu()
    op = problem.operator
    if isinstance(op, Mask):
        seen = torch.full((problem.dim,), float("nan"), dtype=problem.y.dtype, device=problem.y.device)
        seen[op.indices] = problem.y
    else:
        seen = op.pinv(problem.y)
    rows["observation"] = seen[None].cpu()
    g = torch.Generator(problem.y.device).manual_seed(seed)
    rows["exact posterior"] = problem.posterior().sample(n, generator=g).cpu()
    task = problem.task(schedule=schedule, steps=steps)
    for name, sampler in samplers.items():
        g = torch.Generator(problem.y.device).manual_seed(seed)
        rows[name] = sampler(task, n, g).detach().cpu()
    return rows


def plot_gallery(rows: dict[str, Tensor], shape: tuple[int, int], path, title: str = "") -> Path:
    """Save a grid of images (one row per entry of ``rows``) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    n = max(r.shape[0] for r in rows.values())
    fig, axes = plt.subplots(len(names), n, figsize=(1.3 * n + 1.6, 1.3 * len(names) + 0.4), squeeze=False)
    cmap = plt.get_cmap("gray").with_extremes(bad="#c8a2c8")  # unobserved pixels in lilac
    for i, name in enumerate(names):
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= rows[name].shape[0]:
                ax.axis("off")
            else:
                ax.imshow(rows[name][j].reshape(shape).float().numpy(), cmap=cmap, vmin=-1, vmax=1)
        axes[i, 0].axis("on")
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
