"""Calibration study: the empirical size of every check under exact posterior draws.

A p-value is valid when ``P(p <= u) <= u`` under the truth for every ``u`` — in particular at
the small levels Holm uses (``α / m`` ≈ 1e-4 at ``α = 1e-3``). This study measures it. For each
family of :mod:`samplerlab.scenarios.validation_families` it audits the exact sampler (exact posterior draws, exact
noising along the grid, the prior denoiser at truncated grids) ``truths × runs`` times: ``truths``
audit seeds (each with its own reference sets and nulls) times ``runs`` independent sample seeds
per truth, so the pooled sizes average over the references as a user's audits do. It reports,
per family and check, the fraction of runs with ``p <= u`` at ``u`` ∈ {1e-4, 1e-3, 1e-2, 0.05}
with Clopper-Pearson 95 % intervals, and the family-wise false-alarm rate of whole audits at
``α = 1e-3``; a check is *calibrated* at ``u`` when the interval's lower end is at most ``u``.

The study is the sweep ``sweeps/calibration.toml`` (``make calibration``): ``fault:exact`` with
``stream`` = the run, the audit seed = the truth, on every ``family:NAME``. ``samplerlab sweep
report`` (:mod:`samplerlab.studies.sweep_report`) writes ``sizes.csv`` (the table), ``pvalues.npz`` (every
p-value) and one QQ plot per family, ``qq_<family>.png``, with the functions below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

__all__ = ["size_table", "qq_figure", "LEVELS", "AUDIT"]

LEVELS = (1e-4, 1e-3, 1e-2, 0.05)
AUDIT = "audit (Holm, α = 1e-3)"


def size_table(frame):
    """Empirical size per family × check × level, with Clopper-Pearson 95 % intervals."""
    import pandas as pd

    out = []
    for (family, check), g in frame.groupby(["family", "check"], sort=False):
        p = g.p.to_numpy()
        for u in LEVELS:
            k, m = int((p <= u).sum()), len(p)
            lo = stats.beta.ppf(0.025, k, m - k + 1) if k else 0.0
            hi = stats.beta.ppf(0.975, k + 1, m - k) if k < m else 1.0
            out.append({"family": family, "check": check, "role": g.role.iloc[0], "level": u, "runs": m,
                        "rejections": k, "size": k / m, "ci_low": lo, "ci_high": hi, "calibrated": lo <= u})
    return pd.DataFrame(out)


def qq_figure(frame, family: str, path: Path) -> Path:
    """Sorted p-values of one family's exact audits against uniform quantiles, with a 95 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

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
