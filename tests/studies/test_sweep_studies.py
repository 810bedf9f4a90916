"""Every study is a sweep: spec blocks and ranges, the study references (``family:``, ``fault:``),
invalid cells, an interrupted sweep, compaction, and each study's report rendered from its store —
with the same numbers as the per-audit route, seed for seed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from samplerlab.studies import sweep as sw
from samplerlab.studies.sweep_report import render, sensitivity_frames, validation_rows
from samplerlab.studies.sweep_spec import SweepSpecError, cells, load_spec, parse_spec
from samplerlab.studies.sweep_store import finished_keys

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


@pytest.mark.parametrize("name, study, count", [("audit", "audit", 30), ("validation", "validation", 3200),
                                                ("calibration", "calibration", 80_000),
                                                ("calibration_quick", "calibration", 8000),
                                                ("sensitivity", "sensitivity", 606), ("images", "audit", 29),
                                                ("images_gpu", "audit", 48), ("medical", "audit", 15),
                                                ("medical_gpu", "audit", 30)])
def test_every_shipped_study_is_a_valid_spec_of_its_size(name, study, count):
    spec = load_spec(SWEEPS / f"{name}.toml")
    assert spec.study == study and len(cells(spec)) == count


def test_blocks_take_what_they_do_not_set_from_the_sweep_table_and_name_what_they_vary():
    spec = parse_spec({"sweep": {"study": "sensitivity", "scenarios": ["bimodal_1d"], "n": 100},
                       "block": [{"samplers": ["dps"], "vary": "steps", "steps": [10, 20]},
                                 {"samplers": ["dps"], "vary": "zeta", "params": {"dps": {"zeta": [0.5]}}},
                                 {"samplers": ["oracle"], "vary": "band", "seeds": {"start": 7, "count": 2}}]})
    got = [(c["sampler"], c["vary"], c["steps"], c["params"], c["seed"], c["n"]) for c in cells(spec)]
    assert got == [("dps", "steps", 10, {}, 0, 100), ("dps", "steps", 20, {}, 0, 100),
                   ("dps", "zeta", None, {"zeta": 0.5}, 0, 100), ("oracle", "band", None, {}, 7, 100),
                   ("oracle", "band", None, {}, 8, 100)]


@pytest.mark.parametrize("data, message", [
    ({"sweep": {"scenarios": ["x"]}, "block": [{"samplers": ["dps"], "sampler": 1}]}, "[[block]] 1 unknown key"),
    ({"sweep": {"study": "survey", "samplers": ["dps"], "scenarios": ["x"]}}, "study: expected one of"),
    ({"sweep": {"samplers": ["dps"], "scenarios": ["x"], "seeds": {"start": 0}}}, "seeds: expected {start"),
    ({"sweep": {"n": 100}, "block": [{"samplers": ["dps"]}]}, "[[block]] 1 scenarios: missing"),
], ids=["block-key", "study", "range", "block-scenarios"])
def test_bad_study_specs_name_the_key(data, message):
    with pytest.raises(SweepSpecError, match=message.replace("[", r"\[").replace("]", r"\]").replace("{", r"\{")):
        parse_spec(data, "t.toml")


VALIDATION = {"sweep": {"study": "validation", "samplers": ["fault:shrink", "fault:prior_mode", "fault:exact"],
                        "scenarios": ["family:grid_d8", "family:bimodal_1d"], "seeds": {"start": 1000, "count": 2},
                        "n": 300, "reports": False}}


@pytest.fixture(scope="module")
def validation_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
    sw.sweep(parse_spec(VALIDATION), out, workers=1)
    return out


def test_a_fault_its_family_cannot_host_is_invalid_once_and_not_run_again(validation_store, monkeypatch):
    frame = sw.read_store(validation_store)
    invalid = frame[frame["status"] == "invalid"]
    assert set(invalid["scenario"]) == {"family:bimodal_1d"} and set(invalid["sampler"]) == {"fault:prior_mode"}
    assert (invalid["attempt"] == 1).all() and "cannot be built for this problem" in invalid["error"].iloc[0]
    assert finished_keys(validation_store) == set(frame["key"])
    monkeypatch.setattr(sw, "run_cell", lambda *a: pytest.fail("a finished store ran a cell again"))
    sw.sweep(parse_spec(VALIDATION), validation_store, workers=1)


def test_validation_report_flags_the_modes_the_per_audit_route_flags_seed_for_seed(validation_store):
    from samplerlab.scenarios.validation_families import build
    from samplerlab.studies.validation import run

    rows = validation_rows(sw.read_store(validation_store, latest=True))
    assert not rows[(rows.family == "bimodal_1d") & (rows.fault == "prior_mode")].applicable.any()
    for family, fault, seed in [("grid_d8", "shrink", 1000), ("grid_d8", "prior_mode", 1001),
                                ("bimodal_1d", "exact", 1000)]:
        problem, schedule, steps = build(family)
        modes = run(problem, fault, seed, n=300, steps=steps, schedule=schedule).failure_modes
        got = rows[(rows.family == family) & (rows.fault == fault) & (rows.seed == seed)]
        assert set(got[got.flagged].failure_mode) == modes, (family, fault, seed)


def test_validation_report_writes_its_tables_and_one_confusion_matrix_per_family(validation_store):
    written = {p.name for p in render(validation_store)}
    assert written == {"validation.csv", "summary.csv", "confusion_grid_d8.png", "confusion_bimodal_1d.png"}
    summary = pd.read_csv(validation_store / "summary.csv")
    assert set(summary.fault) == {"shrink", "prior_mode", "exact"}
    assert json.loads((validation_store / "spec.json").read_text())["study"] == "validation"


def test_an_interrupted_sweep_keeps_what_finished_and_a_rerun_completes_it(tmp_path, monkeypatch):
    real, calls = sw.run_cell, []

    def interrupted(cell, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(cell["seed"])
        return real(cell, *args)

    spec = parse_spec({"sweep": {"samplers": ["oracle"], "scenarios": ["bimodal_1d"], "seeds": [0, 1, 2, 3],
                                 "n": 60, "steps": 10, "checks": ["spread"], "reports": False}})
    monkeypatch.setattr(sw, "run_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sw.sweep(spec, tmp_path, workers=1)
    assert len(finished_keys(tmp_path)) == 2
    monkeypatch.setattr(sw, "run_cell", real)
    frame = sw.sweep(spec, tmp_path, workers=1)
    assert frame["key"].nunique() == 4 and (frame["status"] == "done").all()
    assert len(list((tmp_path / "parts").glob("*.parquet"))) == 1  # compacted


def test_sensitivity_report_has_curves_per_varied_value_and_exact_bands(tmp_path):
    spec = parse_spec({"sweep": {"study": "sensitivity", "scenarios": ["bimodal_1d"], "n": 100,
                                 "checks": ["spread"], "reports": False},
                       "block": [{"samplers": ["dps"], "vary": "steps", "steps": [10, 20]},
                                 {"samplers": ["oracle"], "vary": "band", "seeds": {"start": 1000, "count": 3},
                                  "steps": [10]}]})
    frame = sw.sweep(spec, tmp_path, workers=1)
    curves, bands = sensitivity_frames(frame)
    assert (curves["attribution"].to_numpy() == frame[frame.vary != "band"]["attribution"].to_numpy()).all()
    assert "pass" in set(curves["attribution"]) <= {"pass", "failed", "info", "n/a"}  # no floor was run
    radius = curves[curves.check == "spread_radius"]
    assert sorted(radius.value) == [10.0, 20.0] and set(radius.param) == {"steps"}
    band = bands.set_index("check").loc["spread_radius"]
    exact = frame[(frame.vary == "band") & (frame.check == "spread_radius")].effect
    assert exact.min() <= band.low <= band.high <= exact.max()


def test_a_suite_run_from_a_spec_audits_its_blocks_and_an_explicit_product_drops_them(tmp_path):
    from samplerlab.studies.suite import run_suite

    spec = parse_spec({"sweep": {"samplers": ["oracle"], "scenarios": ["bimodal_1d"], "n": 60},
                       "block": [{"samplers": ["ddrm"], "scenarios": ["unequal_weights_2d"]}]}, "suite.toml")
    frame = run_suite(tmp_path / "spec", steps=10, workers=1, floor=False, checks=["location"], spec=spec)
    assert list(zip(frame["scenario"], frame["sampler"])) == [("bimodal_1d", "oracle"), ("unequal_weights_2d", "ddrm")]
    assert (frame["n"] == 60).all()
    frame = run_suite(tmp_path / "explicit", samplers=["oracle"], steps=10, workers=1, floor=False,
                      checks=["location"], spec=spec)
    assert list(zip(frame["scenario"], frame["sampler"])) == [("bimodal_1d", "oracle")]
