"""Every Python example in docs/ runs as written (extracted from the pages, not copied), and every
page the README links to exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def _examples() -> list[tuple[str, str]]:
    out = []
    for page in sorted(DOCS.glob("*.md")):
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S)):
            out.append((f"{page.name}#{i}", code))
    return out


EXAMPLES = _examples()


def test_the_docs_hold_examples():
    assert len(EXAMPLES) >= 3, [name for name, _ in EXAMPLES]


@pytest.mark.parametrize("code", [c for _, c in EXAMPLES], ids=[name for name, _ in EXAMPLES])
def test_each_docs_example_runs_as_written(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})
    capsys.readouterr()


def test_every_page_the_readme_links_exists_and_the_readme_is_short():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links and all((ROOT / link).is_file() for link in links), [lk for lk in links if not (ROOT / lk).is_file()]
    assert len(text.splitlines()) <= 200


def test_every_docs_page_is_reachable_from_the_readme():
    linked = {Path(link).name for link in re.findall(r"\]\(docs/([^)#]+)", (ROOT / "README.md").read_text())}
    assert {p.name for p in DOCS.glob("*.md")} <= linked
