"""One figure per claim of the replication study (rendering only: every number comes from
:func:`samplerlab.studies.replication.mode_rows`).

A panel per (failure mode, scenario): per sampler and setting, the fraction of observations
whose audit fails the mode with its 95 % interval — filled red where a seed's one verdict rejects
it, hollow where none does; the oracle (the exact sampler) sits first as the reference.
"""

from __future__ import annotations

from pathlib import Path

from samplerlab.render.style import pyplot

__all__ = ["plot_claims"]


def _label(r, with_n: bool) -> str:
    return f"{r['sampler']}\n{r['setting']}" + (f", n={r['n']}" if with_n else "") + \
        (" (paper)" if r["published"] else "")


def plot_claims(claims, out) -> list[Path]:
    """Write ``<claim>.png`` into ``out`` for each ``(claim, rows)`` of ``claims``: a
    :class:`~samplerlab.studies.replication.Claim` and its rows of
    :func:`~samplerlab.studies.replication.claim_rows`."""
    plt, _ = pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for claim, rows in claims:
        if rows.empty:
            continue
        mode_list = [m for m in claim.modes if m in set(rows["failure_mode"])]
        fig, axes = plt.subplots(len(mode_list), len(claim.scenarios), squeeze=False, sharey=True,
                                 figsize=(1.0 + 5.6 * len(claim.scenarios), 1.2 + 3.0 * len(mode_list)))
        for i, mode in enumerate(mode_list):
            for j, scenario in enumerate(claim.scenarios):
                ax = axes[i][j]
                sub = rows[(rows["failure_mode"] == mode) & (rows["scenario"] == scenario)]
                sub = sub.assign(_o=(sub["sampler"] != "oracle")).sort_values(
                    ["_o", "sampler", "steps", "setting", "n"])
                for x, r in enumerate(sub.to_dict("records")):
                    bad = r["rejected_seeds"] > 0
                    ax.errorbar([x], [r["fraction"]], yerr=[[r["fraction"] - r["low"]], [r["high"] - r["fraction"]]],
                                fmt="o", ms=6, color="tab:red" if bad else "tab:blue",
                                mfc="tab:red" if bad else "white", capsize=3)
                ax.set_xticks(range(len(sub)), [_label(r, sub["n"].nunique() > 1) for r in sub.to_dict("records")],
                              fontsize=7, rotation=45, ha="right", rotation_mode="anchor")
                ax.set_ylim(-0.03, 1.03)
                ax.set_title(f"{scenario}: {mode}", fontsize=9)
                if j == 0:
                    ax.set_ylabel("observations failing")
        fig.suptitle(f"{claim.title}\nfraction of observations y ~ p(y) failing (95 % CI); "
                     "red: rejected by a seed's one verdict", fontsize=10)
        fig.tight_layout()
        path = out / f"{claim.key}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
