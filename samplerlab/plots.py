"""Figures of an audit report (seaborn; rendering only — every number comes from the report's
per-check ``data`` or from a samples file saved by ``samplerlab score --save-samples``).

* ``mode_weights.png`` — sampled vs exact posterior mode weights (largest modes);
* ``spread_vs_t.png`` — time-resolved spread ratio and mode TV of ``x_t`` against ``p_t(·|y)``;
* ``pit_ecdf.png`` — ECDF of the HPD-level PIT minus the uniform CDF, with a 95 % simultaneous
  band (Dvoretzky–Kiefer–Wolfowitz: ``±sqrt(log(2/0.05) / (2n))``, exact and conservative);
* ``early_stopping.png`` — within-mode sliced Wasserstein to the exact law vs stop time;
* ``samples_2d.png`` — 2-D samples over the exact posterior's density contours;
* ``guidance_vs_t.png`` — the sampler's reported guidance against the exact ``∇ log p(y|x_t)``:
  norm ratio and cosine against t, with the interquartile band of its samples.

A figure whose check was not run or is not applicable is skipped.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["plot_report", "draw_guidance", "FIGURES"]

FIGURES = ("mode_weights", "spread_vs_t", "pit_ecdf", "early_stopping", "samples_2d", "guidance_vs_t")
_BAND_LEVEL = 0.05


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def _check(report, name):
    for c in report.checks:
        if c.check == name and c.applicable and c.data:
            return c
    return None


def _title(report, what: str) -> str:
    m = report.meta
    return f"{what}\n{m.get('sampler')} on {m.get('scenario') or 'problem'} (n = {m.get('n')})"


def _mode_weights(report, plt, sns):
    c = _check(report, "mode_weights")
    if c is None:
        return None
    import pandas as pd

    d = c.data
    rows = [{"mode": str(k), "weight": w, "source": "exact"} for k, w in zip(d["modes"], d["exact"])]
    rows += [{"mode": str(k), "weight": w, "source": "sampled"} for k, w in zip(d["modes"], d["sampled"])]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(d["modes"]) + 3), 3.8))
    sns.barplot(pd.DataFrame(rows), x="mode", y="weight", hue="source", ax=ax, palette=["0.55", "C0"])
    ax.set(xlabel="posterior mode (largest first)", ylabel="weight",
           title=_title(report, f"Mode weights (TV {c.effect:.3f}, {'pass' if c.passed else 'FAIL'})"))
    return fig


def _spread_vs_t(report, plt, sns):
    c = _check(report, "early_stopping_trajectory")
    if c is None:
        return None
    d = c.data
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    sns.lineplot(x=d["t"], y=d["spread_ratio"], marker="o", ax=a1)
    a1.axhline(1.0, color="0.3", ls="--", lw=1, label="exact")
    a1.set(xlabel="t (1 = noise, 0 = data)", ylabel="spread ratio of x_t vs p_t(·|y)", xlim=(1.02, -0.02))
    a1.legend()
    sns.lineplot(x=d["t"], y=d["mode_tv"], marker="o", ax=a2, color="C1")
    a2.set(xlabel="t (1 = noise, 0 = data)", ylabel="mode TV of x_t vs p_t(·|y)", xlim=(1.02, -0.02))
    if d.get("t_enter") is not None:
        for ax in (a1, a2):
            ax.axvline(d["t_enter"], color="C3", lw=1, ls=":", label="error enters")
        a2.legend()
    fig.suptitle(_title(report, "Time-resolved spread").replace("\n", ": "))
    return fig


def _pit_ecdf(report, plt, sns):
    c = _check(report, "spread_pit")
    if c is None or not c.data.get("pit_quantiles"):
        return None
    import numpy as np

    d = c.data
    levels = np.asarray(d["levels"])
    n = int(report.meta.get("n") or 0)
    eps = math.sqrt(math.log(2 / _BAND_LEVEL) / (2 * max(n, 1)))
    fig, ax = plt.subplots(figsize=(6, 4))
    u = np.linspace(0, 1, 101)
    ax.fill_between(u, -eps, eps, color="0.85", label=f"{1 - _BAND_LEVEL:.0%} simultaneous band (DKW, n = {n})")
    for key, label, color in (("pit_quantiles", "within-mode PIT", "C0"),
                              ("mixture_pit_quantiles", "mixture HPD PIT", "C2")):
        q = np.asarray(d.get(key) or [])
        if len(q):  # the ECDF runs from (0, 0) to (1, 1) outside the stored quantile levels
            q, lv = np.r_[0.0, q, 1.0], np.r_[0.0, levels, 1.0]
            ax.plot(q, lv - q, color=color, label=label)
    ax.axhline(0, color="0.3", lw=1)
    ax.set(xlabel="u", ylabel="ECDF(u) − u", xlim=(0, 1),
           title=_title(report, "PIT ECDF (below 0: piles near 1, over-dispersed)"))
    ax.legend(fontsize="small")
    return fig


def _early_stopping(report, plt, sns):
    c = _check(report, "early_stopping_sweep")
    if c is None:
        return None
    d = c.data
    fig, ax = plt.subplots(figsize=(6, 4))
    n = report.meta.get("n", 1)
    sns.lineplot(x=d["t_stop"][1:], y=d["won"], marker="o", ax=ax, label=report.meta.get("sampler", "sampler"))
    ax.axhline(0.5, color="0.4", linestyle="--", label="no better than the end (½)")
    ax.axhspan(0.5 - 1.65 / (2 * n**0.5), 0.5 + 1.65 / (2 * n**0.5), color="0.85", label="90 % band (exact)")
    ax.set(xlabel="stop time t_stop", ylabel="pairs won by the stopped output",
           title=_title(report, f"Stop-time sweep ({'pass' if c.passed else 'FAIL'})"))
    return fig


def draw_guidance(ax_ratio, ax_cos, data: dict, label: str = "sampler", color: str = "C0") -> None:
    """Norm ratio (log scale) and cosine of a reported guidance against t, with interquartile bands."""
    t = data["t"]
    ratio, cos = list(zip(*data["ratio"])), list(zip(*data["cos"]))
    floor = 1e-3  # an absent guidance (ratio 0) is drawn at the bottom of the log axis
    lo, med, hi = ([max(v, floor) for v in row] for row in ratio)
    ax_ratio.fill_between(t, lo, hi, color=color, alpha=0.2)
    ax_ratio.plot(t, med, "o-", color=color, ms=3, label=label)
    ax_ratio.axhline(1.0, color="0.3", ls="--", lw=1)
    ax_ratio.set_yscale("log")
    ax_cos.fill_between(t, cos[0], cos[2], color=color, alpha=0.2)
    ax_cos.plot(t, cos[1], "o-", color=color, ms=3, label=label)
    ax_cos.axhline(1.0, color="0.3", ls="--", lw=1)
    for ax in (ax_ratio, ax_cos):
        ax.set_xlim(1.02, -0.02)
    ax_cos.set_ylim(-1.05, 1.05)


def _guidance(report, plt, sns):
    c = _check(report, "likelihood_approximation")
    if c is None:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    draw_guidance(a1, a2, c.data, report.meta.get("sampler", "sampler"))
    a1.set(xlabel="t (1 = noise, 0 = data)", ylabel="‖guidance‖ / ‖exact ∇ log p(y|x_t)‖")
    a2.set(xlabel="t (1 = noise, 0 = data)", ylabel="cosine to the exact")
    fig.suptitle(_title(report, "Reported guidance vs the exact ∇ log p(y|x_t) (1 = exact; band: middle half)"),
                 fontsize="medium")
    return fig


def _samples_2d(report, samples, plt, sns):
    if samples is None or "log_density" not in samples:
        return None
    import numpy as np

    x = np.asarray(samples["samples"])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    logp = np.asarray(samples["log_density"])
    levels = np.linspace(logp.max() - 12, logp.max(), 9)
    ax.contour(samples["grid_x"], samples["grid_y"], logp, levels=levels, cmap="Greys", linewidths=0.8)
    ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.35, color="C0", label=f"{report.meta.get('sampler')} samples")
    ax.set(xlabel="x1", ylabel="x2", title=_title(report, "Samples over exact posterior"))
    ax.set_xlim(samples["grid_x"][0], samples["grid_x"][-1])
    ax.set_ylim(samples["grid_y"][0], samples["grid_y"][-1])
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_report(report, out, samples: dict | None = None) -> list[Path]:
    """Write the report's figures into ``out`` (PNG); returns the paths written."""
    plt, sns = _plt()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = report.meta
    stem = f"{m.get('scenario') or 'problem'}__{m.get('sampler') or 'sampler'}"
    makers = {"mode_weights": lambda: _mode_weights(report, plt, sns),
              "spread_vs_t": lambda: _spread_vs_t(report, plt, sns),
              "pit_ecdf": lambda: _pit_ecdf(report, plt, sns),
              "early_stopping": lambda: _early_stopping(report, plt, sns),
              "samples_2d": lambda: _samples_2d(report, samples, plt, sns),
              "guidance_vs_t": lambda: _guidance(report, plt, sns)}
    written = []
    for name in FIGURES:
        fig = makers[name]()
        if fig is None:
            continue
        path = out / f"{stem}__{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
