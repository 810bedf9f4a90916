"""The discretisation floor: the exact posterior denoiser run under a sampler's own discretisation.

A sampler's failures mix two errors: the approximation it makes of the noisy likelihood
``p(y | x_t)`` — what the audit is about — and the error of discretising the reverse process on
its grid, which even the exact posterior denoiser makes (a 100-step DDPM under-disperses by
about 20 % on the image scenarios whatever drives it). The floor separates them: the ``oracle``
control (exact noised-posterior Tweedie denoiser) run with the sampler's reverse step — DDIM
with the sampler's ``η`` (``sampler.floor_eta``; ``1`` = DDPM, ``0`` = probability-flow ODE,
``None`` = exact transitions, for samplers such as DAPS whose update is exact given exact
``x0 | x_t, y`` draws) — on the same grid, with the same ``n``, seed and checks. A sampler that
does not declare ``floor_eta`` is taken to be a DDPM (``η = 1``).

Each failing check of the sampler is then attributed (:attr:`CheckResult.attribution`):

* ``discretisation``: the floor fails it too, so the grid alone produces it (its effect is shown
  next to the sampler's, which may still be worse);
* ``approximation``: the floor passes it, so the failure is the sampler's approximation.

The floor's verdicts are its own Holm family; they never change the sampler's verdicts.

Example:
    >>> from samplerlab import samplers
    >>> floor_eta(samplers.get("dps")), floor_eta(samplers.get("ddrm")), floor_eta(samplers.get("daps"))
    (1.0, 0.85, None)
    >>> describe_floor(1.0), describe_floor(None)
    ('DDPM (η = 1)', 'exact reverse chain')
"""

from __future__ import annotations

from samplerlab.core.problem import InverseProblem

__all__ = ["floor_eta", "floor_sampler", "describe_floor", "attach_floor", "cached_floor"]

_CACHE: dict = {}
_CACHE_SIZE = 32


def floor_eta(sampler) -> float | None:
    """The DDIM ``η`` of ``sampler``'s reverse step (through wrappers with a ``.sampler``); 1.0 if undeclared."""
    from samplerlab.samplers import declared

    eta = declared(sampler, "floor_eta")
    return None if eta is None else float(eta)


def describe_floor(eta: float | None) -> str:
    """Readable name of a floor's discretisation."""
    if eta is None:
        return "exact reverse chain"
    if eta == 1.0:
        return "DDPM (η = 1)"
    if eta == 0.0:
        return "probability-flow ODE (DDIM η = 0)"
    return f"DDIM (η = {eta:g})"


def floor_sampler(problem: InverseProblem, eta: float | None):
    """The oracle with DDIM ``η`` (``None``: exact transitions) on ``problem``."""
    from samplerlab.samplers.oracle import Oracle

    return Oracle(problem=problem) if eta is None else Oracle(problem=problem, eta=eta)


def cached_floor(problem: InverseProblem, eta: float | None, run, key: tuple):
    """``run()`` (the floor's audit), cached per problem object, ``eta`` and audit settings ``key``.

    A suite audits several samplers that share a discretisation on one problem; their floor is
    computed once. The problem object itself is kept in the entry, so a recycled ``id`` never hits.
    """
    full = (id(problem), eta) + key
    hit = _CACHE.get(full)
    if hit is not None and hit[0] is problem:
        return hit[1]
    report = run()
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[full] = (problem, report)
    return report


def attach_floor(report, floor_report, eta: float | None) -> None:
    """Copy the floor's per-check verdict and effect onto ``report`` and summarise it in ``meta``."""
    by_name = {c.check: c for c in floor_report.checks}
    for c in report.checks:
        f = by_name.get(c.check)
        if f is None or not f.applicable:
            continue
        c.floor_passed = bool(f.passed) if f.role == "verdict" else None
        c.floor_effect = f.effect
    report.meta["floor"] = {
        "eta": eta, "discretisation": describe_floor(eta), "passed": floor_report.passed,
        "failure_modes": sorted(floor_report.failure_modes), "sampler_s": floor_report.meta.get("sampler_s"),
        "failing_checks": [c.check for c in floor_report.failing()],
    }
