"""Figures of the studies' tables (rendering only: every number comes from the frames passed in):
the calibration's QQ plots, the validation's confusion heat maps, the guidance figures of ``make why``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from samplerlab.render.plots import draw_guidance
from samplerlab.render.style import pyplot

__all__ = ["qq_figure", "confusion_figure", "guidance_figures"]


def qq_figure(frame, family: str, path: Path) -> Path:
    """Sorted p-values of one family's exact audits against uniform quantiles, with a 95 % band."""
    plt, sns = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    sub = frame[frame.family == family]
    m = sub.groupby("check").size().max()
    expected = (np.arange(1, m + 1) - 0.5) / m
    band_lo = stats.beta.ppf(0.025, np.arange(1, m + 1), m - np.arange(1, m + 1) + 1)
    band_hi = stats.beta.ppf(0.975, np.arange(1, m + 1), m - np.arange(1, m + 1) + 1)
    ax.fill_between(expected, band_lo, band_hi, color="0.85", label="95 % band (uniform)")
    ax.plot([1 / m, 1], [1 / m, 1], color="0.3", lw=1)
    palette = sns.color_palette("tab20", sub.check.nunique())
    for color, (check, g) in zip(palette, sub.groupby("check")):
        p = np.sort(g.p.to_numpy())
        ax.plot((np.arange(1, len(p) + 1) - 0.5) / len(p), np.maximum(p, 1e-12), color=color, lw=1.2, label=check)
    ax.set(xscale="log", yscale="log", xlim=(0.5 / m, 1), ylim=(1e-6, 1.2), xlabel="uniform quantile",
           ylabel="sorted p-value (exact draws)",
           title=f"{family}: p-values of {m} exact audits\n(below the band = anti-conservative)")
    ax.legend(fontsize="x-small", ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion_figure(table, path: Path, family: str, seeds: int, n) -> Path:
    """The confusion heatmap of one family (rows: injected faults; columns: failure modes flagged)."""
    plt, sns = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="mako_r", ax=ax, cbar_kws={"label": "flag rate"})
    ax.set_title(f"{family}: failure modes flagged per injected fault ({seeds} seeds, n = {n})")
    ax.set_xlabel("failure mode flagged")
    ax.set_ylabel("injected fault")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def guidance_figures(by_scenario: dict, out: Path) -> list[Path]:
    """One ``guidance_<scenario>.png`` per scenario: each sampler's reported guidance against the exact
    ``∇ log p(y|x_t)`` (``by_scenario``: ``{scenario: [(sampler, likelihood_approximation data), …]}``)."""
    plt, _ = pyplot()
    written = []
    for scenario, items in sorted(by_scenario.items()):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
        for i, (name, data) in enumerate(sorted(items)):
            draw_guidance(a1, a2, data, name, color=f"C{i % 10}")
        a1.set(xlabel="t", ylabel="‖guidance‖ / ‖exact‖ (log)")
        a2.set(xlabel="t", ylabel="cosine to the exact")
        a2.legend(fontsize="x-small", ncol=2, loc="lower left")
        fig.suptitle(f"{scenario}: reported likelihood guidance vs the exact ∇ log p(y|x_t) (1 = exact)")
        fig.tight_layout()
        path = Path(out) / f"guidance_{scenario}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
