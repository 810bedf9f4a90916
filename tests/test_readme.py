"""The README's examples run as written (extracted from README.md, not copied)."""

from __future__ import annotations

import re
from pathlib import Path

from samplerlab.cli import main

README = Path(__file__).parents[1] / "README.md"


def _block(after_heading: str) -> str:
    text = README.read_text()
    section = text[text.index(after_heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_five_line_sampler_runs_and_fails_as_the_readme_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_sampler.py").write_text(_block("## Your sampler in five lines"))
    code = main(["score", "my_sampler.py:my_sampler", "--scenario", "unequal_weights_2d", "--n", "300",
                 "--steps", "50", "--no-floor"])
    out, err = capsys.readouterr()
    assert code == 1 and "FAILED" in out and err == "", err


def test_the_pytest_example_runs_as_written(pytester):
    pytester.makepyfile(my_sampler=_block("## Your sampler in five lines"))
    pytester.makepyfile(test_example="import pytest\nfrom my_sampler import my_sampler\n\n"
                        + _block("## 2. In pytest (CI)"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--samplerlab-steps", "50")
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0 and outcomes.get("failed", 0) >= 1, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["FAILED test_example.py::test_my_sampler - AssertionError: sampler 'my_sampler*"])
