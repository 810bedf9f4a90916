"""Image galleries and per-pixel maps (rendering only: the rows, label frequencies and maps come from
:mod:`samplerlab.studies.image_gallery`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from samplerlab.render.style import pyplot

__all__ = ["plot_gallery", "plot_maps"]


def _bars(ax, bars: dict[str, dict]) -> None:
    """Grouped bars: one group per label, the exact probability first (black), then each sampler."""
    names = list(bars)
    labels = list(dict.fromkeys(v for freq in bars.values() for v in freq))
    width = 0.8 / len(names)
    colours = ["black"] + [f"C{i % 10}" for i in range(len(names) - 1)]
    for j, name in enumerate(names):
        pos = np.arange(len(labels)) - 0.4 + (j + 0.5) * width
        ax.bar(pos, [bars[name].get(v, 0.0) for v in labels], width, color=colours[j],
               label=name.split("\n")[0], alpha=1.0 if j == 0 else 0.85)
    ax.set_xticks(range(len(labels)), [str(v) for v in labels], fontsize=8)
    top = max((v for freq in bars.values() for v in freq.values()), default=1.0)
    ax.set_ylim(0, min(1.0, 1.15 * top + 0.05))
    ax.set_ylabel("probability / frequency", fontsize=8)
    ax.set_title("labels: exact P(label | y) vs samplers", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="upper right", frameon=False)


def _save(fig, path) -> Path:
    plt, _ = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gallery(rows: dict[str, Tensor], shape: tuple[int, int], path, title: str = "",
                 labels: dict[str, dict] | None = None) -> Path:
    """Save a grid of images (one row per entry of ``rows``) to ``path`` (PNG).

    ``labels`` (from :func:`label_frequencies` or :func:`report_label_frequencies`) adds the label
    bars to the right of the grid; nothing is computed here.
    """
    plt, _ = pyplot()
    names = list(rows)
    n = max(r.shape[0] for r in rows.values())
    extra = 0 if not labels else max(2.5, 0.3 * len({v for f in labels.values() for v in f}) + 1.0)
    fig = plt.figure(figsize=(1.3 * (n + extra) + 1.6, 1.3 * len(names) + 0.4))
    grid = fig.add_gridspec(len(names), n + (1 if labels else 0), width_ratios=[1] * n + ([extra] if labels else []))
    axes = np.array([[fig.add_subplot(grid[i, j]) for j in range(n)] for i in range(len(names))])
    if labels:
        _bars(fig.add_subplot(grid[:, n]), labels)
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
    return _save(fig, path)


def plot_maps(maps: dict[str, Tensor], shape: tuple[int, int], path, title: str = "", reference: str | None = None,
              quantity: str = "P(lesion | y)") -> Path:
    """Save per-pixel probability maps (``(d,)`` each, values in [0, 1]) to ``path`` (PNG).

    Top row: each map as a heat map on [0, 1]; bottom row: each map minus ``reference`` (the
    first map by default) on a symmetric scale, with its largest absolute difference.
    """
    plt, _ = pyplot()
    if not maps:
        raise ValueError("plot_maps: no maps to draw")
    reference = next(iter(maps)) if reference is None else reference
    if reference not in maps:
        raise ValueError(f"plot_maps: reference {reference!r} is not one of the maps {list(maps)}")
    names = list(maps)
    ref = maps[reference].detach().double().cpu().reshape(shape)
    diffs = {k: maps[k].detach().double().cpu().reshape(shape) - ref for k in names}
    top = max(0.05, max(float(d.abs().max()) for d in diffs.values()))
    fig, axes = plt.subplots(2, len(names), figsize=(1.9 * len(names) + 1.2, 4.4), squeeze=False,
                             layout="constrained")
    for j, name in enumerate(names):
        heat = axes[0, j].imshow(maps[name].detach().double().cpu().reshape(shape).numpy(), cmap="magma",
                                 vmin=0, vmax=1)
        axes[0, j].set_title(name, fontsize=8)
        if name == reference:
            axes[1, j].axis("off")
            axes[1, j].text(0.5, 0.5, f"below: each map\nminus {reference}", ha="center", va="center", fontsize=8,
                            transform=axes[1, j].transAxes)
        else:
            diff = axes[1, j].imshow(diffs[name].numpy(), cmap="RdBu_r", vmin=-top, vmax=top)
            axes[1, j].set_title(f"max |Δ| {float(diffs[name].abs().max()):.2f}", fontsize=8)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(heat, ax=axes[0].tolist(), fraction=0.02, pad=0.01, label=quantity)
    if len(names) > 1:
        fig.colorbar(diff, ax=axes[1].tolist(), fraction=0.02, pad=0.01, label=f"minus {reference}")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
