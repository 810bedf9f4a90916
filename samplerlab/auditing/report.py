"""The audit report: checks with Holm verdicts, metadata, and renderings that compute nothing.

Example:
    >>> from samplerlab.diagnostics.result import CheckResult
    >>> c = CheckResult("spread_radius", "spread", statistic=0.5, effect=0.71, p_value=3e-9, passed=False,
    ...                 detail="under-dispersed: within-mode spread 0.71× exact (p = 3.0e-09)")
    >>> r = Report({"sampler": "dps", "scenario": "grid", "n": 2000, "seed": 0, "alpha": 1e-3}, [c])
    >>> r.passed, sorted(r.failure_modes)
    (False, ['spread'])
    >>> print(r.summary().splitlines()[1])
      ✗ spread: under-dispersed: within-mode spread 0.71× exact (p = 3.0e-09)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from samplerlab.diagnostics.result import CheckResult, p_eq

__all__ = ["Report"]

COLUMNS = ["check", "failure_mode", "statistic", "effect", "p_value", "p_holm", "passed", "applicable",
           "role", "cost_s", "sampler_s", "floor_passed", "floor_effect", "attribution", "detail"]


@dataclass
class Report:
    """Outcome of :func:`samplerlab.audit`: ``meta`` (sampler, scenario, n, seed, alpha, dim, steps, …),
    one :class:`CheckResult` per check (``data`` on each holds what plots need) and, for a report
    just computed, the sampler's main-run ``samples`` (kept in memory for plots; not serialised)."""

    meta: dict
    checks: list[CheckResult] = field(default_factory=list)
    samples: object = field(default=None, repr=False, compare=False)  # the main run's output (not in the JSON)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failure_modes(self) -> set[str]:
        return {c.failure_mode for c in self.checks if not c.passed}

    def failing(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, check: str) -> CheckResult:
        for c in self.checks:
            if c.check == check:
                return c
        raise KeyError(check)

    # -- renderings ------------------------------------------------------------------------
    def to_frame(self):
        """pandas DataFrame, one row per check."""
        import pandas as pd

        return pd.DataFrame([{k: getattr(c, k) for k in COLUMNS} for c in self.checks], columns=COLUMNS)

    def to_dict(self) -> dict:
        return {"meta": self.meta, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        return cls(dict(d["meta"]), [CheckResult.from_dict(c) for c in d["checks"]])

    def to_json(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_json(cls, path) -> "Report":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def without_timings(self) -> "Report":
        """The same report with wall-clock costs zeroed (the only fields a fixed seed does not fix)."""
        meta = {k: v for k, v in self.meta.items() if not k.endswith("_s")}
        return Report(meta, [replace(c, cost_s=0.0, sampler_s=0.0) for c in self.checks])

    def _title(self) -> str:
        m = self.meta
        where = f" on {m['scenario']!r}" if m.get("scenario") else ""
        over = f" over {m['observations']} observations y ~ p(y)" if m.get("across_observations") else ""
        return (f"sampler {m.get('sampler')!r}{where}{over} (n = {m.get('n')}, seed = {m.get('seed')}, "
                f"α = {m.get('alpha')})")

    def _provenance_line(self) -> list[str]:
        """What was audited: the parameters (defaults included) and the content hashes."""
        prov, params = self.meta.get("provenance"), self.meta.get("params")
        if not prov:
            return []
        settings = ", ".join(f"{k}={v!r}" for k, v in params.items()) if params else "no parameters"
        source = (prov.get("sampler_source") or {}).get("hash") or "unreadable"
        return [f"  audited: {prov.get('sampler_ref')} ({settings}); source {source}, scenario "
                f"{prov.get('scenario_hash')}, samplerlab {self.meta.get('versions', {}).get('samplerlab')} "
                f"({prov.get('code_hash')}), {self.meta.get('steps')} steps, {prov.get('dtype')}, "
                f"{self.meta.get('threads')} thread(s)"]

    def _floor_line(self) -> list[str]:
        f = self.meta.get("floor")
        if not f:
            return []
        outcome = ("passes every check" if f.get("passed") else
                   "fails " + ", ".join(f.get("failure_modes", [])) + " (discretisation error of this grid)")
        return [f"  floor — exact posterior denoiser, {f.get('discretisation')}, "
                f"{self.meta.get('steps')} steps: {outcome}"]

    def _control_line(self) -> list[str]:
        ctl = self.meta.get("control")
        if not ctl:
            return []
        if "skipped" in ctl:
            return [f"  control — {ctl['skipped']}"]
        chosen = (f"prior cut to component {ctl['component']} of {ctl['components']}, the posterior's dominant "
                  f"mode (weight {ctl['posterior_weight']:.3g}; {ctl['modes']} components above 1e-3)")
        if "error" in ctl:
            return [f"  control — {chosen}: not audited ({ctl['error']})"]
        outcome = "passes every check" if ctl["passed"] else "fails " + ", ".join(ctl["failure_modes"])
        return [f"  control — {chosen}: {outcome}"]

    @staticmethod
    def _why(c: CheckResult) -> str:
        tags = []
        if c.attribution == "discretisation":
            tags.append(f"the floor fails it too, effect {c.floor_effect:.3g}: discretisation")
        if c.attribution == "approximation":
            floor = "" if c.floor_effect is None else f" (the floor passes it, effect {c.floor_effect:.3g})"
            tags.append(f"beyond the floor{floor}: approximation")
        if c.control_attribution == "single_gaussian":
            tags.append(f"fails on a single Gaussian too, effect {c.control_effect:.3g}")
        elif c.control_attribution == "mixture":
            tags.append("only with the mixture prior" + ("" if c.control_effect is None
                                                        else f" (single Gaussian: {c.control_effect:.3g})"))
        return f" [{'; '.join(tags)}]" if tags else ""

    def summary(self) -> str:
        """Plain text a person reads in ten seconds: verdict, then one line per failure."""
        modes = ", ".join(sorted(self.failure_modes))
        lines = [("PASSED " if self.passed else f"FAILED [{modes}] ") + self._title()]
        lines += self._provenance_line()
        lines += self._floor_line()
        lines += self._control_line()
        lines += [f"  note: {note}" for note in self.meta.get("notes") or []]
        if self.meta.get("global_rng"):
            lines.append(f"  ⚠ the sampler drew from the global {' and '.join(self.meta['global_rng'])} RNG: the "
                         "audit seeded it, but pass the generator to every draw for a reproducible sampler")
        lines += [f"  ✗ {c.failure_mode}: {c.detail}{self._why(c)}" for c in self.failing()]
        ok = [c for c in self.checks if c.passed and c.applicable and c.role == "verdict"]
        if ok:
            lines.append(f"  ✓ {len(ok)} checks passed: " + ", ".join(c.check for c in ok))
        lines += [f"  · {c.check}: {c.detail}" for c in self.checks if c.role == "info" and c.applicable]
        lines += [f"  – {c.check}: {c.detail}" for c in self.checks if not c.applicable]
        return "\n".join(lines)

    def beyond_floor(self) -> list[CheckResult]:
        """Failing checks not explained by the discretisation floor (all failures if no floor was run)."""
        return [c for c in self.failing() if c.attribution != "discretisation"]

    def assert_ok(self, beyond_floor: bool = False) -> None:
        """Raise ``AssertionError`` naming each failing failure mode with effect size and p-value.

        ``beyond_floor=True`` (needs an audit run with ``floor=True``) raises only for failures the
        discretisation floor passes: the sampler's approximation, not its grid.
        """
        failing = self.beyond_floor() if beyond_floor else self.failing()
        if not failing:
            return
        parts = [f"{c.failure_mode} ({c.check}: effect {c.effect:.3g}, {p_eq(c.p_value)}, "
                 f"{p_eq(c.p_holm, 'Holm p')}): {c.detail}{self._why(c)}" for c in failing]
        raise AssertionError(f"{self._title()} failed: " + "; ".join(parts))
