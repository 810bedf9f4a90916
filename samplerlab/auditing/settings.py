"""An audit's settings in one frozen object: what the audit runs, and where each value came from.

A scenario yields its defaults (:func:`for_scenario`: its ``n``, grid and schedule, with the notes
its file relies on); :meth:`AuditSettings.given` applies a caller's overrides in one place and
writes the "given for this audit" notes for the values that differ from the scenario's. The
floor's cache keys on :attr:`AuditSettings.key`.

Example:
    >>> base = AuditSettings(n=2000, steps=200, defaults={"n": 2000, "steps": 200})
    >>> s = base.given(n=500, seed=None)
    >>> s.n, s.steps, s.seed, s.notes
    (500, 200, 0, ('n = 500: given for this audit (the scenario says 2000)',))
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["AuditSettings", "for_scenario"]


@dataclass(frozen=True)
class AuditSettings:
    """Everything an audit is run with besides the sampler and the problem.

    Args:
        n, seed, alpha: samples, the audit's seed, the family-wise level of Holm's procedure.
        checks: registered check names or aliases (``None``: all).
        schedule, steps: the task's noise schedule (``VPLinear`` when ``None``) and grid size.
        t_stops: stop times of the stop sweep and profile (``None``: the schedule's defaults).
        record: grid times at which the time-resolved checks record ``x_t``.
        floor: ``False``, ``True`` (the sampler's own DDIM ``η``) or an ``η`` in [0, 1].
        device: the torch device the problem is moved to.
        notes: lines recorded in ``meta["notes"]``.
        defaults: the scenario's own values of ``n`` and ``steps``, which :meth:`given` notes departures from.
    """

    n: int = 2000
    seed: int = 0
    alpha: float = 1e-3
    checks: Any = None
    schedule: Any = None
    steps: int = 1000
    t_stops: Any = None
    record: int = 10
    floor: Any = False
    device: Any = None
    notes: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.n, int) and not isinstance(self.n, bool) and self.n >= 20):
            raise ValueError(f"n: expected an integer >= 20, got {self.n!r}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha: expected 0 < alpha < 1, got {self.alpha!r}")
        floor = self.floor
        if not (floor is None or isinstance(floor, bool)
                or (isinstance(floor, (int, float)) and 0.0 <= float(floor) <= 1.0)):
            raise ValueError(f"floor: expected True, False or a DDIM eta in [0, 1], got {floor!r}")
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.t_stops is not None:
            object.__setattr__(self, "t_stops", tuple(self.t_stops))

    def given(self, **overrides) -> AuditSettings:
        """These settings with ``overrides`` applied (``None`` keeps the value here), noting each
        of ``n`` and ``steps`` that differs from the scenario's; ``notes`` are appended.

        Raises:
            TypeError: on a name that is not a setting.
        """
        known = {f.name for f in fields(self)} - {"defaults"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown audit setting(s) {unknown}, expected some of {sorted(known)}")
        values = {k: v for k, v in overrides.items() if v is not None and k != "notes"}
        notes = list(self.notes)
        for key in ("n", "steps"):
            own = self.defaults.get(key)
            if key in values and own is not None and values[key] != own:
                notes.append(f"{key} = {values[key]}: given for this audit (the scenario says {own})")
        notes += list(overrides.get("notes") or ())
        return replace(self, **values, notes=tuple(notes))

    @property
    def key(self) -> tuple:
        """What the floor's cache keys on: every setting but the device and the notes."""
        return tuple((f.name, repr(getattr(self, f.name))) for f in fields(self)
                     if f.name not in ("device", "notes", "defaults"))


def for_scenario(scenario) -> AuditSettings:
    """A scenario's defaults: its ``n``, grid and schedule, and the notes its file relies on."""
    return AuditSettings(n=scenario.n, steps=scenario.steps, schedule=scenario.schedule, notes=tuple(scenario.notes),
                         defaults={"n": scenario.n, "steps": scenario.steps})
