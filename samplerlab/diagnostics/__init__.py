"""Failure-mode diagnostics: pure functions ``(samples, truth, ...) -> list[CheckResult]``.

One module per concept: :mod:`.truth` (exact reference quantities, cached exact draws),
:mod:`.spread`, :mod:`.mode_weights`, :mod:`.hallucination`, :mod:`.distribution`,
:mod:`.early_stopping`, :mod:`.stop_profile`, and :mod:`.verdicts` (Holm, Monte Carlo p-values).
"""

from samplerlab.diagnostics.distribution import distribution_checks
from samplerlab.diagnostics.early_stopping import sweep_check, trajectory_check
from samplerlab.diagnostics.hallucination import hallucination_checks
from samplerlab.diagnostics.mode_weights import mode_weight_checks
from samplerlab.diagnostics.result import FAILURE_MODES, CheckResult
from samplerlab.diagnostics.spread import spread_checks
from samplerlab.diagnostics.stop_profile import profile_check
from samplerlab.diagnostics.truth import Truth
from samplerlab.diagnostics.verdicts import holm

__all__ = ["CheckResult", "FAILURE_MODES", "Truth", "holm", "spread_checks", "mode_weight_checks",
           "hallucination_checks", "distribution_checks", "sweep_check", "profile_check", "trajectory_check"]
