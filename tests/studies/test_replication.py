"""The replication study's tables: fractions of observations pooled over seeds, with intervals,
the one verdict per seed, the control's attribution and settings against methods."""

from __future__ import annotations

import pytest

from samplerlab.studies import replication
from samplerlab.studies import sweep as sw
from samplerlab.studies.claims import _with_replication


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("replication")
    spec = sw.parse_spec({"sweep": {"samplers": ["oracle", "dps"], "scenarios": ["bimodal_1d"], "seeds": [0, 1],
                                    "n": 100, "steps": 20, "checks": ["location"], "observations": 3,
                                    "control": True},
                          "block": [{"samplers": ["dps"], "steps": [40]}]}, "t.toml")
    frame = sw.sweep(spec, out, workers=1)
    return out, frame


def test_mode_rows_pool_the_seeds_with_an_interval(store):
    out, frame = store
    modes = replication.mode_rows(out, frame)
    location = modes[modes["failure_mode"] == "location"]
    row = location[(location["sampler"] == "dps") & (location["setting"] == "20 steps")].iloc[0]
    per_seed = frame[(frame["sampler"] == "dps") & (frame["steps"] == 20) & (frame["check"] == "observations_location")]
    assert row["of"] == 6 and row["seeds"] == 2 and row["failed"] == per_seed["statistic"].sum()
    assert row["low"] <= row["fraction"] <= row["high"]
    assert row["rejected_seeds"] == (~per_seed["passed"].astype(bool)).sum()
    oracle = location[location["sampler"] == "oracle"].iloc[0]
    assert oracle["rejected_seeds"] == 0
    # DPS's location error is its own: the control on one Gaussian fails it too
    assert row["single_gaussian"] >= 1


def test_settings_line_names_where_a_sampler_fails(store):
    out, frame = store
    modes = replication.mode_rows(out, frame)
    rows = modes[modes["failure_mode"] == "location"]
    assert replication.settings_line(rows, "dps") is None  # neither of its settings is the published one
    rows = rows.assign(published=rows["setting"] == "40 steps")  # as if DPS's paper used 40 steps
    line = replication.settings_line(rows, "dps")
    assert line.startswith("dps: fails") and "40 steps" in line
    assert replication.settings_line(rows, "oracle") is None


def test_a_setting_is_published_only_when_every_published_parameter_matches():
    assert replication.setting("daps", 200, {"sigma_min": 0.1}) == ("200 steps, sigma_min=0.1", True)
    assert replication.setting("daps", 200, {}) == ("200 steps", False)
    assert replication.setting("daps", 1000, {"sigma_min": 0.1})[1] is False
    assert replication.setting("ddrm", 20, {}) == ("20 steps", True)
    assert replication.setting("oracle", 20, {})[1] is False


def test_study_puts_the_replication_first_with_a_figure_per_claim(store, tmp_path):
    out, _ = store
    text = _with_replication("# Title\n\nIntro.\n\n## A claim at one y\n\ntable\n", out)
    assert text.index("## Over observations") < text.index("## Each claim at one observation") \
        < text.index("## A claim at one y")
    assert "| bimodal_1d | dps | 20 steps | 100 | spread |" in text
    assert (out / "spread.png").is_file() and not (out / "unimodal.png").exists()  # no unimodal rows: no figure
    assert "### The output depends on where the reverse process stops" in text
