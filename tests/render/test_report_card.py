"""The report card: one PNG page with every panel and the verdict table, and a self-contained HTML
page that embeds that PNG, the verdict table and the report JSON (which gives the report back).
Tiny real audits (n = 300, 20 steps) of the oracle (passes) and of the oracle plus noise (fails)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from html.parser import HTMLParser

import pytest

pytest.importorskip("matplotlib")

from samplerlab.auditing.report import Report  # noqa: E402
from samplerlab.render.report_card import _layout, embedded_report, verdict_rows, write_report_card  # noqa: E402


@pytest.fixture(scope="module")
def cards(audits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cards")
    return {key: write_report_card(report, folder, samples=samples) for key, (report, samples) in audits.items()}


class _Page(HTMLParser):
    """The parts of a card page the tests read: table rows, image sources, script bodies."""

    def __init__(self, text: str):
        super().__init__()
        self.rows, self.images, self.scripts, self._cell, self._script = [], [], [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "script":
            self._script = attrs

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._script is not None:
            self.scripts.append((self._script, data))


def test_card_writes_a_png_and_an_html_named_like_plot_report(cards):
    paths = cards["fail"]
    assert set(paths) == {"png", "html"}
    assert paths["png"].name == "unequal_weights_2d__wide__card.png"
    assert paths["html"].name == "unequal_weights_2d__wide__card.html"


def test_card_png_is_a_full_page_image(cards):
    import matplotlib.image

    for paths in cards.values():
        data = paths["png"].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 100_000
        height, width = matplotlib.image.imread(paths["png"]).shape[:2]
        assert width >= 1500 and height >= 1500  # three panel rows and the table, not a thumbnail


def test_html_embeds_the_report_json_that_round_trips_to_the_same_report(audits, cards, tmp_path):
    for key, (report, _) in audits.items():
        report.to_json(tmp_path / "report.json")
        saved = Report.from_json(tmp_path / "report.json")  # JSON has lists where the audit had tuples
        text = cards[key]["html"].read_text(encoding="utf-8")
        (body,) = [b for a, b in _Page(text).scripts if a.get("type") == "application/json"]
        assert Report.from_dict(json.loads(body)) == saved
        assert embedded_report(text) == saved and saved.checks and saved.meta["sampler"] == report.meta["sampler"]


def test_html_embeds_the_png_itself_as_a_data_uri(cards):
    paths = cards["pass"]
    (src,) = _Page(paths["html"].read_text(encoding="utf-8")).images
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix) and base64.b64decode(src[len(prefix):]) == paths["png"].read_bytes()
    assert not re.search(r"""(src|href)=["'](?!data:)""", paths["html"].read_text(encoding="utf-8"))  # no links out


def test_html_verdict_table_has_one_row_per_check_with_its_stored_values(audits, cards):
    report, _ = audits["fail"]
    page = _Page(cards["fail"]["html"].read_text(encoding="utf-8"))
    header, *rows = page.rows
    assert header[:6] == ["check", "failure mode", "effect", "p", "Holm p", "verdict"]
    assert [r[0] for r in rows] == [c.check for c in report.checks]
    verdicts = {r[0]: r[header.index("verdict")] for r in rows}
    assert verdicts["spread_pit"] == "FAIL" and verdicts["location"] == "pass"
    assert verdicts["energy_distance"] == "info"
    assert rows == [[str(x) for x in r] for r in verdict_rows(report)[1]]


def test_passing_checks_show_no_detail_worded_as_a_failure(audits):
    report, _ = audits["pass"]
    header, rows = verdict_rows(report)
    detail, v = header.index("detail"), header.index("verdict")
    assert all(r[detail] == "" for r in rows if r[v] == "pass")
    assert any(r[detail] for r in rows if r[v] == "info")  # informative checks keep their message


def test_html_page_title_states_the_audit_verdict(cards):
    assert '<h1 class="passed">PASSED' in cards["pass"]["html"].read_text(encoding="utf-8")
    failed = '<h1 class="failed">FAILED [distribution, early_stopping, spread]'  # its noise enters after the stop too
    assert failed in cards["fail"]["html"].read_text(encoding="utf-8")


def test_a_detail_with_html_and_a_closing_script_tag_stays_escaped(audits, tmp_path):
    report, _ = audits["fail"]
    nasty = "</script><b>x & y</b>"
    first = dataclasses.replace(report.checks[0], detail=nasty)
    report = Report(report.meta, [first] + report.checks[1:])
    page = write_report_card(report, tmp_path)["html"].read_text(encoding="utf-8")
    assert nasty not in page and "&lt;/script&gt;&lt;b&gt;x &amp; y&lt;/b&gt;" in page
    assert embedded_report(page).checks[0].detail == nasty  # the JSON keeps it verbatim


def test_card_of_a_report_with_few_panels_and_no_samples_still_renders(audits, tmp_path):
    report, _ = audits["pass"]
    small = Report(report.meta, [report["mode_weights"], report["spread_pit"], report["spread_radius"]])
    paths = write_report_card(small, tmp_path)
    assert paths["png"].stat().st_size > 20_000
    embedded = embedded_report(paths["html"].read_text())
    assert [c.check for c in embedded.checks] == ["mode_weights", "spread_pit", "spread_radius"]


def test_layout_puts_two_axes_figures_in_one_row_and_fills_gaps_first():
    rows = _layout({"mode_weights": 1, "pit_ecdf": 1, "spread_vs_t": 2, "early_stopping": 1, "guidance_vs_t": 2})
    assert rows == [["mode_weights", "pit_ecdf", "early_stopping"], ["spread_vs_t", "spread_vs_t", None],
                    ["guidance_vs_t", "guidance_vs_t", None]]
