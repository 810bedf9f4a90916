"""Figures of sensitivity curves (rendering only: every number comes from the curves and bands
frames of :mod:`samplerlab.studies.sensitivity`).

One figure per (sampler, parameter): a row per scenario, a column per failure mode. Each panel
shows the sampler's effect against the parameter — a filled red dot where the check fails beyond
the floor, an orange dot where the floor fails it too, a hollow dot where it passes —, the floor's
effect (dashed grey) and the exact band (shaded: where the effect of exact posterior draws lands).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_sensitivity"]

_LOG_PARAMS = {"steps", "zeta", "lr", "particles", "weight"}
_COLOURS = {"approximation": "tab:red", "discretisation": "tab:orange", "failed": "tab:red"}


def _positions(values: list) -> tuple[list, bool]:
    """x positions: the values themselves when numeric, else their index (categorical)."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return (list(values), True) if numeric else (list(range(len(values))), False)


def _panel(ax, rows, band, param: str) -> None:
    rows = rows.sort_values("value")
    values = list(rows["value"])
    xs, numeric = _positions(values)
    if band is not None:
        ax.axhspan(band["low"], band["high"], color="0.85", zorder=0, label="exact band")
    floor = rows["floor_effect"]
    if floor.notna().any():
        ax.plot(xs, floor, "--", color="0.45", lw=1.2, label="floor")
    ax.plot(xs, rows["effect"], "-", color="tab:blue", lw=1.2, zorder=2)
    for x, (_, r) in zip(xs, rows.iterrows()):
        colour = _COLOURS.get(r["attribution"])
        ax.plot([x], [r["effect"]], "o", ms=6, zorder=3, mec=colour or "tab:blue",
                mfc=colour or "white")
    if numeric and param in _LOG_PARAMS and min(xs) > 0:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, [str(v) for v in values])


def plot_sensitivity(curves, bands, out) -> list[Path]:
    """Write one PNG per (sampler, parameter) into ``out``; returns the paths written."""
    from samplerlab.diagnostics.registry import MODE_CHECKS
    from samplerlab.render.style import pyplot

    plt, _ = pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "error" in curves:
        curves = curves[curves["error"].isna()]
    written = []
    for (sampler, param), frame in curves.groupby(["sampler", "param"], sort=True):
        scenarios = list(dict.fromkeys(frame["scenario"]))
        modes = list(MODE_CHECKS)
        fig, axes = plt.subplots(len(scenarios), len(modes), figsize=(2.6 * len(modes), 2.2 * len(scenarios) + 0.6),
                                 squeeze=False)
        for i, scenario in enumerate(scenarios):
            for j, mode in enumerate(modes):
                ax, check = axes[i, j], MODE_CHECKS[mode]
                rows = frame[(frame["scenario"] == scenario) & (frame["check"] == check) & frame["applicable"]]
                hit = bands[(bands["scenario"] == scenario) & (bands["check"] == check)] if len(bands) else bands
                if len(rows):
                    _panel(ax, rows, hit.iloc[0] if len(hit) else None, param)
                else:
                    ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes, color="0.5")
                if i == 0:
                    ax.set_title(mode.replace("_", " "), fontsize="medium")
                if j == 0:
                    ax.set_ylabel(scenario, fontsize="small")
                if i == len(scenarios) - 1:
                    ax.set_xlabel(param)
                ax.tick_params(labelsize="x-small")
        fig.suptitle(f"{sampler}: effect of each failure mode against {param} (red: fails beyond the floor; "
                     "orange: the floor fails too; hollow: pass; dashed: floor; grey band: exact draws)",
                     fontsize="small")
        fig.tight_layout()
        path = out / f"{sampler}__{param}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
