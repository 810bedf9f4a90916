"""AuditSettings: one frozen object, a scenario's defaults, overrides applied (and noted) in one place."""

from __future__ import annotations

import pytest

from samplerlab import AuditSettings, run
from samplerlab.auditing.settings import for_scenario
from samplerlab.scenarios import load_scenario


def test_a_scenario_yields_its_defaults_and_an_override_is_noted_once():
    scenario = load_scenario("bimodal_1d")
    base = for_scenario(scenario)
    assert (base.n, base.steps, base.schedule) == (scenario.n, scenario.steps, scenario.schedule)
    given = base.given(n=300, steps=None, seed=4)
    assert (given.n, given.steps, given.seed) == (300, scenario.steps, 4)
    assert given.notes[-1] == f"n = 300: given for this audit (the scenario says {scenario.n})"
    assert base.given(n=scenario.n).notes == base.notes  # the scenario's own value: nothing to note


def test_bad_settings_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="n: expected an integer >= 20, got 5"):
        AuditSettings(n=5)
    with pytest.raises(ValueError, match="alpha: expected 0 < alpha < 1, got 2"):
        AuditSettings().given(alpha=2)
    with pytest.raises(ValueError, match="floor: expected True, False or a DDIM eta"):
        AuditSettings(floor=3.0)
    with pytest.raises(TypeError, match=r"unknown audit setting\(s\) \['steps_'\]"):
        AuditSettings().given(steps_=10)


def test_the_report_records_the_settings_it_ran_with_and_the_notes():
    report = run("oracle", "bimodal_1d", n=200, steps=20, checks=["spread"], seed=2)
    assert (report.meta["n"], report.meta["steps"], report.meta["seed"], report.meta["checks"]) == (
        200, 20, 2, ["spread"])
    assert any(note.startswith("n = 200: given for this audit") for note in report.meta["notes"])
    assert any(note.startswith("steps = 20: given for this audit") for note in report.meta["notes"])


def test_the_floor_cache_keys_on_the_settings():
    a, b = AuditSettings(n=200, steps=20), AuditSettings(n=200, steps=20, notes=("x",), device="cpu")
    assert a.key == b.key  # notes and device do not decide the floor
    assert a.key != AuditSettings(n=200, steps=40).key != AuditSettings(n=200, steps=20, record=5).key
