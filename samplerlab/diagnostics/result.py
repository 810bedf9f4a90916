"""The outcome of one diagnostic check: a statistic, a readable effect size and a p-value.

Example:
    >>> r = CheckResult("spread_radius", "spread", statistic=0.5, effect=0.71, p_value=3e-9,
    ...                 detail="under-dispersed: within-mode spread 0.71× exact (p = 3e-09)")
    >>> r.passed, CheckResult.from_dict(r.to_dict()) == r
    (True, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

__all__ = ["CheckResult", "ACROSS_MODES", "not_applicable", "fmt_p", "p_eq"]

# Failure modes judged across observations only (:mod:`samplerlab.auditing.observations`), never by one audit.
# The others are the registered checks' (:data:`samplerlab.diagnostics.registry.FAILURE_MODES`).
ACROSS_MODES = ("coverage",)


P_FLOOR = 1e-300  # below this a p-value has (nearly) underflowed: shown as ``< 1e-300``


def fmt_p(p: Optional[float]) -> str:
    """``p`` to two significant digits (``3e-09``, ``0.042``); underflowed ones as ``< 1e-300``.

    >>> fmt_p(0.042), fmt_p(3e-09), fmt_p(0.0), fmt_p(None)
    ('0.042', '3.0e-09', '< 1e-300', 'n/a')
    """
    if p is None:
        return "n/a"
    if p < P_FLOOR:
        return f"< {P_FLOOR:.0e}"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def p_eq(p: Optional[float], name: str = "p") -> str:
    """``p = 0.042`` / ``p = 3.0e-09``, or ``p < 1e-300`` once the p-value has underflowed.

    >>> p_eq(0.042), p_eq(0.0), p_eq(1e-5, "Holm p")
    ('p = 0.042', 'p < 1e-300', 'Holm p = 1.0e-05')
    """
    text = fmt_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


@dataclass
class CheckResult:
    """One check. ``role`` is ``"verdict"`` (enters Holm and ``passed``) or ``"info"`` (reported only).

    ``passed`` is set by the Holm step of :func:`samplerlab.diagnostics.verdicts.holm`; a check
    that is not applicable is never a failure. ``data`` holds JSON-serialisable plot material.
    """

    check: str
    failure_mode: str
    statistic: Optional[float] = None
    effect: Optional[float] = None
    p_value: Optional[float] = None
    detail: str = ""
    passed: bool = True
    applicable: bool = True
    role: str = "verdict"
    p_holm: Optional[float] = None
    cost_s: float = 0.0
    sampler_s: float = 0.0
    data: dict = field(default_factory=dict)
    floor_passed: Optional[bool] = None  # the same check on the discretisation floor (None: not run)
    floor_effect: Optional[float] = None
    control_verdict: Optional[str] = None  # on the prior-complexity control: pass, fail, n/a (None: not run)
    control_effect: Optional[float] = None

    @property
    def attribution(self) -> str:
        """``"pass"``; a failure the floor shares (``"discretisation"``) or not (``"approximation"``);
        ``"failed"`` when no floor was run; ``"n/a"`` / ``"info"`` for checks that do not judge."""
        if not self.applicable:
            return "n/a"
        if self.role == "info":
            return "info"
        if self.passed:
            return "pass"
        if self.floor_passed is None:
            return "failed"
        return "approximation" if self.floor_passed else "discretisation"

    @property
    def control_attribution(self) -> Optional[str]:
        """For a failing verdict check audited with the prior-complexity control
        (:mod:`samplerlab.auditing.control`): ``"single_gaussian"`` when the control fails it too (the
        method's own error), ``"mixture"`` when the control passes it or cannot judge it (one
        mode); ``None`` for passing checks and audits without a control."""
        if self.passed or not self.applicable or self.role != "verdict" or self.control_verdict is None:
            return None
        return "single_gaussian" if self.control_verdict == "fail" else "mixture"

    def __post_init__(self):
        if self.role not in ("verdict", "info"):
            raise ValueError(f"role: expected 'verdict' or 'info', got {self.role!r}")
        from samplerlab.diagnostics.registry import EXPLANATIONS, FAILURE_MODES

        allowed = FAILURE_MODES + ACROSS_MODES + (EXPLANATIONS if self.role == "info" else ())
        if self.failure_mode not in allowed:
            raise ValueError(f"failure_mode: expected one of {allowed}, got {self.failure_mode!r}")
        for name in ("statistic", "effect", "p_value"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, float(v))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CheckResult":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def not_applicable(check: str, failure_mode: str, reason: str, **kw) -> CheckResult:
    """A check that cannot judge this sampler (never a failure)."""
    return CheckResult(check, failure_mode, detail=f"not applicable: {reason}", applicable=False, **kw)
