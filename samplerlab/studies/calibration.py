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
p-value) and one QQ plot per family, ``qq_<family>.png`` (:func:`samplerlab.render.study_plots.qq_figure`).
"""

from __future__ import annotations

from scipy import stats

__all__ = ["size_table", "LEVELS", "AUDIT"]

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
