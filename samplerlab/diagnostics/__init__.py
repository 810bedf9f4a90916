"""Failure-mode diagnostics: pure functions ``(samples, truth, ...) -> list[CheckResult]``.

One check per module, each declaring its ``CHECK`` (:mod:`.check`; found by :mod:`.registry`):
:mod:`.spread`, :mod:`.mode_weights`, :mod:`.hallucination`, :mod:`.early_stopping` (the stop
sweep), :mod:`.stop_profile`, :mod:`.stop_trajectory`, :mod:`.distribution` and :mod:`.likelihood`.
Beside them: :mod:`.truth` (exact reference quantities, cached exact draws), :mod:`.verdicts`
(Holm, exact p-values) and the across-observation tests (:mod:`.coverage`, :mod:`.sbc`, :mod:`.tarp`).
"""

from samplerlab.diagnostics.distribution import distribution_checks
from samplerlab.diagnostics.early_stopping import stop_sweep_check
from samplerlab.diagnostics.hallucination import hallucination_checks
from samplerlab.diagnostics.mode_weights import mode_weight_checks
from samplerlab.diagnostics.result import CheckResult
from samplerlab.diagnostics.spread import spread_checks
from samplerlab.diagnostics.stop_profile import profile_check
from samplerlab.diagnostics.stop_trajectory import trajectory_check
from samplerlab.diagnostics.truth import Truth
from samplerlab.diagnostics.verdicts import holm

__all__ = ["CheckResult", "FAILURE_MODES", "Truth", "holm", "spread_checks", "mode_weight_checks",
           "hallucination_checks", "distribution_checks", "stop_sweep_check", "profile_check", "trajectory_check"]


def __getattr__(name: str):
    if name == "FAILURE_MODES":  # read off the registry, which imports every check module
        from samplerlab.diagnostics.registry import FAILURE_MODES

        return FAILURE_MODES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
