"""The audit figures: each panel's title states its check's verdict as stored, the PIT band is the
exact KS critical value at the report's α, the 2-D samples plot names the exact contours and the
verdict, the spread-vs-t figure draws the exact band its check stored, the sweep's marks are the exact
two-sided sign-test range and the stop-time profile draws its stored exact band. Tiny real audits (n = 300,
20 steps) of the oracle (passes) and of the oracle plus noise (over-dispersed: fails spread and distribution);
seeds fixed, so deterministic."""

from __future__ import annotations

import dataclasses

import pytest
from scipy import stats

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from samplerlab.auditing.report import Report  # noqa: E402
from samplerlab.diagnostics.verdicts import binom_two_sided  # noqa: E402
from samplerlab.render.plots import FIGURES, figure_panels, plot_report  # noqa: E402

DIAGNOSIS = ("over-dispersed", "under-dispersed", "piles", "narrow", "wide", "fail")


def _draw(report, figure, samples=None):
    k, draw = figure_panels(report, samples)[figure]
    fig, axes = plt.subplots(1, k, squeeze=False)
    draw(list(axes[0]))
    return fig, list(axes[0])


def _labelled(ax, start: str):
    handles, labels = ax.get_legend_handles_labels()
    found = [h for h, label in zip(handles, labels) if label.startswith(start)]
    assert found, f"no legend entry starting with {start!r} in {labels}"
    return found[0]


def test_pit_title_of_a_passing_report_states_the_verdict_and_no_diagnosis(audits):
    report, _ = audits["pass"]
    fig, (ax,) = _draw(report, "pit_ecdf")
    title = ax.get_title()
    plt.close(fig)
    assert "pass: p = " in title and "Holm p = " in title
    assert not any(word in title.lower() for word in DIAGNOSIS), title


def test_pit_title_of_a_failing_report_says_fail_with_its_p_and_holm_p(audits):
    report, _ = audits["fail"]
    fig, (ax,) = _draw(report, "pit_ecdf")
    title = ax.get_title()
    plt.close(fig)
    assert "FAIL: p = " in title and "Holm p = " in title and "piles near 1" in title


@pytest.mark.parametrize("alpha", [1e-3, 0.05])
def test_pit_band_is_the_exact_ks_critical_value_at_the_reports_alpha(audits, alpha):
    report, _ = audits["pass"]
    report = Report({**report.meta, "alpha": alpha}, report.checks)
    pairs = report["spread_radius"].data["pairs"]
    fig, (ax,) = _draw(report, "pit_ecdf")
    band = _labelled(ax, "KS band")
    label = ax.get_legend_handles_labels()[1]
    plt.close(fig)
    half = band.get_y() + band.get_height()
    assert band.get_y() == pytest.approx(-half)
    assert half == pytest.approx(stats.kstwo.isf(alpha, pairs))  # D > half ⇔ KS p < α
    assert any(f"α = {alpha:g}" in text and "Holm" in text for text in label)
    assert any("α/m" in text and "Holm" in text for text in label)  # the correction is named


def test_samples_2d_legend_names_the_exact_contours_and_title_states_the_verdict(audits):
    # the wide sampler adds its noise after the stop too: its stopped outputs are farther than the end pushed there
    for key, verdict in (("pass", "PASSED"), ("fail", "FAILED [distribution, early_stopping, spread]")):
        report, samples = audits[key]
        fig, (ax,) = _draw(report, "samples_2d", samples)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        title = ax.get_title()
        plt.close(fig)
        assert any(text.startswith("exact posterior") and "contours" in text for text in labels), labels
        assert verdict in title


def test_spread_vs_t_draws_the_exact_band_stored_by_the_check(audits):
    report, _ = audits["fail"]
    d = report["early_stopping_trajectory"].data
    fig, (ax, _) = _draw(report, "spread_vs_t")
    band = _labelled(ax, "exact sampler's range")
    plt.close(fig)
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(min(d["spread_lo"])) and ys.max() == pytest.approx(max(d["spread_hi"]))


def test_spread_vs_t_without_a_stored_band_still_draws(audits):
    report, _ = audits["pass"]  # a report written before the band existed
    c = report["early_stopping_trajectory"]
    old = {k: v for k, v in c.data.items() if k not in ("spread_lo", "spread_hi", "band_level")}
    report = Report(report.meta, [dataclasses.replace(c, data=old)])
    fig, (ax, _) = _draw(report, "spread_vs_t")
    labels = ax.get_legend_handles_labels()[1]
    plt.close(fig)
    assert not any(label.startswith("exact sampler's range") for label in labels)


def test_stop_time_range_is_the_exact_two_sided_sign_test_range_at_alpha_over_twice_the_stops(audits):
    report, _ = audits["pass"]
    d, alpha = report["early_stopping_sweep"].data, report.meta["alpha"]
    level = alpha / (2 * len(d["wins"]))
    fig, (_, ax) = _draw(report, "early_stopping")
    marks = _labelled(ax, "exact two-sided range of wins")
    plt.close(fig)
    for lo, wins, losses in zip(marks.get_offsets()[:, 1], d["wins"], d["losses"]):
        m, k = wins + losses, int(lo)
        assert binom_two_sided(k, m, 0.5) > level >= binom_two_sided(k - 1, m, 0.5)


def test_stop_time_profile_draws_the_exact_band_the_check_stored(audits):
    report, _ = audits["pass"]
    d = report["early_stopping_profile"].data
    fig, (ax, _) = _draw(report, "early_stopping")
    band = _labelled(ax, "exact draws' range")
    plt.close(fig)
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(min(d["band_lo"])) and ys.max() == pytest.approx(max(d["band_hi"]))


def test_plot_report_writes_one_png_per_figure_named_scenario_sampler_figure(audits, tmp_path):
    report, samples = audits["fail"]
    written = plot_report(report, tmp_path, samples=samples)
    # every figure but the coverage one, which only an audit over observations has material for
    assert [p.name for p in written] == [f"unequal_weights_2d__wide__{name}.png" for name in FIGURES
                                         if name != "coverage"]
    assert all(p.stat().st_size > 10_000 for p in written)
