"""The paper's claims over observations: fractions of ``y ~ p(y)`` failing, with intervals.

``make replication`` runs ``sweeps/replication.toml``: each cell audits one sampler on one
scenario across 20 observations (two seeds: two independent sets), with the prior-complexity
control, at the scenario's grid and at the setting the sampler's paper publishes. This module
reads that store (each cell's report is an across-observation audit,
:meth:`samplerlab.auditing.observations.ObservationAudit.as_report`) into tables. It computes; the
markdown and the figures are drawn from its frames by :func:`render` and
:mod:`samplerlab.render.replication_plots`.

Per (scenario, sampler, setting, failure mode), a setting being the step count and the parameters
the spec gave: the observations failing it (pooled over the seeds,
each observation's own audit at α), their 95 % Clopper–Pearson interval, how many seeds' one
verdict rejects it (Holm over every observation's checks and the coverage checks — at most α
false alarms per seed for a correct sampler), and the control's attribution of the failing
observations (*on a single Gaussian too*: the method's own error; *only with the mixture*).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLAIMS", "Claim", "PUBLISHED", "setting", "mode_rows", "coverage_rows", "settings_line",
           "claim_rows", "render"]

# The papers' settings (the spec's blocks run them): DDRM's 20 steps, PiGDM's 100, DPS's 1000, and
# DAPS-1K's 200 annealing levels ending at sigma_min = 0.1.
PUBLISHED = {"ddrm": {"steps": 20}, "pigdm": {"steps": 100}, "dps": {"steps": 1000},
             "daps": {"steps": 200, "sigma_min": 0.1}}


def setting(sampler: str, steps: int, params: dict) -> tuple[str, bool]:
    """A cell's setting (its step count and the parameters the spec gave) and whether it is the
    sampler's published one (:data:`PUBLISHED`).

    >>> setting("daps", 200, {"sigma_min": 0.1}), setting("dps", 200, {})
    (('200 steps, sigma_min=0.1', True), ('200 steps', False))
    """
    label = ", ".join([f"{steps} steps", *(f"{k}={v}" for k, v in sorted(params.items()))])
    published = PUBLISHED.get(sampler)
    return label, published is not None and all(
        (steps if k == "steps" else params.get(k)) == v for k, v in published.items())


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: the failure modes that show it and the scenarios that isolate its
    cause (the replication's and STUDY.md's single-observation sections share this shape)."""

    key: str
    title: str
    modes: tuple[str, ...]
    scenarios: tuple[str, ...]
    text: str
    figure: str = ""  # a sensitivity figure that shows the mechanism (single-observation sections)


CLAIMS = (
    Claim("spread", "Within-mode spread is mis-estimated", ("spread",),
                     ("bimodal_1d", "unequal_weights_2d", "grid_d8_m2"),
                     "Two well-separated modes seen through a full-rank A, and MCGdiff's 25-mode grid in d = 8 "
                     "seen through m = 2 measurements: the within-mode spread is the quantity the intermediate "
                     "likelihood approximations get wrong."),
    Claim("early_stopping", "The output depends on where the reverse process stops",
                     ("early_stopping",), ("bimodal_1d",),
                     "The two-sided stop-time test: stopped outputs against the full run pushed to the same "
                     "time; a failure in either direction counts."),
    Claim("mode_weights", "Mode weights are wrong", ("mode_weights",), ("unequal_weights_2d", "grid_d8_m2"),
                     "Unequal prior weights whose posterior weights the observation moves, and the 25-mode grid "
                     "whose few measurements leave several modes in the posterior."),
    Claim("hallucination", "Samples land in modes the data rule out or the prior does not hold",
                     ("prior_hallucination", "likelihood_hallucination"), ("outlier_2d", "prior_mode_ruled_out_2d"),
                     "An observation far from every prior mode, and a prior mode the observation rules out."),
    Claim("unimodal", "A multimodal prior alone causes failures",
                     ("spread", "location", "mode_weights", "distribution"), ("unimodal_posterior_2d",),
                     "One posterior bump from four overlapping prior components: nothing about the posterior "
                     "is multimodal. The prior-complexity control (the same A, y, σ_y with the prior cut to "
                     "one component) says whether a failure needs the mixture (*only with the mixture*) or "
                     "is the method's own (*on a single Gaussian too*)."),
)


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    from scipy import stats

    ci = stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def _reports(store: Path, frame) -> list[dict]:
    """One record per finished cell: its sampler, scenario, seed, steps, n, given parameters and report."""
    cells = frame[frame["status"] == "done"].drop_duplicates("key")
    out = []
    for row in cells.to_dict("records"):
        report = json.loads((store / "reports" / f"{row['key']}.json").read_text())
        out.append({"sampler": row["sampler"], "scenario": row["scenario"], "seed": int(row["seed"]),
                    "steps": int(report["meta"]["steps"]), "n": int(report["meta"]["n"]),
                    "params": json.loads(row["params"] or "{}"), "report": report})
    return out


def mode_rows(store, frame):
    """Per (scenario, sampler, setting, n, failure mode), a setting being the step count and the
    parameters the spec gave: observations failing (pooled over the seeds) with the interval, seeds
    whose one verdict rejects the mode, and the control's attribution."""
    import pandas as pd

    pooled: dict = {}
    for cell in _reports(Path(store), frame):
        for c in cell["report"]["checks"]:
            if not c["check"].startswith("observations_"):
                continue
            d = c["data"]
            label, published = setting(cell["sampler"], cell["steps"], cell["params"])
            key = (cell["scenario"], cell["sampler"], label, cell["n"], c["failure_mode"])
            acc = pooled.setdefault(key, {"steps": cell["steps"], "published": published, "failed": 0, "of": 0,
                                          "seeds": 0, "rejected_seeds": 0, "single_gaussian": 0, "mixture": 0})
            acc["failed"] += d["failed"]
            acc["of"] += d["of"]
            acc["seeds"] += 1
            acc["rejected_seeds"] += not c["passed"]
            acc["single_gaussian"] += d.get("single_gaussian", 0)
            acc["mixture"] += d.get("mixture", 0)
    rows = []
    for (scenario, sampler, label, n, mode), acc in pooled.items():
        low, high = _clopper_pearson(acc["failed"], acc["of"])
        rows.append({"scenario": scenario, "sampler": sampler, "setting": label, "n": n, "failure_mode": mode, **acc,
                     "fraction": acc["failed"] / acc["of"], "low": low, "high": high})
    return pd.DataFrame(rows)


def coverage_rows(store, frame):
    """Per (scenario, sampler, setting): the coverage checks' Holm p per seed and how many seeds fail them."""
    import pandas as pd

    rows = []
    for cell in _reports(Path(store), frame):
        for c in cell["report"]["checks"]:
            if c["failure_mode"] == "coverage":
                rows.append({"scenario": cell["scenario"], "sampler": cell["sampler"],
                             "setting": setting(cell["sampler"], cell["steps"], cell["params"])[0],
                             "n": cell["n"], "seed": cell["seed"], "check": c["check"], "effect": c["effect"],
                             "p_holm": c["p_holm"], "passed": c["passed"]})
    return pd.DataFrame(rows)


def claim_rows(modes, claim: Claim):
    """The rows of ``modes`` a claim is read from: its modes, on the scenarios that isolate it."""
    sub = modes[modes["failure_mode"].isin(claim.modes) & modes["scenario"].isin(claim.scenarios)]
    order = {s: i for i, s in enumerate(claim.scenarios)}
    return sub.assign(_o=sub["scenario"].map(order)).sort_values(["_o", "sampler", "steps", "setting", "n",
                                                                  "failure_mode"]) \
        .drop(columns="_o").reset_index(drop=True)


def settings_line(rows, sampler: str) -> str | None:
    """For a sampler run at its published setting and at ours: whether it fails the claim at the
    published one, at ours, at both or at neither (a setting fails when a seed's one verdict rejects
    a mode). ``None`` unless ``rows`` hold the published setting and another."""
    mine = rows[rows["sampler"] == sampler]
    if mine["setting"].nunique() < 2 or not mine["published"].any():
        return None
    fails = {s: bool((g["rejected_seeds"] > 0).any()) for s, g in mine.groupby("setting", sort=False)}
    published = mine.loc[mine["published"], "setting"].iloc[0]
    ours = "; ".join(s for s in fails if s != published)
    failing = [s for s, bad in fails.items() if bad]
    if not failing:
        return f"{sampler}: passes at its published setting ({published}) and at ours ({ours})"
    if len(failing) == len(fails):
        return f"{sampler}: fails at every setting run (its published {published}; ours: {ours})"
    where = "only at its published setting" if failing == [published] else "only at our settings"
    return f"{sampler}: fails {where} ({'; '.join(failing)})"


def _fraction(r) -> str:
    return f"{r['failed']}/{r['of']} ({r['fraction']:.0%}, {r['low']:.0%}–{r['high']:.0%})"


def render(modes, coverage, source: str) -> str:
    """The replication section of STUDY.md (formatting only)."""
    lines = ["## Over observations: each claim on the scenario that isolates it", "",
             f"From `{source}` (`make replication`): every sampler on every scenario across 20 observations "
             "y ~ p(y) for each of two seeds (40 in all), n = 300 samples per audit unless the n column says more, "
             "with the prior-complexity control, "
             "at the scenario's grid and at its paper's setting (DDRM 20 steps, ΠGDM 100, DPS 1000, DAPS-1K's "
             "200 annealing levels ending at σ_min = 0.1; mcgdiff is left out of grid_d8_m2 for cost). A cell reads "
             "*observations failing* (each observation's own audit at α = 1e-3; 95 % Clopper–Pearson interval) "
             "and *verdict* (the seeds whose one Holm verdict across the 20 observations rejects the mode: a "
             "correct sampler is rejected with probability ≤ 1e-3 per seed). The oracle row is the exact "
             "sampler: what a correct method reads here.", ""]
    for claim in CLAIMS:
        rows = claim_rows(modes, claim)
        lines += [f"### {claim.title}", "", claim.text, ""]
        failing = sorted({r["sampler"] for r in rows.to_dict("records") if r["rejected_seeds"]})
        lines += [f"**Rejected by the one verdict** (in at least one seed): {', '.join(failing) or 'none'}.", ""]
        settings = [s for s in (settings_line(rows, name) for name in PUBLISHED) if s]
        if settings:
            lines += ["**Settings against methods:** " + "; ".join(settings) + ".", ""]
        lines += ["| scenario | sampler | setting | n | failure mode | observations failing | verdict (seeds) | "
                  "on a single Gaussian too | only with the mixture |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows.to_dict("records"):
            mark = " (paper)" if r["published"] else ""
            verdict = (f"**FAIL** {r['rejected_seeds']}/{r['seeds']}" if r["rejected_seeds"]
                       else f"pass 0/{r['seeds']}")
            lines.append(f"| {r['scenario']} | {r['sampler']} | {r['setting']}{mark} | {r['n']} | "
                         f"{r['failure_mode']} | {_fraction(r)} | {verdict} | {r['single_gaussian']} | "
                         f"{r['mixture']} |")
        lines += ["", f"![{claim.key}](replication/{claim.key}.png)", ""]
    if len(coverage):
        lines += ["### Coverage over observations", "",
                  "HPD coverage, SBC ranks and TARP: exact under a correct sampler. Seeds failing each:", "",
                  "| scenario | sampler | setting | n | coverage_hpd | sbc_ranks | tarp |",
                  "|---|---|---|---|---|---|---|"]
        for (scenario, sampler, label, n), g in coverage.groupby(["scenario", "sampler", "setting", "n"], sort=True):
            cells = [f"{int((~c['passed'].astype(bool)).sum())}/{len(c)}" for _, c in
                     sorted(g.groupby("check"), key=lambda kv: ["coverage_hpd", "sbc_ranks", "tarp"].index(kv[0]))]
            lines.append(f"| {scenario} | {sampler} | {label} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
