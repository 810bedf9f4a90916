"""Sensitivity curves: every failure mode's effect as one sampler parameter varies.

A verdict at one setting judges the setting as much as the method. A curve shows how each
failure mode's effect moves with a parameter — the step count, DPS's ζ, DAPS's step size,
MCGdiff's particles, a DDIM η — next to two references on the same axes:

* the **floor**: the exact posterior denoiser under the sampler's own reverse step on the same
  grid (:mod:`samplerlab.floor`); it moves with ``steps`` (and ``eta``) only;
* the **exact band**: the range (5 %–95 %) of each effect over audits of exact posterior draws
  (the ``oracle`` control with exact transitions) at the same ``n`` and different seeds — where
  an effect lands when nothing is wrong.

:func:`vary` audits one sampler at each value (``steps`` sets the grid; anything else is a
sampler parameter) and returns one row per (value, check). :func:`exact_band` gives the band.
``python -m samplerlab.sensitivity`` computes the curves of every zoo sampler on the default
scenarios with Dask (``make sensitivity``) and writes ``results/sensitivity/``: ``curves.csv``,
``bands.csv`` and one figure per (sampler, parameter, scenario).

Example:
    >>> frame = vary("dps", "zeta", [0.3, 1.0], "bimodal_1d", n=200, checks=["spread"], floor=False)
    >>> sorted(set(frame.value)), sorted(set(frame.check))[:2]
    ([0.3, 1.0], ['location', 'spread_directions'])
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from samplerlab.diagnostics.result import MODE_CHECKS

__all__ = ["vary", "exact_band", "curve_rows", "DEFAULT_GRIDS", "DEFAULT_SCENARIOS", "MODE_CHECKS", "parse_vary",
           "study_tasks", "main"]


STEPS = [20, 50, 100, 200, 500, 1000]
# Per sampler: the parameter grids of its curves (every sampler also gets the step count).
DEFAULT_GRIDS = {
    "dps": {"zeta": [0.1, 0.3, 1.0, 3.0]},
    "pigdm": {"eta": [0.0, 0.5, 1.0]},
    "pigdm_reddiff": {"weight": [0.1, 0.3, 1.0]},
    "tmpd": {"eta": [0.0, 0.5, 1.0]},
    "ddrm": {"eta": [0.0, 0.5, 0.85, 1.0]},
    "mcgdiff": {"particles": [1, 4, 16, 64]},
    "fps": {"particles": [1, 5, 20]},
    "daps": {"lr": [0.05, 0.2, 0.5, 0.9]},
    "prior": {},
}
DEFAULT_SCENARIOS = ("bimodal_1d", "unequal_weights_2d", "outlier_2d", "prior_mode_ruled_out_2d", "grid_d8_m2",
                     "grid_particles_4d")


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
    ``params``). ``audit_kw`` go to :func:`samplerlab.pipeline.run` (``n``, ``seed``,
    ``alpha``, ``checks``, ``device``, ``steps``). The reports are appended to ``reports`` if given.
    """
    import pandas as pd

    from samplerlab.pipeline import as_scenario, run

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
    from samplerlab.pipeline import as_scenario

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

    from samplerlab.pipeline import run
    from samplerlab.samplers.oracle import Oracle

    rows = []
    for seed in range(seeds):
        report = run(Oracle(problem=scenario.problem), scenario, n=n, seed=1000 + seed, checks=checks,
                     device=device, name="exact")
        rows += curve_rows(report, seed=seed)
    return pd.DataFrame(rows)


# -- the study (make sensitivity) -------------------------------------------------------------

def _curve_task(sampler: str, param: str, values: list, scenario: str, n: int, seed: int) -> list[dict]:
    try:
        return vary(sampler, param, values, scenario, n=n, seed=seed).to_dict("records")
    except Exception as exc:  # recorded, the study goes on
        return [{"sampler": sampler, "scenario": scenario, "param": param, "error": f"{type(exc).__name__}: {exc}"}]


def _band_task(scenario: str, n: int, seeds: int) -> list[dict]:
    return exact_band(scenario, n, seeds=seeds).to_dict("records")


def study_tasks(samplers_, scenarios, n: int, seed: int, params=None) -> list[tuple]:
    """One task per (sampler, parameter, scenario): the whole curve, so its floors are shared."""
    tasks = []
    for scenario in scenarios:
        for name in samplers_:
            for param, values in {"steps": STEPS, **DEFAULT_GRIDS.get(name, {})}.items():
                if params is None or param in params:
                    tasks.append((name, param, values, scenario, n, seed))
    return tasks


def _merge(path: Path, new, keys: list[str]):
    """``new`` rows replace the rows of ``path`` (if it exists) that share their ``keys``."""
    import pandas as pd

    if not path.is_file() or new.empty:
        return new
    old = pd.read_csv(path)
    done = set(map(tuple, new[keys].astype(str).drop_duplicates().values))
    keep = old[[tuple(r) not in done for r in old[keys].astype(str).values]]
    return pd.concat([keep, new], ignore_index=True)


def main(argv=None) -> int:
    """``make sensitivity``: every zoo sampler's curves on the default scenarios, on Dask."""
    import pandas as pd

    from samplerlab.sensitivity_plots import plot_sensitivity
    from samplerlab.studies import run_tasks

    parser = argparse.ArgumentParser(prog="python -m samplerlab.sensitivity", description=main.__doc__)
    parser.add_argument("--out", default="results/sensitivity")
    parser.add_argument("--samplers", nargs="+", default=sorted(DEFAULT_GRIDS))
    parser.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--band-seeds", type=int, default=19)
    parser.add_argument("--params", nargs="+", default=None, help="only these parameters' curves (e.g. lr); "
                        "rows already in OUT/curves.csv for other curves are kept")
    parser.add_argument("--no-bands", action="store_true", help="keep OUT/bands.csv as it is")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [] if args.no_bands else [(_band_task, (s, args.n, args.band_seeds)) for s in args.scenarios]
    tasks += [(_curve_task, t) for t in study_tasks(args.samplers, args.scenarios, args.n, args.seed, args.params)]
    rows, bands = [], []
    for kind, result in run_tasks(_dispatch, tasks, workers=args.workers, scheduler=args.scheduler,
                                  label="sensitivity"):
        (bands if kind == "band" else rows).extend(result)
    curves = _merge(out / "curves.csv", pd.DataFrame(rows), ["sampler", "param", "scenario"])
    band = _merge(out / "bands.csv", pd.DataFrame(bands), ["scenario"]) if bands else pd.read_csv(out / "bands.csv")
    curves.to_csv(out / "curves.csv", index=False)
    band.to_csv(out / "bands.csv", index=False)
    written = plot_sensitivity(curves, band, out)
    print(f"wrote {out / 'curves.csv'}, {out / 'bands.csv'} and {len(written)} figures", file=sys.stderr)
    errors = curves[curves["error"].notna()] if "error" in curves else curves.iloc[:0]
    for r in errors.to_dict("records"):
        print(f"error: {r['sampler']} {r['param']} on {r['scenario']}: {r['error']}", file=sys.stderr)
    return 0


def _dispatch(fn, args) -> tuple[str, list[dict]]:
    return ("band" if fn is _band_task else "curve"), fn(*args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
