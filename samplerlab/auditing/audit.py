"""``audit``: run a sampler on an inverse problem and judge its samples against the exact truth.

Flow: run the sampler once (recording ``x_t`` through the observer when the
time-resolved check is selected), validate its output, evaluate the shared exact quantities
once, run the selected diagnostics (each a pure function of samples and truth), re-run the
sampler on truncated grids for the stop-time sweep — or, for a sampler that declares
``stop_from_notify`` (every zoo sampler but the two particle filters), read those outputs off the
main run as ``task.denoise`` of the ``x_t`` it notified at each stop time, which is the
truncated run's output bit for bit —, and set verdicts by Holm at family-wise
``alpha``. Every random choice is seeded from ``seed``: the same seed gives the same report
(up to the wall-clock costs). A sampler that raises or returns non-finite values, the wrong
shape, dtype or device stops the audit with :class:`~samplerlab.errors.SamplerError`, whose
``partial_report`` keeps the checks already computed.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.5, 0.5]), Identity(1), 1.0, [1.0])
    >>> exact = lambda task, n, g: problem.posterior().sample(n, generator=g)
    >>> report = audit(exact, problem, n=500, checks=["spread", "mode_weights"], name="exact")
    >>> report.passed, list(report.to_frame().check)
    (True, ['spread_radius', 'spread_directions', 'spread_pit', 'location', 'mode_weights'])
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from samplerlab.auditing.floor import attach_floor, cached_floor, floor_eta, floor_sampler
from samplerlab.auditing.guard import changed, problem_state, restore, seeded_globals
from samplerlab.auditing.report import Report
from samplerlab.auditing.settings import AuditSettings
from samplerlab.core.interrupts import SamplerTimeout, ctrl_c_pressed
from samplerlab.core.problem import InverseProblem
from samplerlab.core.schedules import VPLinear
from samplerlab.diagnostics import registry
from samplerlab.diagnostics.check import Inputs
from samplerlab.diagnostics.early_stopping import default_stops
from samplerlab.diagnostics.result import CheckResult
from samplerlab.diagnostics.truth import Truth, generator
from samplerlab.diagnostics.verdicts import holm
from samplerlab.errors import SamplerError
from samplerlab.samplers import declared

__all__ = ["audit", "CHECKS"]

CHECKS = registry.names()  # every registered check (:mod:`samplerlab.diagnostics.registry`)
# The order checks run in: on the output first, then on what the run recorded, then on the stopped outputs.
_PHASE = {"output": 0, "trajectory": 1, "guidance": 1, "stops": 2}


def _sampler_name(sampler, name) -> str:
    if name is not None:
        return str(name)
    for attr in ("name", "__name__"):
        if isinstance(getattr(sampler, attr, None), str):
            return getattr(sampler, attr)
    return type(sampler).__name__.lower()


class _Recorder:
    """Observer keeping ``x_t`` (and the sampler's reported guidance, when asked) at chosen grid times."""

    def __init__(self, times: set[float], guidance_times: set[float] = frozenset()):
        self.times, self.records, self.guidance, self.covs = times, {}, {}, {}
        self.wants_guidance = self.wants_likelihood_cov = bool(guidance_times)
        self.guidance_times = guidance_times  # the sampler computes its guidance only where it is used

    def __call__(self, t, x_t, x0_hat, guidance=None, likelihood_cov=None) -> None:
        if float(t) in self.times:
            self.records[float(t)] = x_t.detach().clone()
            if guidance is not None:
                self.guidance[float(t)] = guidance.detach().clone()
            if likelihood_cov is not None:
                self.covs[float(t)] = likelihood_cov.detach().clone()


def _run(sampler, task, n: int, seed: int, name: str, where: str, partial: Report, problem=None):
    """Run the sampler once and validate what it returns; ``(samples, seconds)``.

    The run is guarded (:mod:`samplerlab.auditing.guard`): the problem must be unchanged after it, and the
    global RNGs are seeded from ``seed`` and watched; those the sampler drew from are added to
    ``partial.meta["global_rng"]``.
    """
    before = None if problem is None else problem_state(problem, task)
    start = time.perf_counter()
    try:
        with seeded_globals(seed, task.device) as used:
            x = sampler(task, n, generator(seed, "sampler", task.device))
    except Exception as exc:
        raise SamplerError(f"sampler {name!r} raised {type(exc).__name__} on {where}: {exc}", partial) from exc
    except SamplerTimeout as exc:  # samplerlab score --timeout
        raise SamplerError(f"sampler {name!r} stopped on {where}: {exc}", partial) from None
    except (SystemExit, KeyboardInterrupt) as exc:  # sys.exit() or a raise in the sampler: never a pass
        if isinstance(exc, KeyboardInterrupt) and ctrl_c_pressed():
            raise  # a real Ctrl-C stops the audit
        raise SamplerError(f"sampler {name!r} raised {type(exc).__name__}"
                           f"{f'({exc.code!r})' if isinstance(exc, SystemExit) else ''} on {where} instead of "
                           "returning its samples", partial) from None
    if used:
        partial.meta["global_rng"] = sorted(set(partial.meta.get("global_rng", [])) | set(used))
    if before is not None:
        touched = changed(problem, before, task)
        if touched:
            restore(problem, before, task)
            raise SamplerError(f"sampler {name!r} modified {' and '.join(touched)} in place on {where}; a "
                               "sampler must not write into the task it is given", partial)
    seconds = time.perf_counter() - start
    d = task.dim
    if not isinstance(x, torch.Tensor):
        raise SamplerError(f"sampler {name!r} returned {type(x).__name__}, expected a Tensor, on {where}", partial)
    if tuple(x.shape) != (n, d):
        raise SamplerError(f"sampler {name!r} returned shape {tuple(x.shape)}, expected ({n}, {d}), on {where}",
                           partial)
    if x.dtype != task.dtype:
        raise SamplerError(f"sampler {name!r} returned dtype {x.dtype}, expected {task.dtype}, on {where}", partial)
    if x.device != task.device:
        raise SamplerError(f"sampler {name!r} returned device {x.device}, expected {task.device}, on {where}",
                           partial)
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise SamplerError(f"sampler {name!r} returned {bad} non-finite values in {n}×{d} samples on {where}",
                           partial)
    return x.detach().clone(), seconds  # its own copy: a sampler returning a view of its buffer may reuse it


def _timed(fn, *args) -> tuple[list[CheckResult], float]:
    start = time.perf_counter()
    out = fn(*args)
    out = out if isinstance(out, list) else [out]
    seconds = time.perf_counter() - start
    for c in out:
        c.cost_s = seconds / len(out)
    return out, seconds


def audit(sampler, problem: InverseProblem, settings: AuditSettings | None = None, *, name: str | None = None,
          scenario: str | None = None, **overrides) -> Report:
    """Audit ``sampler(task, n, generator)`` on ``problem`` under ``settings``
    (:class:`~samplerlab.auditing.settings.AuditSettings`; keywords override single settings, e.g.
    ``n=500``); see the module doc.

    Args:
        settings: ``checks`` are names of registered checks or their aliases — a failure mode
            selects every check that carries it (``"location"``: spread, tested from the same pairs;
            ``"early_stopping"``), ``"why"`` the likelihood check
            (:func:`~samplerlab.diagnostics.registry.select`); ``None`` runs all. The stop sweep and
            the stop-time profile read the main run for samplers that declare ``stop_from_notify``,
            else re-run the sampler once per stop. ``t_stops`` ``None``: where the schedule's noise
            level ``σ/α`` reaches 0.05, 0.15, 0.35, 0.7
            (:func:`~samplerlab.diagnostics.early_stopping.default_stops`). ``floor``: also audit the
            discretisation floor (:mod:`samplerlab.auditing.floor`) — ``True``: under the sampler's own
            DDIM ``η`` (``sampler.floor_eta``, 1 if undeclared); a number: that ``η``. Each failing
            check is then attributed to discretisation or approximation.
        name: the sampler's name in the report (default: its ``name`` or class).
        scenario: a name recorded in the report's metadata.
    """
    settings = (settings or AuditSettings()).given(**overrides)
    n, seed, alpha, checks, steps = settings.n, settings.seed, settings.alpha, settings.checks, settings.steps
    floor, record, notes = settings.floor, settings.record, settings.notes
    selected = registry.select(checks)
    specs = sorted((registry.get(c) for c in selected), key=lambda c: (_PHASE[c.needs], c.order))
    needs = {c.needs for c in specs}
    want_floor = floor is not False and floor is not None
    eta = _floor_eta(floor, sampler) if want_floor else None
    problem = problem.to(settings.device)
    schedule = settings.schedule or VPLinear()
    t_stops = default_stops(schedule) if settings.t_stops is None else tuple(settings.t_stops)
    name = _sampler_name(sampler, name)
    where = f"scenario {scenario!r}" if scenario else f"problem d={problem.dim}, m={problem.operator.out_dim}"
    meta = {"sampler": name, "scenario": scenario, "n": n, "seed": seed, "alpha": alpha, "dim": problem.dim,
            "m": problem.operator.out_dim, "steps": steps, "schedule": repr(schedule), "checks": selected,
            "device": str(problem.y.device), "notes": list(notes), **_environment(problem.y.device)}
    report = Report(meta, [])
    task = problem.task(schedule=schedule, steps=steps)
    # Stop-time sweep grids: each t_stop snapped down to the grid (the last grid time >= t_stop).
    stops = {t_stop: task.timesteps[task.timesteps >= t_stop - 1e-12] for t_stop in t_stops}
    sweeping = [c for c in specs if c.needs == "stops"]
    from_run = bool(sweeping) and bool(declared(sampler, "stop_from_notify"))
    trajectory_times: set[float] = set()
    if needs & {"trajectory", "guidance"}:
        idx = torch.linspace(0, steps - 1, max(record, 1)).round().long().unique()
        trajectory_times = {float(task.timesteps[i]) for i in idx.tolist()}
    recorder = None
    if trajectory_times or from_run:
        stop_times = {float(g[-1]) for g in stops.values()} if from_run else set()
        recorder = _Recorder(trajectory_times | stop_times, trajectory_times if "guidance" in needs else frozenset())
        task = task.with_observer(recorder)
    x, meta["sampler_s"] = _run(sampler, task, n, seed, name, where, report, problem)
    report.samples = x

    start = time.perf_counter()
    truth = Truth.get(problem, n, seed)
    ev = truth.evaluate(x)
    meta["truth_s"] = time.perf_counter() - start
    records = {} if recorder is None else {t: v for t, v in recorder.records.items() if t in trajectory_times}
    inputs = Inputs(x, truth, ev, schedule, alpha, records=records,
                    guidance={} if recorder is None else recorder.guidance,
                    covs={} if recorder is None else recorder.covs)
    for spec in specs:
        if spec.needs != "stops":
            report.checks += _timed(spec.run, inputs)[0]
    if sweeping:
        holm(report.checks, alpha)  # a partial report, should a truncated run fail, has verdicts
        outputs, sampler_s, reran = {0.0: x}, 0.0, 0
        start = time.perf_counter()
        for t_stop, grid in stops.items():
            t_end = float(grid[-1])
            if from_run and t_end in recorder.records:
                # The declared contract: the truncated run's output is the denoised x_t of the main run.
                outputs[t_end] = task.denoise(recorder.records[t_end], grid[-1]).detach()
                continue
            sub = task.with_timesteps(grid).with_observer(None)
            outputs[t_end], seconds = _run(sampler, sub, n, seed, name, f"{where} (t_stop {t_stop:g})", report,
                                           problem)
            sampler_s, reran = sampler_s + seconds, reran + 1
        read_s = time.perf_counter() - start - sampler_s
        meta["stop_sweep"] = ("re-runs" if reran == len(stops) else "read off the main run" if reran == 0
                         else f"read off the main run ({reran} of {len(stops)} re-run)")
        stopped = Inputs(x, truth, ev, schedule, alpha, outputs=outputs)
        result = [c for spec in sweeping for c in _timed(spec.run, stopped)[0]]
        result[0].sampler_s = sampler_s  # the re-runs and the read-off are charged to the first of them
        result[0].cost_s += read_s
        report.checks += result
    meta["diagnostics_s"] = meta["truth_s"] + sum(c.cost_s for c in report.checks)
    holm(report.checks, alpha)
    if want_floor:
        # the floor's audit: these settings on the same (moved) problem, without a floor or notes of its own
        own = replace(settings, checks=tuple(selected), schedule=schedule, t_stops=tuple(t_stops), floor=False,
                      device=None, notes=())
        key = own.key + (("scenario", scenario),)
        floor_report = cached_floor(problem, eta, (lambda: report) if _own_floor(sampler, problem, eta) else
                                    lambda: audit(floor_sampler(problem, eta), problem, own, name="floor",
                                                  scenario=scenario), key)
        attach_floor(report, floor_report, eta)
    _link_symptoms(report)
    return report


def _link_symptoms(report: Report) -> None:
    """Name, in the likelihood check's message, the failures that follow a departing guidance."""
    try:
        why = report["likelihood_approximation"]
    except KeyError:
        return
    modes = sorted({c.failure_mode for c in report.failing() if c.attribution != "discretisation"})
    if why.applicable and why.data.get("t_depart") is not None and modes:
        why.detail += f" → failures at t = 0: {', '.join(modes)}"


def _environment(device) -> dict:
    """Versions and the device's name, for the report's metadata."""
    import platform

    import numpy as np

    import samplerlab

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"versions": {"samplerlab": samplerlab.__version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": platform.python_version()}, "device_name": name}


def _own_floor(sampler, problem: InverseProblem, eta: float | None) -> bool:
    """The oracle on this very problem with this ``η`` is its own floor: the floor's audit would
    repeat this one draw for draw (same sampler, seed, grid and checks), so its report is the
    floor, cached for the samplers that share the discretisation (DAPS and the exact chain)."""
    from samplerlab.samplers.oracle import Oracle

    return isinstance(sampler, Oracle) and sampler.problem is problem and sampler.eta == eta


def _floor_eta(floor, sampler) -> float | None:
    """The floor's DDIM ``η``: the sampler's own for ``True``, else the number given (validated by the settings)."""
    return floor_eta(sampler) if floor is True else float(floor)
