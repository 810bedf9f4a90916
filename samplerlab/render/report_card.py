"""One report card per audit: every figure panel and the verdict table on one page.

:func:`write_report_card` writes two files named like :func:`samplerlab.render.plots.plot_report`'s
(``scenario__sampler__card.png`` and ``.html``):

* a PNG — the audit's verdict line (from :meth:`Report.summary`), the panels of
  :func:`samplerlab.render.plots.figure_panels` (each titled with its check's verdict) and the verdict
  table, one row per check;
* a self-contained HTML page — the same verdict line and summary, the verdict table as an HTML
  table, the PNG embedded as a base64 data URI, and the report itself as JSON in a
  ``<script type="application/json" id="samplerlab-report">`` tag (``Report.from_dict`` of it gives
  the report back).

Rendering only: every cell of the table is a field of a :class:`~samplerlab.diagnostics.result.CheckResult`
(formatted as in :func:`samplerlab.render.tables.report_table`), every panel draws a check's ``data``.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from samplerlab.diagnostics.result import fmt_p
from samplerlab.render.plots import figure_panels, file_stem
from samplerlab.render.style import pyplot
from samplerlab.render.tables import verdict

__all__ = ["write_report_card", "verdict_rows", "embedded_report", "CARD_ORDER"]

# Page order of the figures (a two-axes figure takes two adjacent cells of a row).
CARD_ORDER = ("samples_2d", "mode_weights", "pit_ecdf", "spread_vs_t", "early_stopping", "guidance_vs_t", "coverage")
_COLUMNS = 3
_PANEL_W, _PANEL_H = 6.0, 4.9  # inches per panel cell
_ROW_H = 0.3  # inches per table row
_DETAIL_CHARS = 120  # the PNG table cuts a check's detail here (the HTML keeps it whole)
_FILL = {"FAIL": "#f6cccc", "pass": "#d9efd9", "info": "#ececec", "n/a": "#ffffff"}
_SCRIPT_ID = "samplerlab-report"


def _num(v) -> str:
    return "" if v is None else f"{v:.3g}"


def verdict_rows(report) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of the verdict table: per check its fields as stored, nothing computed
    (the columns of :func:`samplerlab.render.tables.report_table`, then the check's detail — left empty
    for a passing check, whose detail is worded as the failure it looked for)."""
    header = ["check", "failure mode", "effect", "p", "Holm p", "verdict"]
    floor = bool(report.meta.get("floor"))
    if floor:
        header += ["floor", "attribution"]
    rows = []
    for c in report.checks:
        row = [c.check, c.failure_mode, _num(c.effect), "" if c.p_value is None else fmt_p(c.p_value),
               "" if c.p_holm is None else fmt_p(c.p_holm), verdict(c)]
        if floor:
            cell = "" if c.floor_passed is None else f"{'pass' if c.floor_passed else 'FAIL'} {_num(c.floor_effect)}"
            row += [cell.strip(), c.attribution if c.attribution in ("approximation", "discretisation") else ""]
        # A passing check's detail is worded as the failure it looked for ("over-dispersed: 1.02×
        # exact"): shown only where the check fails, informs or cannot judge, as in Report.summary.
        rows.append(row + ["" if verdict(c) == "pass" else c.detail])
    return header + ["detail"], rows


def _heading(report) -> list[str]:
    """The summary's verdict line and its notes (floor, defaults, RNG warning), not its per-check lines."""
    first, *rest = report.summary().splitlines()
    return [first] + [line.strip() for line in rest if not line.lstrip().startswith(("✗", "✓", "·", "–"))]


def _layout(sizes: dict[str, int]) -> list[list[str | None]]:
    """First-fit the figures (``{name: axes}``) into rows of ``_COLUMNS`` cells, in :data:`CARD_ORDER`."""
    rows: list[list[str | None]] = []
    for name in CARD_ORDER:
        if name not in sizes:
            continue
        k = sizes[name]
        for row in rows:
            if row.count(None) >= k:
                start = row.index(None)
                if all(v is None for v in row[start:start + k]):
                    row[start:start + k] = [name] * k
                    break
        else:
            rows.append([name] * k + [None] * (_COLUMNS - k))
    return rows


def _draw_table(ax, report) -> None:
    header, rows = verdict_rows(report)
    cut = [r[:-1] + [r[-1] if len(r[-1]) <= _DETAIL_CHARS else r[-1][:_DETAIL_CHARS - 1] + "…"] for r in rows]
    widths = {"check": 0.11, "failure mode": 0.10, "effect": 0.045, "p": 0.05, "Holm p": 0.05, "verdict": 0.04,
              "floor": 0.06, "attribution": 0.065}
    col_w = [widths.get(h, 0.0) for h in header]
    col_w[-1] = 1.0 - sum(col_w[:-1])
    table = ax.table(cellText=cut, colLabels=header, colWidths=col_w, cellLoc="left", colLoc="left",
                     bbox=[0, 0, 1, 1])
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    v = header.index("verdict")
    for (i, j), cell in table.get_celld().items():
        cell.set_edgecolor("0.8")
        cell.PAD = 0.006 / col_w[j]  # the same small left margin in every column (PAD is a fraction of the width)
        if i == 0:
            cell.set_facecolor("#dde3ee")
            cell.get_text().set_fontweight("bold")
        else:
            cell.set_facecolor(_FILL.get(rows[i - 1][v], "#ffffff"))
    ax.axis("off")


def _render_png(report, samples, path: Path) -> None:
    plt, _ = pyplot()
    panels = figure_panels(report, samples)
    layout = _layout({name: k for name, (k, _) in panels.items()})
    heading = _heading(report)
    table_h = _ROW_H * (len(report.checks) + 1)
    fig = plt.figure(figsize=(_COLUMNS * _PANEL_W, _PANEL_H * len(layout) + table_h + 0.3 * (len(heading) + 2)),
                     layout="constrained")
    grid = fig.add_gridspec(len(layout) + 1, _COLUMNS, height_ratios=[_PANEL_H] * len(layout) + [table_h])
    for r, row in enumerate(layout):
        for name in dict.fromkeys(v for v in row if v is not None):
            cols = [i for i, v in enumerate(row) if v == name]
            panels[name][1]([fig.add_subplot(grid[r, i]) for i in cols])
    ax_table = fig.add_subplot(grid[len(layout), :])
    _draw_table(ax_table, report)
    ax_table.set_title("\n".join(["Verdicts (Holm across the verdict checks; info rows do not judge)"] + heading[1:]),
                       loc="left", fontsize="medium")
    color = "#1b7a1b" if report.passed else "#b01c1c"
    fig.suptitle(heading[0], fontsize="x-large", fontweight="bold", color=color)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def embedded_report(page: str):
    """The :class:`~samplerlab.auditing.report.Report` embedded in a report card's HTML text."""
    from samplerlab.auditing.report import Report

    start = page.index(f'<script type="application/json" id="{_SCRIPT_ID}">')
    body = page[page.index(">", start) + 1:page.index("</script>", start)]
    return Report.from_dict(json.loads(body))


def _html(report, png: bytes) -> str:
    esc = html.escape
    header, rows = verdict_rows(report)
    v = header.index("verdict")
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "\n".join(f'<tr class="{esc(r[v].lower().replace("/", ""))}">' + "".join(f"<td>{esc(x)}</td>" for x in r)
                     + "</tr>" for r in rows)
    # JSON inside <script>: "<", ">" and "&" as \u escapes keep the tag closed; json.loads undoes them.
    data = (json.dumps(report.to_dict(), indent=1).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))
    heading = _heading(report)
    title = f"samplerlab report card: {report.meta.get('sampler')} on {report.meta.get('scenario') or 'problem'}"
    status = "passed" if report.passed else "failed"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.25em; }} h1.passed {{ color: #1b7a1b; }} h1.failed {{ color: #b01c1c; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }}
th {{ background: #dde3ee; }} tr.fail td {{ background: #f6cccc; }} tr.pass td {{ background: #d9efd9; }}
tr.info td {{ background: #ececec; }} pre {{ white-space: pre-wrap; font-size: 0.85em; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
</style>
</head>
<body>
<h1 class="{status}">{esc(heading[0])}</h1>
<pre>{esc(report.summary())}</pre>
<table class="verdicts">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<img alt="report card: figure panels and verdict table" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<script type="application/json" id="{_SCRIPT_ID}">
{data}
</script>
</body>
</html>
"""


def write_report_card(report, out_dir, samples: dict | None = None, stem: str | None = None) -> dict[str, Path]:
    """Write ``STEM__card.png`` and ``.html`` into ``out_dir``; returns ``{"png": …, "html": …}``.

    ``stem`` defaults to :func:`samplerlab.render.plots.file_stem` (scenario, sampler, given parameters,
    seed). ``samples`` as for :func:`samplerlab.render.plots.plot_report`: a dict saved by
    :func:`samplerlab.studies.suite.save_samples` (with ``log_density`` in 2-D, for the samples panel), or ``None``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or file_stem(report)
    png, page = out / f"{stem}__card.png", out / f"{stem}__card.html"
    _render_png(report, samples, png)
    page.write_text(_html(report, png.read_bytes()), encoding="utf-8")
    return {"png": png, "html": page}
