"""Plain-text tables of reports (rendering only: every number comes from a report).

Example:
    >>> from samplerlab.diagnostics.result import CheckResult
    >>> from samplerlab.auditing.report import Report
    >>> r = Report({"sampler": "dps", "scenario": "grid"}, [CheckResult("spread_radius", "spread", effect=0.71,
    ...            p_value=3e-9, p_holm=3e-9, passed=False)])
    >>> print(report_table(r))
    check          failure mode  effect  p        Holm p   verdict
    spread_radius  spread        0.71    3.0e-09  3.0e-09  FAIL
"""

from __future__ import annotations

from samplerlab.diagnostics.registry import FAILURE_MODES
from samplerlab.diagnostics.result import fmt_p

__all__ = ["format_table", "report_table", "compare_table", "verdict", "vary_table", "summary_row"]


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + rows]
    return "\n".join(lines)


def verdict(check) -> str:
    if not check.applicable:
        return "n/a"
    if check.role == "info":
        return "info"
    return "pass" if check.passed else "FAIL"


def _num(v) -> str:
    return "" if v is None else f"{v:.3g}"


def _floor_cell(check) -> str:
    if check.floor_passed is None:
        return ""
    return f"{'pass' if check.floor_passed else 'FAIL'} {_num(check.floor_effect)}".strip()


def report_table(report) -> str:
    """One row per check: effect, p-value, Holm-adjusted p-value, verdict (and, when the audit ran
    the discretisation floor, the floor's verdict and effect and the failure's attribution)."""
    rows = [[c.check, c.failure_mode, _num(c.effect), "" if c.p_value is None else fmt_p(c.p_value),
             "" if c.p_holm is None else fmt_p(c.p_holm), verdict(c)] for c in report.checks]
    header = ["check", "failure mode", "effect", "p", "Holm p", "verdict"]
    if report.meta.get("floor"):
        header += ["floor", "attribution"]
        rows = [r + [_floor_cell(c), c.attribution if c.attribution in ("approximation", "discretisation") else ""]
                for r, c in zip(rows, report.checks)]
    if (report.meta.get("control") or {}).get("failure_modes") is not None:
        header += ["single Gaussian", "cause"]
        causes = {"single_gaussian": "method", "mixture": "mixture prior"}
        rows = [r + [f"{c.control_verdict or ''} {_num(c.control_effect)}".strip() if c.control_verdict else "",
                     causes.get(c.control_attribution, "")] for r, c in zip(rows, report.checks)]
    return format_table(header, rows)


def _label(report, fallback: str) -> str:
    m = report.meta
    return f"{m.get('sampler', fallback)}@{m.get('scenario') or '?'}"


def _settings(report, other) -> str:
    """``report``'s parameters and content hashes, where they differ from ``other``'s (a compare of
    two settings of one sampler names the settings; of an edited sampler, the edit)."""
    mine, theirs = report.meta.get("params") or {}, other.meta.get("params") or {}
    differ = {k: v for k, v in mine.items() if theirs.get(k, object()) != v}
    parts = [", ".join(f"{k}={v!r}" for k, v in differ.items())] if differ else []
    prov, prov_other = report.meta.get("provenance") or {}, other.meta.get("provenance") or {}
    for label, get in (("sampler source", lambda p: (p.get("sampler_source") or {}).get("hash")),
                       ("scenario", lambda p: p.get("scenario_hash")), ("samplerlab", lambda p: p.get("code_hash"))):
        if prov and prov_other and get(prov) != get(prov_other):
            parts.append(f"{label} {get(prov)}")
    return f"; {'; '.join(parts)}" if parts else ""


def compare_table(a, b) -> str:
    """Two reports side by side: per check, effect and verdict of each (checks in order of ``a``, then ``b``)."""
    la, lb = _label(a, "A"), _label(b, "B")
    if la == lb:
        la, lb = la + " (A)", lb + " (B)"
    names = [c.check for c in a.checks] + [c.check for c in b.checks if c.check not in {x.check for x in a.checks}]
    by_a, by_b = {c.check: c for c in a.checks}, {c.check: c for c in b.checks}
    rows = []
    for name in names:
        ca, cb = by_a.get(name), by_b.get(name)
        mode = (ca or cb).failure_mode
        cell = [(_num(c.effect), verdict(c)) if c else ("", "–") for c in (ca, cb)]
        rows.append([name, mode, cell[0][0], cell[0][1], cell[1][0], cell[1][1]])
    verdicts = ["PASSED" if r.passed else "FAILED" for r in (a, b)]
    rows.append(["overall", "", "", verdicts[0], "", verdicts[1]])
    meta = [f"{tag} = {label}: n = {r.meta.get('n')}, steps = {r.meta.get('steps')}, seed = {r.meta.get('seed')}"
            + _settings(r, other) for tag, label, r, other in (("A", la, a, b), ("B", lb, b, a))]
    table = format_table(["check", "failure mode", "effect A", "verdict A", "effect B", "verdict B"], rows)
    return "\n".join(meta) + "\n" + table


def vary_table(frame, mode_checks: dict) -> str:
    """A sensitivity curve as a table: a row per parameter value, per failure mode its effect and
    mark (✗ fails beyond the floor, ~ the floor fails it too, blank: pass, n/a)."""
    marks = {"approximation": " ✗", "failed": " ✗", "discretisation": " ~", "pass": "", "n/a": " n/a"}
    param = frame["param"].iloc[0]
    header = [param] + list(mode_checks)
    rows = []
    for value, group in frame.groupby("value", sort=True):
        by_check = {r["check"]: r for r in group.to_dict("records")}
        cells = []
        for check in mode_checks.values():
            r = by_check.get(check)
            cells.append("" if r is None else "n/a" if not r["applicable"] else
                         f"{_num(r['effect'])}{marks.get(r['attribution'], '')}")
        rows.append([str(value)] + cells)
    return format_table(header, rows) + "\n✗ fails beyond the discretisation floor; ~ the floor fails it too"


def summary_row(scenario: str, sampler: str, report=None, error: str = "", seconds: float = 0.0) -> dict:
    """One row of ``summary.csv``: the verdict and a cell per failure mode (rendering of a report)."""
    row = {"scenario": scenario, "sampler": sampler, "params": "", "seed": None, "passed": None, "failure_modes": "",
           "error": error, "n": None, "steps": None, "floor": "", "beyond_floor": "", "seconds": round(seconds, 2)}
    for mode in FAILURE_MODES:
        row[mode] = "error" if error else ""
    if report is not None:
        floor = report.meta.get("floor")
        given = (report.meta.get("provenance") or {}).get("params_given") or {}
        row.update(passed=report.passed, failure_modes=" ".join(sorted(report.failure_modes)),
                   params=" ".join(f"{k}={v}" for k, v in sorted(given.items())), seed=report.meta.get("seed"),
                   n=report.meta.get("n"), steps=report.meta.get("steps"),
                   floor="" if not floor else "pass" if floor["passed"] else " ".join(floor["failure_modes"]),
                   beyond_floor=" ".join(sorted({c.failure_mode for c in report.beyond_floor()})))
        for mode in FAILURE_MODES:
            checks = [c for c in report.checks if c.failure_mode == mode and c.role == "verdict"]
            failing = [c for c in checks if not c.passed]
            row[mode] = ("floor" if failing and all(c.attribution == "discretisation" for c in failing)
                         else "FAIL" if failing else "pass" if any(c.applicable for c in checks)
                         else "n/a" if checks else "")
        for c in report.checks:
            row[f"{c.check}_effect"] = c.effect
    return row


def observations_table(audit) -> str:
    """An across-observation audit: per failure mode the fraction of observations failing it (with
    its 95 % Clopper–Pearson interval) and the worst observation, then the coverage checks."""
    rows = [[r["failure_mode"], f"{r['failed']}/{r['of']}", f"{r['fraction']:.0%}",
             f"{r['low']:.0%}–{r['high']:.0%}", str(r["worst"]), fmt_p(r["worst_p"])] for r in audit.modes]
    rows += [[c.check, "", _num(c.effect), "", "", fmt_p(c.p_value), fmt_p(c.p_holm),
              "n/a" if not c.applicable else "pass" if c.passed else "FAIL"] for c in audit.checks]
    rows = [r + [""] * (8 - len(r)) for r in rows]
    return format_table(["failure mode / check", "observations failing", "fraction", "95 % CI", "worst obs", "p",
                         "Holm p (all)", "verdict"], rows)
