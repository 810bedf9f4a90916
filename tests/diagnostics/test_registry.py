"""The check registry: every check is one module's ``CHECK``, and what lists checks reads the registry."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from samplerlab import GaussianMixture, InverseProblem, audit, samplers
from samplerlab.diagnostics import registry
from samplerlab.diagnostics.check import Check
from samplerlab.operators import Identity
from samplerlab.render.plots import FIGURES

CHECKS = registry.checks()


def _problem():
    prior = GaussianMixture([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.5]], [0.5, 0.5])
    return InverseProblem(prior, Identity(2), 0.8, [0.5, 0.2])


@pytest.fixture(scope="module")
def problem():
    return _problem()


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_each_registered_check_runs_alone_and_writes_only_its_own_modes(check, problem):
    oracle = samplers.get("oracle", problem=problem)
    report = audit(oracle, problem, n=200, steps=40, checks=[check.name], seed=1)
    assert report.meta["checks"] == [check.name]
    assert report.checks, f"{check.name} wrote no result"
    assert {c.failure_mode for c in report.checks} <= set(check.modes)
    assert {c.role for c in report.checks if c.check in check.carriers.values()} <= {check.role}
    written = {c.check for c in report.checks}
    assert set(check.carriers.values()) <= written, f"{check.name}: carriers {check.carriers} not all written"


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_each_check_is_selectable_by_its_modes_and_its_figures_are_drawn(check):
    for mode in check.modes:
        assert check.name in registry.select([mode])
    assert set(check.modes) <= set(registry.FAILURE_MODES) | set(registry.EXPLANATIONS)
    assert set(check.figures) <= set(FIGURES)


def test_the_aliases_a_user_knows_select_what_they_did():
    assert registry.select(["location"]) == ["spread"]
    assert (registry.select(["prior_hallucination"]) == registry.select(["likelihood_hallucination"])
            == ["hallucination"])
    assert registry.select(["early_stopping"]) == ["early_stopping_sweep", "early_stopping_profile",
                                                   "early_stopping_trajectory"]
    assert registry.select(["why"]) == ["likelihood_approximation"]
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        registry.select(["nope"])


def test_a_declaration_naming_an_unknown_need_or_role_is_refused():
    with pytest.raises(ValueError, match="needs: expected one of"):
        Check("x", ("spread",), "everything", run=lambda i: [], order=1)
    with pytest.raises(ValueError, match="role: expected one of"):
        Check("x", ("spread",), "output", run=lambda i: [], order=1, role="judge")
    with pytest.raises(ValueError, match="carriers name modes it does not carry"):
        Check("x", ("spread",), "output", run=lambda i: [], order=1, carriers={"location": "location"})


def test_a_new_check_is_one_module_and_the_audit_runs_it(tmp_path, monkeypatch, problem):
    """A module declaring ``CHECK`` beside the diagnostics is found, selected and run; nothing else changes."""
    import samplerlab.diagnostics as package

    (tmp_path / "mean_shift_demo.py").write_text(textwrap.dedent('''
        from samplerlab.diagnostics.check import Check
        from samplerlab.diagnostics.result import CheckResult

        def mean_norm(inputs):
            shift = float((inputs.samples.mean(0) - inputs.truth.posterior.mean()).norm())
            return [CheckResult("mean_shift_demo", "location", statistic=shift, effect=shift, role="info",
                                detail=f"|mean − exact mean| = {shift:.3f}")]

        CHECK = Check("mean_shift_demo", ("location",), "output", run=mean_norm, order=15, role="info")
    '''))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    registry.checks.cache_clear()
    try:
        assert "mean_shift_demo" in registry.names()
        assert registry.select(["location"]) == ["spread", "mean_shift_demo"]
        oracle = samplers.get("oracle", problem=problem)
        report = audit(oracle, problem, n=200, steps=40, checks=["mean_shift_demo"])
        assert [c.check for c in report.checks] == ["mean_shift_demo"] and report.passed
        assert report["mean_shift_demo"].effect < 0.5
    finally:
        monkeypatch.undo()
        registry.checks.cache_clear()
        sys.modules.pop("samplerlab.diagnostics.mean_shift_demo", None)
        importlib.invalidate_caches()
    assert "mean_shift_demo" not in registry.names()  # gone with its module
