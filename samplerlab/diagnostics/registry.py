"""The check registry: every ``CHECK`` declared by a module of :mod:`samplerlab.diagnostics`.

Everything that lists checks or failure modes reads it: the audit (:func:`select`, :func:`checks`),
the failure-mode list (:data:`FAILURE_MODES`), the sensitivity curves' carriers
(:data:`MODE_CHECKS`), the command line's ``--checks`` choices (:func:`choices`) and the report
figures (:data:`FIGURES`).

Example:
    >>> select(["location", "early_stopping"])
    ['spread', 'early_stopping_sweep', 'early_stopping_profile', 'early_stopping_trajectory']
    >>> FAILURE_MODES[:3], MODE_CHECKS["spread"]
    (('spread', 'location', 'mode_weights'), 'spread_radius')
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from samplerlab.diagnostics.check import Check

__all__ = ["checks", "get", "names", "aliases", "select", "choices", "FAILURE_MODES", "EXPLANATIONS", "MODE_CHECKS",
           "FIGURES"]


@functools.lru_cache(maxsize=1)
def checks() -> tuple[Check, ...]:
    """Every registered check, in order."""
    import samplerlab.diagnostics as package

    found: dict[str, Check] = {}
    for info in pkgutil.iter_modules(package.__path__):
        declared = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "CHECK", None)
        if isinstance(declared, Check):
            if declared.name in found:
                raise RuntimeError(f"check {declared.name!r} is declared twice")
            found[declared.name] = declared
    return tuple(sorted(found.values(), key=lambda c: (c.order, c.name)))


def get(name: str) -> Check:
    """The registered check called ``name``."""
    for check in checks():
        if check.name == name:
            return check
    raise KeyError(name)


def names() -> tuple[str, ...]:
    return tuple(c.name for c in checks())


def aliases() -> dict[str, tuple[str, ...]]:
    """``{name: checks it selects}`` for every failure mode and declared alias that is not a check's own name."""
    out: dict[str, list[str]] = {}
    for c in checks():
        for alias in (*c.modes, *c.aliases):
            if alias != c.name:
                out.setdefault(alias, []).append(c.name)
    own = set(names())
    return {k: tuple(v) for k, v in out.items() if k not in own}


def choices() -> tuple[str, ...]:
    """Every name ``checks=`` accepts: the checks, then the aliases."""
    return names() + tuple(a for a in aliases() if a not in names())


def select(requested) -> list[str]:
    """The checks ``requested`` (names or aliases; ``None``: all) selects, in registry order.

    Raises:
        ValueError: on a name that is neither a check nor an alias.
    """
    if requested is None:
        return list(names())
    if isinstance(requested, str):
        requested = [requested]
    table, wanted = aliases(), set()
    for name in requested:
        if name not in names() and name not in table:
            raise ValueError(f"checks: unknown check {name!r}, expected some of {choices()}")
        wanted.update(table.get(name, (name,)))
    return [c for c in names() if c in wanted]


def _verdict_modes() -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for c in checks() if c.role == "verdict" for m in c.modes))


FAILURE_MODES: tuple[str, ...] = _verdict_modes()
#: Modes of informative checks that explain failures, never judge.
EXPLANATIONS: tuple[str, ...] = tuple(dict.fromkeys(m for c in checks() if c.role == "info" for m in c.modes
                                                    if m not in FAILURE_MODES))
#: The result that carries each failure mode's effect.
MODE_CHECKS: dict[str, str] = {m: r for c in checks() for m, r in c.carriers.items()}
#: Report figures drawn from the checks' results, in check order.
FIGURES: tuple[str, ...] = tuple(dict.fromkeys(f for c in checks() for f in c.figures))
