"""Sensitivity curves (``vary``, ``score --vary``, their figure) and the STUDY.md generator."""

from __future__ import annotations

import pandas as pd
import pytest

from samplerlab.cli import main
from samplerlab.render.sensitivity_plots import plot_sensitivity
from samplerlab.studies import claims as study
from samplerlab.studies.sensitivity import MODE_CHECKS, exact_band, parse_vary, vary

FAST = dict(n=100, checks=["spread", "mode_weights"])


@pytest.fixture(scope="module")
def steps_curve():
    return vary("dps", "steps", [10, 40], "bimodal_1d", **FAST)


def test_steps_curve_has_a_row_per_value_and_check_with_its_own_floor(steps_curve):
    assert sorted(set(steps_curve.value)) == [10, 40]
    assert set(steps_curve.steps) == {10, 40}
    radius = steps_curve[steps_curve.check == "spread_radius"].set_index("value")
    assert radius.floor_effect.notna().all() and radius.floor_effect[10] != radius.floor_effect[40]
    assert set(steps_curve.attribution) <= {"pass", "approximation", "discretisation", "n/a", "info"}


def test_parameter_curve_keeps_the_floor_fixed():
    frame = vary("dps", "zeta", [0.3, 3.0], "bimodal_1d", steps=30, **FAST)
    radius = frame[frame.check == "spread_radius"]
    assert radius.floor_effect.nunique() == 1 and radius.effect.nunique() == 2


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="unknown parameter.*'beta'"):
        vary("dps", "beta", [1.0], "bimodal_1d", **FAST)


@pytest.mark.parametrize("text", ["zeta", "zeta=", "=1,2", "steps=10,0", "steps=1.5"])
def test_bad_vary_text_raises(text):
    with pytest.raises(ValueError, match="--vary"):
        parse_vary(text)


def test_exact_band_brackets_the_neutral_effect():
    band = exact_band("bimodal_1d", n=100, seeds=5, checks=["spread"]).set_index("check")
    assert band.loc["spread_radius", "low"] <= 1.0 <= band.loc["spread_radius", "high"]


def test_score_vary_prints_a_row_per_value_and_exits_1_on_a_failure(capsys, tmp_path):
    code = main(["score", "dps", "--scenario", "bimodal_1d", "--n", "300", "--vary", "zeta=0.1,3",
                 "--checks", "spread", "mode_weights"])
    out = capsys.readouterr().out
    assert code == 1 and out.splitlines()[0].split()[:3] == ["zeta", "spread", "location"]
    assert "0.1" in out and "✗" in out


@pytest.mark.parametrize("argv, message", [
    (["--vary", "zeta"], "--vary: expected PARAM=v1,v2"),
    (["--plot", "x"], "--plot: only with --vary"),
    (["--vary", "zeta=1", "--json", "r.json"], "--json: not with --vary"),
], ids=["no-values", "plot-alone", "json"])
def test_score_vary_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(["score", "dps", "--scenario", "bimodal_1d", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_figure_has_a_panel_per_mode(steps_curve, tmp_path):
    bands = pd.DataFrame([{"scenario": "bimodal_1d", "check": "spread_radius", "low": 0.9, "high": 1.1}])
    paths = plot_sensitivity(steps_curve, bands, tmp_path)
    assert [p.name for p in paths] == ["dps__steps.png"] and paths[0].stat().st_size > 10_000
    assert len(MODE_CHECKS) == 7


# -- STUDY.md -------------------------------------------------------------------------------

def _row(sampler, scenario, check, mode, attribution, effect=0.5, floor_effect=1.0):
    return {"sampler": sampler, "scenario": scenario, "param": "steps", "value": 200, "check": check,
            "failure_mode": mode, "role": "verdict", "applicable": True, "effect": effect, "p_value": 1e-9,
            "p_holm": 1e-8, "passed": attribution == "pass", "floor_effect": floor_effect,
            "floor_passed": attribution != "discretisation", "attribution": attribution}


def test_claim_table_sorts_samplers_into_beyond_floor_floor_and_pass():
    rows = pd.DataFrame([
        _row("dps", "bimodal_1d", "spread_radius", "spread", "approximation"),
        _row("dps", "bimodal_1d", "spread_pit", "spread", "pass"),
        _row("tmpd", "bimodal_1d", "spread_radius", "spread", "pass"),
        _row("ddrm", "bimodal_1d", "spread_radius", "spread", "discretisation"),
        _row("ddrm", "bimodal_1d", "mode_weights", "mode_weights", "approximation"),
    ])
    claim = study.Claim("spread", "t", ("spread",), ("bimodal_1d",), "")
    table = study.claim_table(rows, claim)
    assert dict(zip(table.sampler, table.outcome)) == {"dps": "approximation", "ddrm": "discretisation",
                                                      "tmpd": "pass"}
    text = study.render([(claim, table, "")], {"pairs": 3, "early": 0, "early_and_spread": 0, "spread": 1}, "x")
    assert "**Shown beyond the floor by:** dps (bimodal_1d)" in text
    assert "**Failed only where the floor fails too:** ddrm (bimodal_1d)" in text


def test_study_without_sensitivity_results_is_one_line_exit_2(tmp_path, capsys):
    assert study.main(["--results", str(tmp_path)]) == 2
    assert "make sensitivity" in capsys.readouterr().err


def test_study_writes_every_claim(steps_curve, tmp_path):
    (tmp_path / "sensitivity").mkdir()
    curves = steps_curve.copy()
    curves["value"] = curves["value"].replace({40: 200})  # bimodal_1d's own grid: the defaults row
    curves.to_csv(tmp_path / "sensitivity" / "curves.csv", index=False)
    pd.DataFrame(columns=["scenario", "check", "low", "high", "n"]).to_csv(tmp_path / "sensitivity" / "bands.csv",
                                                                         index=False)
    assert study.main(["--results", str(tmp_path)]) == 0
    text = (tmp_path / "STUDY.md").read_text()
    for claim in study.CLAIMS:
        assert f"## {claim.title}" in text


def test_study_shows_the_floors_verdict_and_effect_and_flags_a_passing_floor_outside_the_exact_band():
    # A floor that passes at this n but whose effect leaves the exact band (the DDPM floor's
    # -9 % variance at 200 steps) reads as such, not as a bare "pass".
    rows = pd.DataFrame([_row("dps", "bimodal_1d", "spread_radius", "spread", "approximation", floor_effect=0.85),
                         _row("tmpd", "bimodal_1d", "spread_radius", "spread", "pass", floor_effect=1.01)])
    bands = pd.DataFrame([{"scenario": "bimodal_1d", "check": "spread_radius", "low": 0.9, "high": 1.1}])
    claim = study.Claim("spread", "t", ("spread",), ("bimodal_1d",), "")
    text = study.render([(claim, study.claim_table(rows, claim, bands), "")],
                        {"pairs": 2, "early": 0, "early_and_spread": 0, "spread": 1}, "x")
    assert "| pass 0.85, outside the band | 0.9 – 1.1 |" in text
    assert "| pass 1.01 | 0.9 – 1.1 |" in text
