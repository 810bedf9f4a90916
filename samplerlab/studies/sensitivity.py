"""Sensitivity curves: every failure mode's effect as one sampler parameter varies.

A verdict at one setting judges the setting as much as the method. A curve shows how each
failure mode's effect moves with a parameter — the step count, DPS's ζ, DAPS's step size,
MCGdiff's particles, a DDIM η — next to two references on the same axes:

* the **floor**: the exact posterior denoiser under the sampler's own reverse step on the same
  grid (:mod:`samplerlab.auditing.floor`); it moves with ``steps`` (and ``eta``) only;
* the **exact band**: the range (5 %–95 %) of each effect over audits of exact posterior draws
  (the ``oracle`` control with exact transitions) at the same ``n`` and different seeds — where
  an effect lands when nothing is wrong.

:func:`vary` audits one sampler at each value (``steps`` sets the grid; anything else is a
sampler parameter) and returns one row per (value, check). :func:`exact_band` gives the band.
The study over every zoo sampler is the sweep ``sweeps/sensitivity.toml`` (``make sensitivity``:
one ``[[block]]`` per sampler and parameter, and the exact band's oracle audits as ``vary =
"band"``); ``samplerlab sweep report`` writes ``results/sensitivity/``: ``curves.csv``,
``bands.csv`` and one figure per (sampler, parameter) (:mod:`samplerlab.studies.sweep_report`).

Example:
    >>> frame = vary("dps", "zeta", [0.3, 1.0], "bimodal_1d", n=200, checks=["spread"], floor=False)
    >>> sorted(set(frame.value)), sorted(set(frame.check))[:2]
    ([0.3, 1.0], ['location', 'spread_directions'])
"""

from __future__ import annotations

from samplerlab.diagnostics.registry import MODE_CHECKS

__all__ = ["vary", "exact_band", "curve_rows", "MODE_CHECKS", "parse_vary"]


def parse_vary(text: str) -> tuple[str, list]:
    """``"zeta=0.1,0.3,1"`` → ``("zeta", [0.1, 0.3, 1])`` (Python literals, else strings).

    >>> parse_vary("steps=50,200"), parse_vary("variant=ode,ddpm")
    (('steps', [50, 200]), ('variant', ['ode', 'ddpm']))
    """
    import ast

    name, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name.isidentifier() or not items:
        raise ValueError(f"--vary: expected PARAM=v1,v2,…, got {text!r}")
    out = []
    for v in items:
        try:
            out.append(ast.literal_eval(v))
        except (ValueError, SyntaxError):
            out.append(v)
    if name == "steps" and not all(isinstance(v, int) and v > 0 for v in out):
        raise ValueError(f"--vary: steps must be positive integers, got {values!r}")
    return name, out


def curve_rows(report, **keys) -> list[dict]:
    """One row per check of ``report``, with ``keys`` (sampler, scenario, param, value) prepended."""
    return [{**keys, "check": c.check, "failure_mode": c.failure_mode, "role": c.role, "applicable": c.applicable,
             "effect": c.effect, "p_value": c.p_value, "p_holm": c.p_holm, "passed": c.passed,
             "floor_effect": c.floor_effect, "floor_passed": c.floor_passed, "attribution": c.attribution,
             "floor_eta": (report.meta.get("floor") or {}).get("eta"), "steps": report.meta.get("steps"),
             "n": report.meta.get("n")}
            for c in report.checks]


def vary(sampler: str, param: str, values, scenario, params: dict | None = None, floor: bool = True,
         reports: list | None = None, **audit_kw):
    """Audit ``sampler`` at each of ``values`` of ``param`` on ``scenario``; a pandas frame of checks.

    ``param == "steps"`` sets the grid size; any other name is a sampler parameter (on top of
    ``params``). ``audit_kw`` go to :func:`samplerlab.auditing.pipeline.run` (``n``, ``seed``,
    ``alpha``, ``checks``, ``device``, ``steps``). The reports are appended to ``reports`` if given.
    """
    import pandas as pd

    from samplerlab.auditing.pipeline import as_scenario, run

    scenario = as_scenario(scenario, audit_kw.get("device"))
    rows = []
    for value in values:
        kw, sampler_params = dict(audit_kw), dict(params or {})
        if param == "steps":
            kw["steps"] = value
        else:
            sampler_params[param] = value
        report = run(sampler, scenario, params=sampler_params, floor=floor, **kw)
        if reports is not None:
            reports.append(report)
        rows += curve_rows(report, sampler=report.meta["sampler"], scenario=scenario.name, param=param, value=value)
    return pd.DataFrame(rows)


def exact_band(scenario, n: int, seeds: int = 19, checks=None, device=None, quantiles=(0.05, 0.95)):
    """Per check, the ``quantiles`` of its effect over ``seeds`` audits of exact posterior draws."""
    from samplerlab.auditing.pipeline import as_scenario

    scenario = as_scenario(scenario, device)
    frame = _band_frame(scenario, n, seeds, checks, device)
    q = frame.groupby("check")["effect"].quantile(list(quantiles)).unstack()
    q.columns = ["low", "high"]
    out = q.reset_index()
    out.insert(0, "scenario", scenario.name)
    out["n"] = n
    return out


def _band_frame(scenario, n, seeds, checks, device):
    import pandas as pd

    from samplerlab.auditing.pipeline import run
    from samplerlab.samplers.oracle import Oracle

    rows = []
    for seed in range(seeds):
        report = run(Oracle(problem=scenario.problem), scenario, n=n, seed=1000 + seed, checks=checks,
                     device=device, name="exact")
        rows += curve_rows(report, seed=seed)
    return pd.DataFrame(rows)
