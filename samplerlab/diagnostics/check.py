"""A check's declaration: its name, the failure modes it judges, what it needs and its role.

Each check module declares one ``CHECK = Check(...)`` beside the pure function it runs;
:mod:`~samplerlab.diagnostics.registry` finds them, and the audit, its tables, the failure-mode
list, the command line's ``--checks`` and the figure list are read off the registry. A new check
is one module and its test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Check", "Inputs", "NEEDS", "ROLES"]

#: What a check reads: the sampler's output, the ``x_t`` it notified, the guidance it reported
#: with them, or its outputs when stopped early (the audit records or re-runs only what is needed).
NEEDS = ("output", "trajectory", "guidance", "stops")
ROLES = ("verdict", "info")


@dataclass(frozen=True)
class Inputs:
    """What the audit hands a check; the fields a check does not need are empty."""

    samples: Any  # (n, d) tensor: the sampler's output
    truth: Any  # :class:`~samplerlab.diagnostics.truth.Truth`
    evaluated: Any  # the output evaluated against the exact posterior (:func:`Truth.evaluate`)
    schedule: Any
    alpha: float
    records: Mapping[float, Any] = field(default_factory=dict)  # t -> x_t at the recorded times
    guidance: Mapping[float, Any] = field(default_factory=dict)  # t -> the guidance the sampler reported
    covs: Mapping[float, Any] = field(default_factory=dict)  # t -> the likelihood covariance it reported
    outputs: Mapping[float, Any] = field(default_factory=dict)  # t_end -> output stopped there (0.0: the run)


@dataclass(frozen=True)
class Check:
    """One registered check.

    Args:
        name: what ``checks=`` selects (the audit's ``--checks``).
        modes: the failure modes its results carry; selecting a mode selects every check that carries it.
        needs: one of :data:`NEEDS`.
        run: ``run(inputs) -> list[CheckResult]``.
        order: where it sits among the checks (tables, reports, the failure-mode list).
        role: ``"verdict"`` (its results enter Holm) or ``"info"`` (they explain, never judge).
        carriers: ``{mode: result}``, the result that carries each mode's effect (sensitivity curves).
        aliases: further names that select it (besides its modes).
        figures: the report figures drawn from its results.
    """

    name: str
    modes: tuple[str, ...]
    needs: str
    run: Callable[[Inputs], list]
    order: int
    role: str = "verdict"
    carriers: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.needs not in NEEDS:
            raise ValueError(f"check {self.name!r}: needs: expected one of {NEEDS}, got {self.needs!r}")
        if self.role not in ROLES:
            raise ValueError(f"check {self.name!r}: role: expected one of {ROLES}, got {self.role!r}")
        if not set(self.carriers) <= set(self.modes):
            raise ValueError(f"check {self.name!r}: carriers name modes it does not carry: "
                             f"{sorted(set(self.carriers) - set(self.modes))}")
