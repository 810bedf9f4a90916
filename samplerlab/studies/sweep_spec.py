"""Sweep specs: which audits a study runs, as a TOML file (``sweeps/*.toml``).

A spec is the product of samplers × scenarios × seeds × steps × parameter grids, plus any number
of ``[[block]]`` tables — each a product of its own, taking what it does not set from ``[sweep]``
(a sensitivity study varies one parameter per block)::

    [sweep]
    study = "audit"                      # what `samplerlab sweep report` renders: audit | validation |
                                         # calibration | sensitivity
    samplers = ["dps", "pigdm"]          # zoo names, module:attr, file.py:attr, fault:NAME, deepinv:NAME…
    scenarios = ["bimodal_1d"]           # names, .toml paths, or family:NAME (samplerlab.scenarios.validation_families)
    seeds = [0, 1, 2]                    # a list, or {start = 1000, count = 50}
    n = 500                              # optional (default: each scenario's n)
    steps = [50, 200]                    # optional (default: the scenario's)
    checks = ["spread", "mode_weights"]  # optional (default: all)
    alpha = 1e-3
    floor = true                         # also run the discretisation floor
    reports = true                       # keep each cell's JSON report (false for big studies)
    samples = false                      # keep each cell's draws (.npz; report cards of 2-D audits)
    observations = 20                    # optional: audit each cell over 20 observations y ~ p(y)
    control = true                       # optional: also audit the prior-complexity control

    [params.dps]                         # optional grids, per sampler (lists or {start, count})
    zeta = [0.3, 1.0]

    [[block]]                            # optional: more cells; `vary` names the parameter it varies
    samplers = ["dps"]
    vary = "steps"
    steps = [20, 100, 1000]

Every error is one line naming the file, the key, what was expected and what was found.

Example:
    >>> spec = parse_spec({"sweep": {"samplers": ["dps"], "scenarios": ["bimodal_1d"], "seeds": [0, 1],
    ...                              "n": 100}, "params": {"dps": {"zeta": [0.5, 1.0]}}}, "demo.toml")
    >>> [(c["params"]["zeta"], c["seed"]) for c in cells(spec)]
    [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    >>> parse_spec({"sweep": {"samplers": ["dps"], "scenarios": ["x"], "seeds": {"start": 5, "count": 3}}}).seeds
    (5, 6, 7)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, field, replace

from samplerlab.errors import SweepSpecError

__all__ = ["SweepSpec", "SweepSpecError", "STUDIES", "parse_spec", "load_spec", "cells", "cell_id", "cell_key",
           "cell_stamp", "STAMP_FIELDS", "spec_names"]

STUDIES = ("audit", "validation", "calibration", "sensitivity")
_CELL_KEYS = {"samplers", "scenarios", "seeds", "n", "steps", "checks", "alpha", "floor", "params", "vary",
              "observations", "control"}
_TOP_KEYS = _CELL_KEYS - {"params", "vary"} | {"study", "reports", "samples"}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: the ``[sweep]`` product, its ``blocks`` and the store options."""

    samplers: tuple[str, ...]
    scenarios: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    n: int | None = None
    steps: tuple[int | None, ...] = (None,)
    checks: tuple[str, ...] | None = None
    alpha: float = 1e-3
    floor: bool = False
    params: dict = field(default_factory=dict)  # sampler -> {param: [values]}
    vary: str = ""
    study: str = "audit"
    reports: bool = True
    samples: bool = False
    observations: int | None = None  # audit each cell over this many observations y ~ p(y)
    control: bool = False  # also audit the prior-complexity control
    blocks: tuple["SweepSpec", ...] = ()


def _fail(where: str, key: str, expected: str, got) -> None:
    raise SweepSpecError(f"{where} {key}: expected {expected}, got {got!r}")


def _strings(where, key, value) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
        _fail(where, key, "a non-empty list of strings", value)
    return tuple(value)


def _values(where, key, value) -> list:
    """A non-empty list, or ``{start, count}`` for consecutive integers."""
    if isinstance(value, dict):
        if set(value) != {"start", "count"} or not all(isinstance(value[k], int) and not isinstance(value[k], bool)
                                                       for k in value) or value["count"] < 1:
            _fail(where, key, "{start = INT, count = INT >= 1}", value)
        return list(range(value["start"], value["start"] + value["count"]))
    if not (isinstance(value, list) and value):
        _fail(where, key, "a non-empty list or {start, count}", value)
    return value


def _ints(where, key, value, low: int) -> tuple[int, ...]:
    value = [value] if isinstance(value, int) and not isinstance(value, bool) else _values(where, key, value)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value):
        _fail(where, key, f"integers >= {low}", value)
    return tuple(value)


def _flag(where, key, value) -> bool:
    if not isinstance(value, bool):
        _fail(where, key, "true or false", value)
    return value


def _params(where: str, params, samplers: tuple[str, ...]) -> dict:
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise SweepSpecError(f"{where} params: expected tables params.<sampler> of lists")
    out = {}
    for name, grid in params.items():
        if name not in samplers:
            raise SweepSpecError(f"{where} params.{name}: {name!r} is not one of the samplers {list(samplers)}")
        out[name] = {k: _values(where, f"params.{name}.{k}", v) for k, v in grid.items()}
    return out


def _part(table: dict, where: str, allowed: set, base: SweepSpec | None, required: bool = True) -> SweepSpec:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SweepSpecError(f"{where} unknown key(s) {unknown}, expected some of {sorted(allowed)}")
    kw: dict = {}
    for key in ("samplers", "scenarios"):
        if key in table:
            kw[key] = _strings(where, key, table[key])
        elif base is None and required:
            raise SweepSpecError(f"{where} {key}: missing (a list of names)")
        elif base is None:
            kw[key] = ()
    if "seeds" in table:
        kw["seeds"] = _ints(where, "seeds", table["seeds"], 0)
    if "n" in table:
        kw["n"] = _ints(where, "n", table["n"], 20)[0]
    if "steps" in table:
        kw["steps"] = _ints(where, "steps", table["steps"], 1)
    if "checks" in table:
        kw["checks"] = _strings(where, "checks", table["checks"])
    if "alpha" in table:
        a = table["alpha"]
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a < 1:
            _fail(where, "alpha", "a number in (0, 1)", a)
        kw["alpha"] = float(a)
    for key in ("floor", "reports", "samples", "control"):
        if key in table:
            kw[key] = _flag(where, key, table[key])
    if "observations" in table:
        kw["observations"] = _ints(where, "observations", table["observations"], 2)[0]
    if "study" in table and table["study"] not in STUDIES:
        _fail(where, "study", f"one of {list(STUDIES)}", table["study"])
    if "study" in table:
        kw["study"] = table["study"]
    if "vary" in table:
        if not isinstance(table["vary"], str):
            _fail(where, "vary", "a parameter name (or steps)", table["vary"])
        kw["vary"] = table["vary"]
    samplers = kw.get("samplers", base.samplers if base else ())
    if "params" in table:
        kw["params"] = _params(where, table["params"], samplers)
    if base is None:
        return SweepSpec(**kw)
    return replace(base, **{"vary": "", "params": {}, "blocks": (), **kw})


def parse_spec(data: dict, file: str = "spec") -> SweepSpec:
    """Validate a parsed TOML spec (unknown tables and keys are errors)."""
    unknown = sorted(set(data) - {"sweep", "params", "block"})
    if unknown:
        raise SweepSpecError(f"{file}: unknown table(s) {unknown}, expected [sweep], [params.<sampler>], [[block]]")
    top = data.get("sweep")
    if not isinstance(top, dict):
        raise SweepSpecError(f"{file}: missing [sweep] table")
    blocks = data.get("block", [])
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SweepSpecError(f"{file}: block: expected [[block]] tables")
    # with blocks, [sweep] may hold only their defaults (no samplers: no product of its own)
    spec = _part({**top, **({"params": data["params"]} if "params" in data else {})}, f"{file}: [sweep]",
                 _TOP_KEYS | {"params"}, None, required=not blocks)
    parsed = tuple(_part(b, f"{file}: [[block]] {i + 1}", _CELL_KEYS, spec) for i, b in enumerate(blocks))
    for i, block in enumerate(parsed):
        for key in ("samplers", "scenarios"):
            if not getattr(block, key):
                raise SweepSpecError(f"{file}: [[block]] {i + 1} {key}: missing (in the block or in [sweep])")
    return replace(spec, blocks=parsed)


def load_spec(path) -> SweepSpec:
    """Read and validate a spec file (one-line :class:`SweepSpecError` on any problem)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SweepSpecError(f"{path}: no such sweep spec") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepSpecError(f"{path}: TOML syntax error: {exc}") from None
    return parse_spec(data, str(path))


def _product(part: SweepSpec) -> list[dict]:
    out = []
    for sampler in part.samplers:
        grid = part.params.get(sampler, {})
        names = sorted(grid)
        for values in itertools.product(*(grid[k] for k in names)):
            for scenario, steps, seed in itertools.product(part.scenarios, part.steps, part.seeds):
                cell = {"sampler": sampler, "params": dict(zip(names, values)), "scenario": scenario, "seed": seed,
                        "n": part.n, "steps": steps, "checks": None if part.checks is None else list(part.checks),
                        "alpha": part.alpha, "floor": part.floor}
                if part.vary:  # recorded (and hashed) only where a block names it
                    cell["vary"] = part.vary
                if part.observations:  # likewise: cells without them keep their keys
                    cell["observations"] = part.observations
                if part.control:
                    cell["control"] = True
                out.append(cell)
    return out


def cells(spec: SweepSpec) -> list[dict]:
    """Every cell of the spec, in a fixed order (the ``[sweep]`` product, then each block's);
    a cell appearing twice is run once."""
    seen, out = set(), []
    for part in (spec, *spec.blocks):
        for cell in _product(part) if part.samplers else []:
            key = cell_id(cell)
            if key not in seen:
                seen.add(key)
                out.append(cell)
    return out


def spec_names(spec: SweepSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The scenarios and the samplers of the spec's cells, blocks included, in first-seen order.

    Example:
        >>> spec = parse_spec({"sweep": {"samplers": ["dps", "ddrm"], "scenarios": ["a"]},
        ...                    "block": [{"samplers": ["dps", "tmpd"], "scenarios": ["b"]}]})
        >>> spec_names(spec)
        (('a', 'b'), ('dps', 'ddrm', 'tmpd'))
    """
    parts = [p for p in (spec, *spec.blocks) if p.samplers]
    return (tuple(dict.fromkeys(s for p in parts for s in p.scenarios)),
            tuple(dict.fromkeys(s for p in parts for s in p.samplers)))


def cell_id(cell: dict) -> str:
    """Hash of what the spec asks of a cell (its fields and the samplerlab version): the same
    cell across edits of the code it runs."""
    import samplerlab

    text = json.dumps({"cell": cell, "version": samplerlab.__version__}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


STAMP_FIELDS = {"code": "samplerlab's code", "sampler": "sampler source", "scenario": "scenario file"}


def cell_stamp(cell: dict, memo: dict | None = None) -> dict:
    """The content hashes that decide a cell's result beyond its fields: samplerlab's code, the
    sampler's source (:func:`samplerlab.auditing.sampler_ref.ref_source`) and the scenario file. ``memo``
    (a dict) shares them between the cells of one sweep."""
    from samplerlab.auditing.sampler_ref import ref_source
    from samplerlab.core.provenance import code_hash, file_hash, text_hash

    memo = {} if memo is None else memo
    sampler, scenario = str(cell["sampler"]), str(cell["scenario"])
    if ("sampler", sampler) not in memo:
        memo["sampler", sampler] = ref_source(sampler)["hash"]
    if ("scenario", scenario) not in memo:
        memo["scenario", scenario] = _scenario_hash(scenario, file_hash, text_hash)
    return {"code": code_hash(), "sampler": memo["sampler", sampler], "scenario": memo["scenario", scenario]}


def _scenario_hash(scenario: str, file_hash, text_hash) -> str | None:
    from samplerlab.errors import ScenarioError
    from samplerlab.scenarios import scenario_path

    if scenario.startswith("family:"):  # built by samplerlab's code, which the code hash covers
        return text_hash(scenario)
    try:
        return file_hash(scenario_path(scenario))
    except (ScenarioError, OSError):  # the cell is recorded as invalid when it runs
        return None


def cell_key(cell: dict, memo: dict | None = None) -> str:
    """Hash of the cell's fields and of :func:`cell_stamp`: an edited sampler file, scenario file
    or samplerlab means a new key, so the cell is recomputed, never reused."""
    text = json.dumps({"id": cell_id(cell), "stamp": cell_stamp(cell, memo)}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
