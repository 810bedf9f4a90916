"""Calibration study: the empirical size of every check under exact posterior draws.

A p-value is valid when ``P(p <= u) <= u`` under the truth for every ``u`` — in particular at
the small levels Holm uses (``α / m`` ≈ 1e-4 at ``α = 1e-3``). This study measures it. For each
family of :mod:`samplerlab.families` it audits the exact sampler (exact posterior draws, exact
noising along the grid, the prior denoiser at truncated grids) ``truths × runs`` times: ``truths``
audit seeds (each with its own reference sets and nulls) times ``runs`` independent sample seeds
per truth, so the pooled sizes average over the references as a user's audits do. It reports,
per family and check, the fraction of runs with ``p <= u`` at ``u`` ∈ {1e-4, 1e-3, 1e-2, 0.05}
with Clopper-Pearson 95 % intervals, and the family-wise false-alarm rate of whole audits at
``α = 1e-3``; a check is *calibrated* at ``u`` when the interval's lower end is at most ``u``.

Run ``python -m samplerlab.calibration [--truths 100] [--runs 100] [--n 200] [--out results/calibration]``
(``make calibration``): writes ``sizes.csv`` (the table), ``pvalues.npz`` (every p-value) and one
QQ plot per family, ``qq_<family>.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from samplerlab import pipeline
from samplerlab.diagnostics.truth import Truth
from samplerlab.families import FAMILIES, build
from samplerlab.validation import exact_sampler

__all__ = ["calibration_task", "size_table", "LEVELS", "main"]

LEVELS = (1e-4, 1e-3, 1e-2, 0.05)
AUDIT = "audit (Holm, α = 1e-3)"


def _exact_with_seed(problem, seed: int):
    """The exact sampler, drawing from its own seed (the audit's seed fixes the truth, not the samples)."""
    exact = exact_sampler(problem)

    def sampler(task, n, generator):
        return exact(task, n, torch.Generator(device=task.device).manual_seed(seed))

    return sampler


def calibration_task(family: str, truth_seed: int, runs: int, n: int) -> list[dict]:
    """``runs`` audits of exact draws against the truth of ``truth_seed``; one row per run and check."""
    problem, schedule, steps = build(family)
    rows = []
    for r in range(runs):
        seed = 1_000_003 * (truth_seed + 1) + r
        report = pipeline.run(_exact_with_seed(problem, seed), problem, n=n, seed=truth_seed, schedule=schedule,
                              steps=steps, alpha=1e-3, name="exact")
        for c in report.checks:
            if c.applicable and c.p_value is not None:
                rows.append({"family": family, "truth": truth_seed, "run": r, "check": c.check, "role": c.role,
                             "p": c.p_value})
        holm_p = min([c.p_holm for c in report.checks if c.p_holm is not None] or [1.0])
        rows.append({"family": family, "truth": truth_seed, "run": r, "check": AUDIT, "role": "verdict", "p": holm_p})
    Truth.forget(problem)
    return rows


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


def _qq(frame, family: str, path: Path) -> None:
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--truths", type=int, default=100, help="audit seeds per family (default 100)")
    parser.add_argument("--truths-for", nargs="*", default=[], metavar="FAMILY=COUNT",
                        help="audit seeds for particular families (overrides --truths for them)")
    parser.add_argument("--runs", type=int, default=100, help="sample seeds per audit seed (default 100)")
    parser.add_argument("--n", type=int, default=200, help="samples per audit (default 200)")
    parser.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: one per core)")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--out", type=Path, default=Path("results/calibration"))
    args = parser.parse_args(argv)
    if args.truths < 1 or args.runs < 1 or args.n < 20:
        parser.error("--truths >= 1, --runs >= 1 and --n >= 20 are required")
    truths = dict.fromkeys(args.families, args.truths)
    for item in args.truths_for:
        name, _, count = item.partition("=")
        if name not in FAMILIES or not count.isdigit() or int(count) < 1:
            parser.error(f"--truths-for: expected FAMILY=COUNT with a known family and COUNT >= 1, got {item!r}")
        truths[name] = int(count)
    import pandas as pd

    args.out.mkdir(parents=True, exist_ok=True)
    tasks = [(f, s, args.runs, args.n) for f in args.families for s in range(truths[f])]
    from samplerlab.studies import run_tasks

    rows = [row for part in run_tasks(calibration_task, tasks, args.workers, args.scheduler, "calibration")
            for row in part]
    frame = pd.DataFrame(rows).sort_values(["family", "check", "truth", "run"], kind="stable")
    np.savez_compressed(args.out / "pvalues.npz", **{
        f"{fam}/{check}": g.p.to_numpy(np.float64) for (fam, check), g in frame.groupby(["family", "check"])})
    table = size_table(frame)
    table.to_csv(args.out / "sizes.csv", index=False)
    for family in frame.family.unique():
        _qq(frame, family, args.out / f"qq_{family}.png")
    wide = table.pivot_table(index=["family", "check"], columns="level", values="size")
    print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    bad = table[~table.calibrated]
    print(f"{len(table) - len(bad)}/{len(table)} (family, check, level) cells calibrated"
          + ("" if bad.empty else "; NOT calibrated:\n" + bad.to_string()), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    main()
