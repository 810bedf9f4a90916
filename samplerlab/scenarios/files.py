"""Scenarios: inverse problems with exact posteriors, described in small TOML files.

A scenario file (``scenarios/<name>.toml``, shipped inside the package as
``samplerlab/data/scenarios``, see :func:`data_path`; any path is accepted too) holds::

    description = "1-D bimodal prior, observation between the modes"  # required, one line
    seed = 0          # seeds every random choice below (prior, operator, observation)
    n = 2000          # sample budget of an audit
    sigma_y = 0.5     # observation noise standard deviation

    [schedule]        # defaults of an audit on this scenario
    name = "vp_linear"            # vp_linear | vp_cosine | ve | edm
    steps = 200

    [prior]           # kind = mixture | grid25 | random | images
    kind = "mixture"
    weights = [0.5, 0.5]          # mixture: explicit parameters; weights sum to 1 (within 1e-6)
    # normalize = true            #   ... unless this says to rescale them
    means = [[-2.0], [2.0]]       #   K rows of length d
    covariances = [0.25, 0.25]    #   (K,) isotropic, (K, d) diagonal or (K, d, d) full (SPD)
    # grid25: dim (even), weights = "uniform" | "random", spacing = 8, variance = 1 (the MCGdiff grid benchmark)
    # random: components, dim, mean_scale = 4, eigenvalues = [0.1, 1.0], weights  (full covariances)
    # images: dataset = "digits" | "faces" | "patches" | "medical", bandwidth, components (a seeded subset);
    #         patches only: patch_size = 8 (4..64), patches = 2000 (how many are cut), patch_seed = 0
    #         medical only: patch_size = 16 (8..64), patches = 2000, patch_seed = 0, lesion_fraction = 0.5,
    #         lesion_contrast (≤ 0.6), lesion_radius (components labelled "lesion" / "healthy")

    [operator]        # kind = identity | matrix | random | mask | subsample | blur | mri | ct
    kind = "identity"
    # matrix: rows = [[...], ...]          random: m (sorted Uniform(0, 1) singular values, Haar U, V)
    # mask: keep = [indices] | image = [H, W] with box = [top, left, h, w] hidden | missing = fraction
    # subsample: shape = [n] or [H, W], factor     blur: shape, std, boundary = "circular" | "zero"
    # mri: shape = [H, W], acceleration, centre = 0.08, pattern = "random" | "equispaced" (k-space lines)
    # ct: shape = [H, W], angles (parallel-beam views, equally spaced in [0°, 180°))

    [observation]     # kind = simulated | explicit | point | between | outlier
    kind = "between"
    modes = [0, 1]                # between: y = A((1 − f) m_i + f m_j), fraction f = 0.5
    # simulated: x* ~ prior, y = A x* + σ_y n      explicit: y = [...]      point: x = [...]
    # outlier: y = A m_mode + offset · direction/|direction| (a seeded random direction if omitted)
    # between / point / outlier add noise only when noise = true

    [observations]    # optional: the y's an audit over observations (--observations K) uses, in order,
    y = [[0.4], [1.9]]            #   instead of drawing y ~ p(y); J rows of the operator's length m
    # x_star = [[0.5], [2.1]]     #   optional, J rows of length d: the signals behind them; coverage,
                                  #   SBC and TARP need them and are exact only if they were drawn from the prior

The loader rejects a bad file with a :class:`ScenarioError` — one line naming the file, the
field and what was expected (unknown keys — named before missing ones —, wrong types, non-SPD
covariances, mismatched dimensions, TOML syntax errors with their line, and sizes that cannot
fit in memory, refused before anything is allocated, a non-UTF-8 file, ``n`` below an audit's
minimum of 20, and a ``sigma_y`` whose square overflows or underflows float64).
Everything random is drawn on the CPU from
``torch.Generator().manual_seed(seed + offset)`` (offset 0 prior, 1 operator, 2 observation),
so the same file and seed give the same problem bit for bit on every machine.

Example:
    >>> sc = load_scenario("bimodal_1d")
    >>> sc.name, sc.problem.dim, sc.n, sc.steps
    ('bimodal_1d', 1, 2000, 200)
    >>> "grid_d8_m1" in list_scenarios()
    True
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from samplerlab.errors import ScenarioError

__all__ = ["Scenario", "ScenarioError", "load_scenario", "list_scenarios", "scenario_path", "read_header",
           "data_path", "SCENARIO_DIR", "MIN_N"]

DATA_KINDS = ("scenarios", "sweeps")
MIN_N = 20  # the smallest sample budget an audit takes


def data_path(kind: str, name: str | None = None) -> Path:
    """A data file shipped inside the package (``samplerlab/data/<kind>/<name>``, read through
    :mod:`importlib.resources`, so an installed wheel finds it too), or the folder without ``name``.

    ``kind`` is ``"scenarios"`` (scenario files) or ``"sweeps"`` (sweep specs); the source tree's
    top-level ``scenarios/`` and ``sweeps/`` are links to these folders.

    Example:
        >>> data_path("sweeps", "audit.toml").is_file(), data_path("scenarios").name
        (True, 'scenarios')
    """
    if kind not in DATA_KINDS:
        raise ValueError(f"kind: expected one of {list(DATA_KINDS)}, got {kind!r}")
    folder = Path(str(resources.files("samplerlab").joinpath("data", kind)))
    return folder if name is None else folder / name


SCENARIO_DIR = data_path("scenarios")


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: the exact problem plus the audit defaults its file sets."""

    name: str
    description: str
    problem: object  # InverseProblem
    schedule: object  # Schedule
    schedule_name: str
    steps: int
    n: int
    seed: int
    path: Path
    notes: tuple[str, ...] = ()  # defaults the file relies on, adjustments made while loading
    listed_y: object = None  # (J, m) tensor: the file's own observations for an audit over observations
    listed_x_star: object = None  # (J, d) tensor or None: the signals behind them

    def __repr__(self) -> str:
        op = self.problem.operator
        return (f"Scenario({self.name!r}, d={self.problem.dim}, m={op.out_dim}, operator={type(op).__name__}, "
                f"K={self.problem.prior.n_components}, sigma_y={self.problem.sigma_y:g}, n={self.n}, "
                f"steps={self.steps})")


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package (:data:`SCENARIO_DIR`), sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def scenario_path(name_or_path) -> Path:
    """A shipped scenario's file by name, or the given path (must exist)."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.parent != Path("."):
        if not path.is_file():
            raise ScenarioError(f"{text}: no such scenario file")
        return path
    shipped = SCENARIO_DIR / f"{text}.toml"
    if not shipped.is_file():
        raise ScenarioError(f"{text}: unknown scenario, expected a path to a .toml file or one of "
                            f"{', '.join(list_scenarios())}")
    return shipped


def _display(path: Path) -> str:
    """``scenarios/<name>.toml`` for a shipped file, else the path as given."""
    resolved = path.resolve()
    return f"scenarios/{resolved.name}" if resolved.parent == SCENARIO_DIR.resolve() else str(path)


def read_header(name_or_path) -> dict:
    """The parsed TOML of a scenario (not validated, nothing built): for listings."""
    path = scenario_path(name_or_path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{_display(path)}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{_display(path)}: expected a UTF-8 text (TOML) file, got byte "
                            f"0x{exc.object[exc.start]:02x} at position {exc.start}") from None


def _require_audit_memory(prior_fields, n: int, dim: int) -> None:
    """Refuse, naming the field that sets the dimension, a problem whose audit cannot fit in memory."""
    from samplerlab.core.memory import audit_bytes, require
    from samplerlab.scenarios.builders import Raw

    key = next((k for k in ("dim", "means", "patch_size", "dataset") if prior_fields.has(k)), "kind")
    require(audit_bytes(n, dim), f"auditing n = {n} samples in {dim} dimensions",
            lambda expected, got: prior_fields.fail(key, expected, Raw(got)))


def load_scenario(name_or_path, *, seed: int | None = None, device=None) -> Scenario:
    """Load and build a scenario by shipped name or path; ``seed`` overrides the file's seed."""
    from samplerlab.scenarios import builders as b

    path = scenario_path(name_or_path)
    file = _display(path)
    data = read_header(path)
    top = b.Fields(file, "", data)
    description = top.get("description", "str")
    file_seed = top.get("seed", "nonneg_int", 0)
    seed = file_seed if seed is None else seed
    n = top.get("n", "pos_int", 2000)
    if n < MIN_N:
        top.fail("n", f"an integer >= {MIN_N} (the smallest sample budget an audit takes)", n)
    sigma_y = float(top.get("sigma_y", "pos_float"))
    tables = {}
    top.used.add("observations")
    for key in ("prior", "operator", "observation", "schedule"):
        top.used.add(key)
        value = data.get(key, {} if key in ("observation", "schedule") else None)
        if not isinstance(value, dict):
            top.fail(key, f"a [{key}] table", value if value is not None else b.Raw("nothing"))
        tables[key] = b.Fields(file, key, value)
    top.finish()

    import torch

    from samplerlab.core.problem import InverseProblem
    from samplerlab.core.schedules import SCHEDULES, get_schedule

    sched = tables["schedule"]
    schedule_name = sched.get("name", "str", "vp_linear", choices=tuple(SCHEDULES))
    steps = sched.get("steps", "pos_int", 1000)
    sched.finish()
    notes = []
    if "n" not in data:
        notes.append(f"n = {n}: the default (the file sets no n)")
    if "schedule" not in data:
        notes.append(f"schedule {schedule_name} with {steps} steps: the defaults (the file has no [schedule])")
    else:
        notes += [f"{k} = {v!r}: the default (the file's [schedule] sets none)"
                  for k, v in (("name", schedule_name), ("steps", steps)) if k not in data["schedule"]]
    weights = data.get("prior", {}).get("weights")
    if isinstance(weights, list) and weights and all(isinstance(w, (int, float)) for w in weights):
        total = float(sum(weights))
        if abs(total - 1.0) > 1e-9:
            notes.append(f"prior weights normalised to sum to 1 (the file's sum to {total:g})")

    def gen(offset: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed + offset)

    prior = b.build_prior(tables["prior"], gen(0))
    _require_audit_memory(tables["prior"], n, prior.dim)
    op = b.build_operator(tables["operator"], prior.dim, gen(1))
    y, x_star = b.build_observation(tables["observation"], prior, op, sigma_y, gen(2))
    tables["observation"].finish()
    try:  # the problem's own checks name the field (a sigma_y whose square overflows or underflows)
        problem = InverseProblem(prior, op, sigma_y, y)
    except ValueError as exc:
        raise ScenarioError(f"{file}: {exc}") from None
    problem.x_star = x_star
    problem = problem.to(device)
    listed_y, listed_x = _listed_observations(b, file, data.get("observations"), op.out_dim, prior.dim)
    return Scenario(path.stem, description, problem, get_schedule(schedule_name), schedule_name, steps, n, seed,
                    path, tuple(notes), listed_y, listed_x)


def _listed_observations(b, file: str, table, m: int, d: int) -> tuple:
    """The ``[observations]`` table: ``y`` as a ``(J, m)`` tensor and ``x_star`` as ``(J, d)`` or None."""
    if table is None:
        return None, None
    if not isinstance(table, dict):
        b.Fields(file, "", {}).fail("observations", "an [observations] table", table)
    f = b.Fields(file, "observations", table)
    f.expect(("y", "x_star"))
    y = f.array("y", 2)
    if y.shape[1] != m or y.shape[0] < 2:
        f.fail("y", f"at least 2 rows of {m} values (the operator's output dimension)",
               b.Raw(f"{y.shape[0]} rows of {y.shape[1]}"))
    x = f.array("x_star", 2, None)
    if x is not None and x.shape != (y.shape[0], d):
        f.fail("x_star", f"{y.shape[0]} rows (one per y) of {d} values (the prior dimension)",
               b.Raw(f"{x.shape[0]} rows of {x.shape[1]}"))
    f.finish()
    return y, x
