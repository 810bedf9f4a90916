"""Audits over many observations: what a sampler does for ``y ∼ p(y)``, not for one ``y``.

``audit_observations(sampler, scenario, observations=K)`` draws ``x*_j`` from the scenario's prior
and ``y_j = A x*_j + σ_y ε_j`` (seeded), audits the sampler on each ``y_j`` (same operator, noise
level, schedule and settings; observation ``j``'s sampler seed is derived from the audit seed and
``j``), and adds three checks that only many observations can make — each exact under a correct
sampler, because ``x*_j`` is then one more exact posterior draw beside the sampler's
(:mod:`samplerlab.diagnostics.coverage`):

* ``coverage_hpd`` — the fraction of ``x*_j`` inside the sampler's 50 / 80 / 90 / 95 % credible
  regions, by the rank of ``log p(x*_j | y_j)`` among the draws' exact log-densities;
* ``sbc_ranks`` — simulation-based calibration of projections onto the operator's singular
  directions and the first coordinates;
* ``tarp`` — TARP's expected coverage of random balls.

**One verdict.** Holm's procedure runs once over every verdict p-value of every observation's
audit and the three checks above, at the family-wise ``α``. Whatever the dependence between
them, a correct sampler is failed with probability at most ``α``. Beside it, per failure mode: the
fraction of observations whose own audit (at ``α``) fails it, with a Clopper–Pearson interval,
and the worst observation (its ``y`` is in ``observations[j]``).

**Listed observations.** A scenario file may list its own ``y``'s (``[observations] y = …``, see
:mod:`samplerlab.scenarios`); the audit then uses its first ``K`` instead of drawing them. The
coverage checks need the true signals: with ``x_star`` listed too they run (exact only if those
signals were drawn from the prior), without it they are not applicable and the verdict is Holm's
over the observations' own audits.

Example:
    >>> audit = audit_observations("oracle", "bimodal_1d", observations=5, n=200, steps=20,
    ...                            checks=["spread"], floor=False)
    >>> audit.passed, [c.check for c in audit.checks], len(audit.reports)
    (True, ['coverage_hpd', 'sbc_ranks', 'tarp'], 5)
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from samplerlab.auditing.report import Report
from samplerlab.diagnostics.coverage import coverage_check, randomized_rank
from samplerlab.diagnostics.registry import FAILURE_MODES
from samplerlab.diagnostics.result import CheckResult
from samplerlab.diagnostics.sbc import sbc_check, sbc_directions
from samplerlab.diagnostics.tarp import tarp_check
from samplerlab.diagnostics.truth import generator
from samplerlab.diagnostics.verdicts import holm

__all__ = ["ObservationAudit", "audit_observations", "observation_seed", "ranks", "SHOWN_DIM"]

SHOWN_DIM = 16  # y and x* are kept in the record up to this many entries


def observation_seed(seed: int, j: int) -> int:
    """Observation ``j``'s audit seed: independent sampler noise per observation (the ranks of
    :mod:`~samplerlab.diagnostics.coverage` are then independent across observations).

    >>> observation_seed(0, 0) != observation_seed(0, 1) != observation_seed(1, 0)
    True
    """
    return (int(seed) * 1_000_003 + zlib.crc32(f"observation-{j}".encode())) % (2**31 - 1)


def _clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy import stats

    ci = stats.binomtest(k, n).proportion_ci(level, method="exact")
    return float(ci.low), float(ci.high)


@dataclass
class ObservationAudit:
    """Outcome of :func:`audit_observations`: ``meta``, one :class:`Report` per observation, the
    across-observation ``checks``, per-mode ``modes`` rows and ``failing`` (the entries Holm rejects
    in the one family of every observation's checks and the across checks)."""

    meta: dict
    reports: list[Report]
    checks: list[CheckResult]
    modes: list[dict] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failing

    def assert_ok(self) -> None:
        """Raise ``AssertionError`` naming what the one across-observation verdict rejects."""
        if not self.passed:
            raise AssertionError(self.summary())

    def to_dict(self) -> dict:
        return {"meta": self.meta, "checks": [c.to_dict() for c in self.checks], "modes": self.modes,
                "failing": self.failing, "reports": [r.to_dict() for r in self.reports]}

    @classmethod
    def from_dict(cls, d: dict) -> "ObservationAudit":
        return cls(dict(d["meta"]), [Report.from_dict(r) for r in d["reports"]],
                   [CheckResult.from_dict(c) for c in d["checks"]], list(d["modes"]), list(d["failing"]))

    def to_json(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def as_report(self) -> Report:
        """The audit as one :class:`Report` (a sweep stores it like any audit): per failure mode a
        verdict check ``observations_<mode>`` (effect: the fraction of observations failing it;
        p: the smallest Holm p of that mode's entries in the one family; it fails when Holm rejects
        any of them), then the across checks. It passes exactly when :attr:`passed` does."""
        checks = []
        for r in self.modes:
            causes = ", ".join(f"{r[k]} {label}" for k, label in (("beyond_floor", "beyond the floor"),
                               ("single_gaussian", "on a single Gaussian too"), ("mixture", "only with the mixture"))
                               if r.get(k))
            detail = (f"fails on {r['failed']} of {r['of']} observations ({r['fraction']:.0%}, 95 % CI "
                      f"{r['low']:.0%}–{r['high']:.0%}); worst: observation {r['worst']}"
                      + (f"; {causes}" if causes else ""))
            checks.append(CheckResult(f"observations_{r['failure_mode']}", r["failure_mode"],
                                      statistic=float(r["failed"]), effect=float(r["fraction"]),
                                      p_value=r.get("family_p"), p_holm=r.get("family_p"), detail=detail,
                                      passed=not r.get("rejected"), data=dict(r)))
        return Report({**self.meta, "across_observations": True}, checks + list(self.checks))

    def summary(self) -> str:
        """Plain text: the one verdict, the across checks, the fraction failing per mode."""
        m = self.meta
        which = "listed by the scenario" if m.get("listed") else "y ~ p(y)"
        head = (f"{'PASSED' if self.passed else 'FAILED'} sampler {m['sampler']!r} on {m['scenario']!r} over "
                f"{m['observations']} observations {which} (n = {m['n']}, seed = {m['seed']}, α = {m['alpha']}; "
                "Holm over every observation's checks and the coverage checks)")
        lines = [head]
        lines += [f"  {'–' if not c.applicable else '✓' if c.passed else '✗'} {c.check}: {c.detail}"
                  for c in self.checks]
        for r in self.modes:
            if r["failed"]:
                lines.append(f"  {r['failure_mode']}: fails on {r['failed']} of {r['of']} observations "
                             f"({r['fraction']:.0%}, 95 % CI {r['low']:.0%}–{r['high']:.0%}); worst: observation "
                             f"{r['worst']} (Holm p = {r['worst_p']:.2g})")
        if self.failing:
            lines.append("  rejected at family-wise α: " + ", ".join(self.failing[:8])
                         + (f", … ({len(self.failing)} in all)" if len(self.failing) > 8 else ""))
        return "\n".join(lines)


def ranks(report: Report, problem, x_star, directions, rng: np.random.Generator, gen) -> tuple:
    """Randomised ranks of ``x*`` among the draws: log-density, projections, reference distance."""
    post = problem.posterior()
    x = report.samples.to(post.dtype)
    star = x_star.to(post.dtype)[None]
    u_hpd = randomized_rank(post.log_prob(x).cpu().numpy()[:, None], post.log_prob(star).cpu().numpy(), rng)[0]
    d = directions.to(x)
    u_sbc = randomized_rank((x @ d).cpu().numpy(), (star @ d).cpu().numpy()[0], rng)
    theta = problem.prior.sample(1, generator=gen)
    dist = (x - theta).norm(dim=1).cpu().numpy()[:, None]
    u_tarp = randomized_rank(dist, (star - theta).norm(dim=1).cpu().numpy(), rng)[0]
    return float(u_hpd), u_sbc, float(u_tarp)


def _causes(reports: list[Report], failed: list[int], mode: str) -> dict:
    """How the failing observations' failures of ``mode`` are attributed: beyond the floor (the
    approximation), by the prior-complexity control to the method (``single_gaussian``) or to the
    mixture prior; counts of observations, where that audit ran the floor or the control."""
    out = {"beyond_floor": 0, "single_gaussian": 0, "mixture": 0}
    for j in failed:
        bad = [c for c in reports[j].checks if c.failure_mode == mode and not c.passed]
        out["beyond_floor"] += any(c.attribution == "approximation" for c in bad)
        causes = {c.control_attribution for c in bad} - {None}
        if causes:
            out["single_gaussian" if "single_gaussian" in causes else "mixture"] += 1
    return out


def _modes(reports: list[Report], family: list[CheckResult] = ()) -> list[dict]:
    rows = []
    for mode in FAILURE_MODES:
        judged = [(j, r) for j, r in enumerate(reports)
                  if any(c.failure_mode == mode and c.role == "verdict" and c.applicable for c in r.checks)]
        if not judged:
            continue
        failed = [j for j, r in judged if mode in r.failure_modes]
        worst_p, worst = min((min(c.p_holm for c in r.checks if c.failure_mode == mode and c.p_holm is not None),
                              j) for j, r in judged)
        low, high = _clopper_pearson(len(failed), len(judged))
        entries = [c for c in family if c.failure_mode == mode and c.p_holm is not None]
        rows.append({"failure_mode": mode, "failed": len(failed), "of": len(judged),
                     "fraction": len(failed) / len(judged), "low": low, "high": high, "worst": worst,
                     "worst_p": float(worst_p), "failed_observations": failed,
                     "family_p": min((float(c.p_holm) for c in entries), default=None),
                     "rejected": sum(not c.passed for c in entries), **_causes(reports, failed, mode)})
    return rows


def audit_observations(sampler, scenario, observations: int, *, params: dict | None = None, device=None,
                       seed: int = 0, alpha: float = 1e-3, **options) -> ObservationAudit:
    """Audit ``sampler`` on ``observations`` draws ``y ~ p(y)`` of ``scenario`` (see the module doc);
    ``options`` go to :func:`samplerlab.auditing.pipeline.run` for every observation."""
    from samplerlab.auditing.pipeline import as_scenario, run
    from samplerlab.core.problem import InverseProblem

    if isinstance(observations, bool) or not isinstance(observations, int) or observations < 2:
        raise ValueError(f"observations: expected an integer >= 2, got {observations!r}")
    loaded = as_scenario(scenario, device)
    if loaded is None:
        raise ValueError("scenario: observations are drawn from a scenario's prior; give a scenario name or file")
    base = loaded.problem
    listed = loaded.listed_y
    if listed is not None and observations > len(listed):
        raise ValueError(f"observations: {loaded.name} lists {len(listed)} y's, {observations} asked for")
    gen = generator(seed, "observations", base.prior.device)
    ref_gen = generator(seed, "tarp-reference", base.prior.device)
    rng = np.random.default_rng([int(seed), zlib.crc32(b"observation-ranks")])
    directions, names = sbc_directions(base.operator, base.dim)
    reports, u_hpd, u_sbc, u_tarp = [], [], [], []
    for j in range(observations):
        if listed is None:
            problem = InverseProblem.simulate(base.prior, base.operator, base.sigma_y, gen)
        else:  # the scenario's own y_j (and x*_j where it lists them)
            problem = InverseProblem(base.prior, base.operator, base.sigma_y, listed[j].to(base.y))
            problem.x_star = None if loaded.listed_x_star is None else loaded.listed_x_star[j].to(base.y)
        report = run(sampler, replace(loaded, problem=problem), params=params, device=device,
                     seed=observation_seed(seed, j), alpha=alpha, **options)
        if problem.x_star is not None:
            h, s, t = ranks(report, problem, problem.x_star, directions, rng, ref_gen)
            u_hpd.append(h), u_sbc.append(s), u_tarp.append(t)
        y = problem.y.cpu()
        report.meta["observation"] = {"index": j, "y_norm": float(y.norm()),
                                      **({"y": y.tolist(),
                                          "x_star": None if problem.x_star is None else problem.x_star.cpu().tolist()}
                                         if y.numel() <= SHOWN_DIM and base.dim <= SHOWN_DIM else {})}
        report.samples = None  # K audits' draws are not kept in memory
        reports.append(report)
    if u_hpd:
        checks = [coverage_check(u_hpd), sbc_check(np.stack(u_sbc), names), tarp_check(u_tarp)]
    else:
        why = f"{loaded.name} lists its y's without the signals x* behind them: no ranks to test"
        checks = [CheckResult(name, "coverage", detail=why, applicable=False) for name in ("coverage_hpd",
                                                                                           "sbc_ranks", "tarp")]
    # One Holm family: every observation's verdict checks and the across checks.
    family = [replace(c, check=f"observation {j}: {c.check}") for j, r in enumerate(reports) for c in r.checks
              if c.role == "verdict" and c.applicable and c.p_value is not None] \
        + [c for c in checks if c.applicable]
    holm(family, alpha)
    failing = [c.check for c in sorted(family, key=lambda c: c.p_holm) if not c.passed]
    first = reports[0].meta
    meta = {"sampler": first["sampler"], "scenario": loaded.name, "observations": observations, "n": first["n"],
            "steps": first["steps"], "seed": seed, "alpha": alpha, "dim": base.dim, "device": first["device"],
            "sbc_functions": names, "family_size": len(family), "listed": listed is not None}
    for key in ("params", "provenance", "threads", "versions"):
        if key in first:
            meta[key] = first[key]
    return ObservationAudit(meta, reports, checks, _modes(reports, family), failing)
