"""Figures of an audit report (seaborn; rendering only — every number comes from the report's
per-check ``data`` or from a samples file saved by ``samplerlab score --save-samples``; the only
arithmetic here turns the verdict's α into the critical value of the test the check already ran).

Each figure is made of *panels* (one axes each) whose title states that check's verdict; the same
panels make the one-page report card (:mod:`samplerlab.render.report_card`).

* ``mode_weights`` — sampled vs exact posterior mode weights (largest modes);
* ``spread_vs_t`` — time-resolved spread ratio of ``x_t`` against ``p_t(·|y)`` with the exact
  band stored by the check (the range an exact sampler leaves with probability at most the
  check's per-time level α / (2T)), and the mode TV (debiased: 0 is exact sampling noise);
* ``pit_ecdf`` — ECDF of the within-mode HPD-level PIT minus the uniform CDF; the band is the
  exact Kolmogorov-Smirnov critical value at the verdict's α for the number of pairs tested (the
  ECDF leaves it iff the check's p ≤ α), and dashed lines at α / m, Holm's strictest step over the
  m verdict checks (outside them the check fails whatever the others);
* ``early_stopping`` — the stop-time error profile (sliced W1 of each stopped output to its exact
  counterpart) in the 5–95 % band of exact draws, with the best stop; and the wins, ties and losses
  of the stopped output against the full run per stop, with the exact two-sided range of wins at
  α / (2S) (Bonferroni over S stops and two scores; a sweep that is not applicable still shows them);
* ``samples_2d`` — 2-D samples over the exact posterior's log-density contours, with the verdict;
* ``guidance_vs_t`` — the sampler's reported guidance against the exact ``∇ log p(y|x_t)``:
  norm ratio and cosine against t, with the interquartile band of its samples;
* ``coverage`` — an audit over observations (``--observations K``): the ECDF of the true signals'
  ranks minus the uniform CDF (arviz / sbi style) for HPD coverage (fraction of ``x*`` inside each
  credible region minus its level), SBC (one curve per test function) and TARP, each in the exact
  simultaneous Kolmogorov–Smirnov band for ``K`` ranks at α (α / F for SBC's F functions).

A figure whose check was not run or is not applicable is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from samplerlab.diagnostics import registry
from samplerlab.diagnostics.result import p_eq
from samplerlab.render.style import pyplot

__all__ = ["plot_report", "draw_guidance", "figure_panels", "file_stem", "safe_stem", "verdict_line", "pit_band",
           "sign_band", "FIGURES"]

# The figures the registered checks declare, then the samples' own and the across-observation one.
FIGURES = registry.FIGURES + ("samples_2d", "coverage")
_SIZES = {"mode_weights": (6, 4.4), "spread_vs_t": (11, 4.4), "pit_ecdf": (6.5, 5), "early_stopping": (11, 4.6),
          "samples_2d": (6, 5.8), "guidance_vs_t": (11, 4.4), "coverage": (16, 4.8)}
_T_LABEL = "t (1 = noise, 0 = data)"


def _check(report, name):
    for c in report.checks:
        if c.check == name and c.applicable and c.data:
            return c
    return None


def file_stem(report) -> str:
    """``scenario__sampler``, then ``__k=v,…`` for the parameters the audit was given and
    ``__seedS`` for a seed other than 0, so two settings of one sampler get two names
    (characters unsafe in a file name replaced by ``_``)."""
    m = report.meta
    stem = f"{m.get('scenario') or 'problem'}__{m.get('sampler') or 'sampler'}"
    given = (m.get("provenance") or {}).get("params_given") or {}
    if given:
        stem += "__" + ",".join(f"{k}={v}" for k, v in sorted(given.items()))
    if m.get("seed") not in (0, None):
        stem += f"__seed{m['seed']}"
    return safe_stem(stem)


def safe_stem(text: str) -> str:
    """``text`` as a file name: characters other than letters, digits and ``.=,+()-`` become ``_``."""
    return re.sub(r"[^\w.=,+()-]", "_", text)


def _who(report) -> str:
    m = report.meta
    return f"{m.get('sampler')} on {m.get('scenario') or 'problem'} (n = {m.get('n')})"


def verdict_line(c) -> str:
    """The check's verdict as stored: ``pass: p = …, Holm p = …``, ``FAIL: …``, ``informative (p = …)``."""
    if not c.applicable:
        return "not applicable"
    if c.role == "info":
        return f"informative ({p_eq(c.p_value)})"
    word = "pass" if c.passed else "FAIL"
    floor = " (the floor fails it too)" if c.attribution == "discretisation" else ""
    holm = p_eq(c.p_holm, "Holm p") if c.p_holm is not None else "Holm p n/a"
    return f"{word}: {p_eq(c.p_value)}, {holm}{floor}"


def _holm_family(report) -> int:
    """How many checks entered Holm (applicable verdict checks with a p-value)."""
    return sum(1 for c in report.checks if c.applicable and c.role == "verdict" and c.p_value is not None)


def _audit_verdict(report) -> str:
    return "PASSED" if report.passed else "FAILED [" + ", ".join(sorted(report.failure_modes)) + "]"


# -- panels: each draws one or two axes from one check's data ------------------------------------
def _draw_mode_weights(ax, report, c, sns) -> None:
    import pandas as pd

    d = c.data
    rows = [{"mode": str(k), "weight": w, "source": "exact"} for k, w in zip(d["modes"], d["exact"])]
    rows += [{"mode": str(k), "weight": w, "source": "sampled"} for k, w in zip(d["modes"], d["sampled"])]
    sns.barplot(pd.DataFrame(rows), x="mode", y="weight", hue="source", ax=ax, palette=["0.55", "C0"])
    ax.set(xlabel="posterior mode (largest first)", ylabel="weight",
           title=f"Mode weights (TV {c.effect:.3f})\n{verdict_line(c)}")
    ax.legend(title=None, fontsize="small")


def _draw_spread_ratio(ax, report, c) -> None:
    d = c.data
    if d.get("spread_lo") is not None:
        ax.fill_between(d["t"], d["spread_lo"], d["spread_hi"], color="0.82", lw=0,
                        label=f"exact sampler's range (outside: P ≤ {d['band_level']:.0e} per t)")
    ax.plot(d["t"], d["spread_ratio"], "o-", color="C0", ms=4, label=report.meta.get("sampler", "sampler"))
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="exact (1)")
    _t_enter(ax, d)
    ax.set(xlabel=_T_LABEL, ylabel="spread ratio of x_t vs p_t(·|y)", xlim=(1.02, -0.02),
           title=f"Spread of x_t vs exact p_t(·|y)\n{_trajectory_words(c)}")
    _legend_on_top(ax)


def _draw_mode_tv(ax, report, c) -> None:
    d = c.data
    ax.plot(d["t"], d["mode_tv"], "o-", color="C1", ms=4, label=report.meta.get("sampler", "sampler"))
    ax.axhline(0.0, color="0.3", ls="--", lw=1, label="exact (0: debiased by exact sampling noise)")
    _t_enter(ax, d)
    ax.set(xlabel=_T_LABEL, ylabel="mode TV of x_t vs p_t(·|y)", xlim=(1.02, -0.02),
           title=f"Mode weights of x_t vs exact p_t(·|y)\n{_trajectory_words(c)}")
    _legend_on_top(ax)


def _legend_on_top(ax, frac: float = 0.45) -> None:
    """Extend the y axis upwards by ``frac`` of its span and put the legend in that strip."""
    y0, y1 = ax.get_ylim()
    if ax.get_yscale() == "log":
        ax.set_ylim(y0, y1 * (y1 / y0) ** frac)
    else:
        ax.set_ylim(y0, y1 + frac * (y1 - y0))
    ax.legend(fontsize="x-small", loc="upper center")


def _t_enter(ax, d) -> None:
    if d.get("t_enter") is not None:
        ax.axvline(d["t_enter"], color="C3", lw=1, ls=":", label=f"error enters (t = {d['t_enter']:.3g})")


def _trajectory_words(c) -> str:
    t = c.data.get("t_enter")
    return (f"error enters at t = {t:.3g} ({p_eq(c.p_value)}, informative)" if t is not None
            else "tracks the exact at every recorded t (informative)")


def pit_band(report, alpha: float) -> tuple[float, int]:
    """``(half-width, number of pairs)``: the exact KS critical value at ``alpha`` for the pairs the
    ``spread_pit`` check tested (``D > half-width`` iff the KS p-value ``< alpha``)."""
    from samplerlab.diagnostics.coverage import ks_band

    try:
        n = int(report["spread_radius"].data["pairs"])  # the same pairs as the PIT's KS test
    except (KeyError, TypeError):
        n = max(int(report.meta.get("n") or 2) // 2, 1)  # older reports: at most n / 2 pairs
    return ks_band(n, alpha), n


def _draw_pit(ax, report, c) -> None:
    import numpy as np

    d = c.data
    levels = np.asarray(d["levels"])
    alpha = float(report.meta.get("alpha") or 1e-3)
    m = max(_holm_family(report), 1)
    eps, n_pairs = pit_band(report, alpha)
    eps_m, _ = pit_band(report, alpha / m)
    ax.axhspan(-eps, eps, color="0.85", lw=0,
               label=f"KS band at α = {alpha:g} ({n_pairs} pairs; per check, before Holm)")
    if m > 1:
        for sign in (-1, 1):
            ax.axhline(sign * eps_m, color="0.45", ls="--", lw=1,
                       label=f"α/m = {alpha / m:.2g} (Holm's strictest step, m = {m}): outside ⇒ fails"
                       if sign > 0 else None)
    mixture_p = d.get("mixture_pit_ks_p")
    lo, hi = -eps_m, eps_m
    for key, label, color in (("pit_quantiles", "within-mode PIT (the verdict)", "C0"),
                              ("mixture_pit_quantiles", "mixture HPD PIT (informative"
                               + (f", {p_eq(mixture_p)})" if mixture_p is not None else ")"), "C2")):
        q = np.asarray(d.get(key) or [])
        if len(q):  # the ECDF runs from (0, 0) to (1, 1) outside the stored quantile levels
            q, lv = np.r_[0.0, q, 1.0], np.r_[0.0, levels, 1.0]
            ax.plot(q, lv - q, color=color, label=label)
            lo, hi = min(lo, float((lv - q).min())), max(hi, float((lv - q).max()))
    ax.axhline(0, color="0.3", lw=1)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.6 * (hi - lo))  # headroom for the legend
    title = f"Within-mode PIT ECDF\n{verdict_line(c)}"
    if not c.passed and c.effect is not None:
        title += f"; u piles near {0 if c.effect < 0.5 else 1}"
    ax.set(xlabel="u   (key: ECDF above 0 ⇔ u piles near 0, narrower than exact; below 0 ⇔ near 1, wider)",
           ylabel="ECDF(u) − u", xlim=(0, 1), title=title)
    ax.xaxis.label.set_fontsize("x-small")
    ax.legend(fontsize="x-small", loc="upper center")


def sign_band(untied, level: float) -> tuple[list[int], list[int]]:
    """Per stop, the fewest and the most wins an exact sampler reaches with two-sided p ``> level``
    among its ``untied`` pairs (outside ``[lo, hi]`` the stop's sign test is significant at ``level``)."""
    from samplerlab.diagnostics.verdicts import binom_two_sided

    lo, hi = [], []
    for m in untied:
        inside = [k for k in range(m + 1) if binom_two_sided(k, m, 0.5) > level]
        lo.append(min(inside) if inside else m // 2)
        hi.append(max(inside) if inside else m // 2)
    return lo, hi


def _draw_stop_profile(ax, report, c) -> None:
    d = c.data
    t = d["t_stop"]
    lo_q, hi_q = d.get("band", (0.05, 0.95))
    ax.fill_between(t, d["band_lo"], d["band_hi"], color="0.82", lw=0,
                    label=f"exact draws' range ({lo_q:.0%}–{hi_q:.0%}, same map, same n)")
    ax.plot(t, d["null_median"], color="0.4", ls="--", lw=1, label="exact draws' median")
    ax.plot(t, d["w1"], "o-", color="C0", ms=5, label=report.meta.get("sampler", "sampler"))
    ax.axvline(d["best_stop"], color="C3", lw=1, ls=":", label=f"best stop t* = {d['best_stop']:.3g}")
    ax.set(xlabel="stop time t_stop (0 = the full run)", ylabel="sliced W1 to its exact counterpart",
           title=f"Stop-time error profile\n{verdict_line(c)}")
    _legend_on_top(ax)


def _draw_early_stopping(ax, report, c) -> None:
    import numpy as np

    d = c.data
    alpha = float(report.meta.get("alpha") or 1e-3)
    t = [f"{v:.3g}" for v in d["t_stop"][1:]]
    wins, losses, ties = (np.asarray(d[k]) for k in ("wins", "losses", "ties"))
    level = alpha / (2 * len(t))  # Bonferroni over the stops and the two scores
    lo, hi = sign_band(wins + losses, level)
    ax.bar(t, wins, color="C0", label="wins (stopped output less atypical)")
    ax.bar(t, ties, bottom=wins, color="0.75", label="ties (dropped)")
    ax.bar(t, losses, bottom=wins + ties, color="C3", label="losses")
    ax.scatter(t, lo, marker="_", s=600, color="k", zorder=3,
               label=f"exact two-sided range of wins at α/(2S) = {level:.2g} (S = {len(t)}; before Holm)")
    ax.scatter(t, hi, marker="_", s=600, color="k", zorder=3)
    ax.set(xlabel="stop time t_stop", ylabel="pairs (stopped vs the full run pushed to t_stop)",
           title=f"Stop-time consistency\n{verdict_line(c)}")
    _legend_on_top(ax)


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


def _draw_guidance(a1, a2, report, c) -> None:
    draw_guidance(a1, a2, c.data, report.meta.get("sampler", "sampler"))
    a1.set(xlabel=_T_LABEL, ylabel="‖guidance‖ / ‖exact ∇ log p(y|x_t)‖",
           title="Guidance norm vs exact (1 = exact)\nline: median, band: middle half (informative)")
    a2.set(xlabel=_T_LABEL, ylabel="cosine to the exact",
           title="Guidance direction vs exact (1 = exact)\nline: median, band: middle half (informative)")


def _draw_samples_2d(ax, report, samples) -> None:
    import numpy as np
    from matplotlib.lines import Line2D

    x = np.asarray(samples["samples"])
    logp = np.asarray(samples["log_density"])
    top = float(logp.max())
    levels = np.linspace(top - 12, top, 9)
    ax.contour(samples["grid_x"], samples["grid_y"], logp, levels=levels, cmap="Greys", vmin=top - 20, vmax=top,
               linewidths=0.9)
    ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.35, color="C0", linewidths=0)
    handles = [Line2D([], [], ls="", marker="o", ms=4, color="C0",
                      label=f"{report.meta.get('sampler')} samples ({len(x)})"),
               Line2D([], [], color="0.35", lw=0.9,
                      label="exact posterior log p(x|y): contours every 1.5 nats below the peak")]
    ax.set(xlabel="x1", ylabel="x2", title=f"Samples over the exact posterior\naudit: {_audit_verdict(report)}")
    ax.set_xlim(samples["grid_x"][0], samples["grid_x"][-1])
    y0, y1 = float(samples["grid_y"][0]), float(samples["grid_y"][-1])
    ax.set_ylim(y0, y1 + 0.2 * (y1 - y0))  # a strip above the density grid for the legend
    ax.legend(handles=handles, fontsize="x-small", loc="upper center")


def _draw_ranks(ax, curves, level: float, xlabel: str, ylabel: str, note: str = "before Holm") -> None:
    """ECDF-minus-uniform curves of stored ranks in the exact KS band for their count at ``level``."""
    from samplerlab.diagnostics.coverage import ecdf_deviation, ks_band

    k = len(curves[0][1])
    eps = ks_band(k, level)
    ax.axhspan(-eps, eps, color="0.87", lw=0,
               label=f"exact simultaneous band at {level:.2g}\n({k} observations; {note})")
    lo, hi = -eps, eps
    for i, (label, u) in enumerate(curves):
        q, dev = ecdf_deviation(u)
        ax.step(q, dev, where="post", color=f"C{i % 10}", lw=1.4, label=label)
        lo, hi = min(lo, float(dev.min())), max(hi, float(dev.max()))
    ax.axhline(0, color="0.3", lw=1)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.7 * (hi - lo))  # headroom for the legend
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1))
    ax.legend(fontsize="x-small", loc="upper left", ncol=2 if len(curves) > 3 else 1)


def _draw_coverage(axes, report, checks: dict) -> None:
    import numpy as np

    alpha = float(report.meta.get("alpha") or 1e-3)
    if (c := checks.get("coverage_hpd")) is not None:
        u = 1.0 - np.asarray(c.data["ranks"])  # x* inside the q region iff its rank u >= 1 - q
        _draw_ranks(axes[0], [("fraction of x* inside the q region, minus q", u)], alpha,
                    "credible level q", "coverage − q", note="the verdict tests the dots")
        # The verdict is the binomial test at each marked level (Bonferroni over them), not the
        # simultaneous band: a dot is filled where its level alone rejects at α / L.
        levels, p_level = np.asarray(c.data["levels"]), np.asarray(c.data["p_level"])
        bad = p_level * len(levels) < alpha
        dev = np.asarray(c.data["coverage"]) - levels
        axes[0].plot(levels[~bad], dev[~bad], "o", color="C3", mfc="white", ms=6,
                     label=f"the verdict's {len(levels)} levels, binomial tests\n(filled: rejects at α/{len(levels)})")
        axes[0].plot(levels[bad], dev[bad], "o", color="C3", ms=6)
        axes[0].legend(fontsize="x-small", loc="upper left")
        axes[0].set_title(f"HPD coverage over observations\n{verdict_line(c)}", fontsize="medium")
    if (c := checks.get("sbc_ranks")) is not None:
        u = np.asarray(c.data["ranks"])
        curves = [(name, u[:, f]) for f, name in enumerate(c.data["functions"])]
        _draw_ranks(axes[1], curves, alpha / max(len(curves), 1), "rank of x* (fraction of draws below)",
                    "ECDF − uniform")
        axes[1].set_title(f"SBC ranks of {len(curves)} test functions\n{verdict_line(c)}", fontsize="medium")
    if (c := checks.get("tarp")) is not None:
        _draw_ranks(axes[2], [("expected coverage of random balls, minus q", c.data["ranks"])], alpha,
                    "credible level q", "ECP − q")
        axes[2].set_title(f"TARP\n{verdict_line(c)}", fontsize="medium")


def figure_panels(report, samples: dict | None = None) -> dict[str, tuple[int, Callable[[list], None]]]:
    """``{figure: (number of axes, draw(axes))}`` for each figure of :data:`FIGURES` the report
    (and, for ``samples_2d``, a samples dict with ``log_density``) has material for, in that order."""
    _, sns = pyplot()
    out: dict[str, tuple[int, Callable[[list], None]]] = {}
    if (c := _check(report, "mode_weights")) is not None:
        out["mode_weights"] = (1, lambda axes, c=c: _draw_mode_weights(axes[0], report, c, sns))
    if (c := _check(report, "early_stopping_trajectory")) is not None:
        out["spread_vs_t"] = (2, lambda axes, c=c: (_draw_spread_ratio(axes[0], report, c),
                                                    _draw_mode_tv(axes[1], report, c)))
    if (c := _check(report, "spread_pit")) is not None and c.data.get("pit_quantiles"):
        out["pit_ecdf"] = (1, lambda axes, c=c: _draw_pit(axes[0], report, c))
    sweep = next((c for c in report.checks if c.check == "early_stopping_sweep" and c.data.get("wins")), None)
    profile = _check(report, "early_stopping_profile")
    if sweep is not None or profile is not None:
        panels = [(_draw_stop_profile, profile)] * (profile is not None) + [(_draw_early_stopping, sweep)] * (
            sweep is not None)
        out["early_stopping"] = (len(panels), lambda axes, panels=panels: [draw(ax, report, c) for ax, (draw, c)
                                                                            in zip(axes, panels)])
    if samples is not None and "log_density" in samples:
        out["samples_2d"] = (1, lambda axes: _draw_samples_2d(axes[0], report, samples))
    if (c := _check(report, "likelihood_approximation")) is not None:
        out["guidance_vs_t"] = (2, lambda axes, c=c: _draw_guidance(axes[0], axes[1], report, c))
    coverage = {name: c for name in ("coverage_hpd", "sbc_ranks", "tarp")
                if (c := _check(report, name)) is not None and c.data.get("ranks")}
    if len(coverage) == 3:
        out["coverage"] = (3, lambda axes: _draw_coverage(axes, report, coverage))
    return {name: out[name] for name in FIGURES if name in out}


def plot_report(report, out, samples: dict | None = None) -> list[Path]:
    """Write the report's figures into ``out`` (PNG, ``scenario__sampler__figure.png``); returns the paths.

    ``samples``: a dict as saved by :func:`samplerlab.studies.suite.save_samples` (``samples`` and, in 2-D,
    ``grid_x``, ``grid_y``, ``log_density``); without it the ``samples_2d`` figure is skipped.
    """
    plt, _ = pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (k, draw) in figure_panels(report, samples).items():
        width, height = _SIZES[name]
        fig, axes = plt.subplots(1, k, figsize=(width if k > 1 else min(width, 6.5), height), squeeze=False,
                                 layout="constrained")
        draw(list(axes[0]))
        fig.suptitle(_who(report), fontsize="medium")
        path = out / f"{file_stem(report)}__{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
