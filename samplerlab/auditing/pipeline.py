"""The one pipeline: resolve a sampler and a scenario, audit, return the report with its samples.

Every surface goes through :func:`run` — the CLI's ``score`` and ``suite``, the pytest fixture,
the sweep runner (and through it the studies), the image and medical suites — so a scenario's
defaults, the notes on settings that differ from them, parameter handling and the sampler
guards are the same wherever an audit starts. It is the only caller of
:func:`samplerlab.auditing.audit.audit` outside the audit itself.

``sampler`` is a zoo name, ``module:attr``, ``path/to/file.py:attr``, a factory with ``params``,
or a callable ``sampler(task, n, generator)``. ``scenario`` is a shipped scenario's name, a path
to a scenario file, a loaded :class:`~samplerlab.scenarios.Scenario`, or an
:class:`~samplerlab.core.problem.InverseProblem` (then the audit's own defaults apply: n = 2000,
1000 steps of ``vp_linear``). Options the caller sets to ``None`` mean "the scenario's default".
The main run's samples come back as ``report.samples`` (in memory only; the JSON has none).

Example:
    >>> report = run("oracle", "bimodal_1d", n=200, steps=20, checks=["spread"])
    >>> report.meta["sampler"], report.meta["scenario"], tuple(report.samples.shape)
    ('oracle', 'bimodal_1d', (200, 1))
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from samplerlab.auditing.report import Report
from samplerlab.auditing.settings import AuditSettings, for_scenario

__all__ = ["run", "as_scenario", "provenance", "scenario_hash"]


_LOADED: dict = {}  # (file, modification time, device) -> Scenario: a process loads each scenario once
_MAX_LOADED = 8


def _family(name: str):
    """A validation family (:mod:`samplerlab.scenarios.validation_families`) as a scenario: its problem, schedule
    and grid."""
    from samplerlab.errors import ScenarioError
    from samplerlab.scenarios import Scenario
    from samplerlab.scenarios.validation_families import FAMILIES, build

    if name not in FAMILIES:
        raise ScenarioError(f"family:{name}: unknown family, expected one of {', '.join(sorted(FAMILIES))}")
    problem, schedule, steps = build(name)
    return Scenario(name, FAMILIES[name].description, problem, schedule, type(schedule).__name__.lower(), steps,
                    2000, 0, None)


def as_scenario(scenario, device=None):
    """A :class:`~samplerlab.scenarios.Scenario` for a name, a path, ``family:NAME`` or a loaded
    scenario (``None`` for an :class:`~samplerlab.core.problem.InverseProblem`, which has no scenario).

    References are loaded once per process (a file is read again when it changes), so that
    repeated audits of one scenario — a sweep's cells on a worker — share its problem, and with
    it the exact truth and the discretisation floor cached for that problem.
    """
    from samplerlab.core.problem import InverseProblem
    from samplerlab.scenarios import Scenario, load_scenario, scenario_path

    if isinstance(scenario, InverseProblem):
        return None
    if isinstance(scenario, Scenario):
        return scenario
    text = str(scenario)
    if text.startswith("family:"):
        key = (text, None, str(device))
    else:
        path = scenario_path(text)
        key = (str(path.resolve()), path.stat().st_mtime_ns, str(device))
    if key not in _LOADED:
        if len(_LOADED) >= _MAX_LOADED:
            _LOADED.pop(next(iter(_LOADED)))
        loaded = _family(text[len("family:"):]) if text.startswith("family:") else load_scenario(text, device=device)
        if text.startswith("family:") and device is not None:
            from dataclasses import replace

            loaded = replace(loaded, problem=loaded.problem.to(device))
        _LOADED[key] = loaded
    return _LOADED[key]


def _audit_control(sampler, problem, params, settings, name: str, scenario: str | None, report: Report) -> None:
    """Audit the prior-complexity control (:mod:`samplerlab.auditing.control`) with the audit's settings
    and attach it to ``report``; a control the sampler fails to run on is recorded, not raised."""
    from samplerlab.auditing.audit import audit
    from samplerlab.auditing.control import attach_control, cached_control_problem
    from samplerlab.auditing.sampler_ref import resolve_sampler
    from samplerlab.errors import SamplerError

    if problem.prior.n_components == 1:
        report.meta["control"] = {"skipped": "the prior is a single Gaussian: the audit is its own control"}
        return
    control, info = cached_control_problem(problem)
    built, _ = resolve_sampler(sampler, problem=control, params=params)
    where = f"{scenario} (control)" if scenario else "control"
    try:
        control_report = audit(built, control, replace(settings, floor=False, notes=()), name=f"{name} (control)",
                               scenario=where)
    except SamplerError as exc:
        report.meta["control"] = {**info, "error": " ".join(str(exc).split())}
        return
    attach_control(report, control_report, info)


def run(sampler, scenario, *, params: dict | None = None, device=None, control: bool = False,
        **options) -> Report:
    """Audit ``sampler`` on ``scenario`` (see the module doc); ``options`` are
    :class:`~samplerlab.auditing.settings.AuditSettings` fields over the scenario's defaults (``n``,
    ``steps``, ``seed``, ``alpha``, ``checks``, ``floor``, ``schedule``, ``t_stops``, ``record``,
    ``notes``; ``None``: the scenario's) and ``name``. ``control=True`` also audits the
    prior-complexity control (:mod:`samplerlab.auditing.control`: the same sampler with the prior cut down
    to the prior component of the posterior's dominant mode), which attributes each failure to the
    method (fails on a single Gaussian too) or to the mixture prior.

    Raises:
        ScenarioError, SamplerRefError: bad references (one line naming the input).
        SamplerError: the sampler raised or returned unusable output (with the partial report).
        ValueError: bad audit options (an unknown check, n < 20, α outside (0, 1)).
    """
    import torch

    from samplerlab.auditing.audit import audit
    from samplerlab.auditing.sampler_ref import resolve

    loaded = as_scenario(scenario, device)
    problem = scenario if loaded is None else loaded.problem
    resolved = resolve(sampler, problem=problem, params=params)
    name = options.pop("name", None) or resolved.name
    # the scenario's defaults, then the caller's settings: one place, which notes what differs
    base = AuditSettings() if loaded is None else for_scenario(loaded)
    settings = base.given(device=device, **options)
    where = None if loaded is None else loaded.name
    report = audit(resolved.sampler, problem, settings, name=name, scenario=where)
    report.meta["params"] = resolved.params
    report.meta["threads"] = torch.get_num_threads()
    report.meta["provenance"] = provenance(sampler, resolved, scenario, loaded, problem, params)
    if control:
        _audit_control(sampler, problem, params, settings, name, where, report)
    return report


def scenario_hash(scenario, loaded, problem) -> str:
    """The content hash of what was audited: the scenario file's bytes; for a validation family
    (built by samplerlab's code, which :func:`samplerlab.core.provenance.code_hash` covers) its name;
    for a bare problem the prior, the exact posterior, ``y`` and ``σ_y``."""
    import hashlib

    from samplerlab.core.provenance import file_hash, text_hash
    from samplerlab.diagnostics.cache import posterior_fingerprint

    if loaded is not None and str(scenario).startswith("family:"):
        return text_hash(str(scenario))
    if loaded is not None and loaded.path is not None and Path(loaded.path).is_file():
        return file_hash(loaded.path)
    h = hashlib.blake2b(digest_size=10)
    prior = problem.prior
    for t in (prior.log_weights, prior.means, *(getattr(prior.cov_factors, a, None) for a in ("lam", "basis")),
              problem.y):
        if t is not None:
            h.update(t.detach().contiguous().cpu().numpy().tobytes())
    h.update(f"{posterior_fingerprint(problem)}|{problem.sigma_y!r}|{type(problem.operator).__name__}".encode())
    return h.hexdigest()


def provenance(ref, resolved, scenario, loaded, problem, given: dict | None = None) -> dict:
    """What decided this audit besides its settings (which ``meta`` holds already): the sampler
    reference, the parameters it was given (``meta["params"]`` has them with every default), its
    source's hash, the scenario's content hash, samplerlab's code hash, the dtype and the command
    line."""
    from samplerlab.core.provenance import code_hash, command_line, json_safe

    return {"sampler_ref": ref if isinstance(ref, str) else resolved.name, "sampler_source": resolved.source,
            "params_given": json_safe(dict(given or {})),
            "scenario_ref": str(scenario) if loaded is not None else None,
            "scenario_hash": scenario_hash(scenario, loaded, problem), "code_hash": code_hash(),
            "dtype": str(problem.prior.means.dtype).removeprefix("torch."), "argv": command_line()}
