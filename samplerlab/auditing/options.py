"""Audit options, defined once and shared by the CLI (``--alpha``) and the pytest plugin
(``--samplerlab-alpha``). Values are checked when parsed; this module imports no torch.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_cli_options(parser, ["alpha", "seed"])
    >>> parser.parse_args(["--alpha", "0.01"]).alpha
    0.01
    >>> parse_alpha("2")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a number in (0, 1), got '2'
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Option", "OPTIONS", "add_cli_options", "add_pytest_options", "pytest_values", "parse_alpha",
           "parse_positive_int", "parse_nonneg_int", "in_ci"]


def parse_alpha(text: str) -> float:
    """A family-wise error rate in ``(0, 1)``."""
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return v


def _int_parser(low: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v

    return parse


parse_positive_int = _int_parser(1, "a positive integer")
parse_nonneg_int = _int_parser(0, "a non-negative integer")


@dataclass(frozen=True)
class Option:
    """One option: ``name`` (``--name`` in the CLI, ``--samplerlab-name`` in pytest), parser, default, help."""

    name: str
    type: Callable[[str], Any]
    default: Any
    help: str
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


OPTIONS = {o.name: o for o in [
    Option("alpha", parse_alpha, 1e-3, "family-wise error rate of the verdicts (Holm across checks; default 1e-3)",
           "A"),
    Option("seed", parse_nonneg_int, 0, "seed of the audit: sampler noise and exact reference draws (default 0)",
           "S"),
    Option("n", _int_parser(20, "an integer >= 20"), None, "number of samples (default: the scenario's n)", "N"),
    Option("steps", parse_positive_int, None, "time steps of the sampler's grid (default: the scenario's)", "K"),
    Option("device", str, None, "torch device to run on, e.g. cuda (default: cpu)", "DEV"),
    Option("json", str, None, "write the report(s) as JSON to this path", "PATH"),
]}


def add_cli_options(parser: argparse.ArgumentParser, names) -> None:
    """Add ``--name`` for each option in ``names`` to an argparse parser."""
    for name in names:
        o = OPTIONS[name]
        parser.add_argument(f"--{o.name}", dest=o.dest, type=o.type, default=o.default, help=o.help,
                            metavar=o.metavar)


_PYTEST = ("alpha", "seed", "n", "steps", "device", "json")


def add_pytest_options(parser) -> None:
    """Add ``--samplerlab-<name>`` options in one group to a pytest parser."""
    group = parser.getgroup("samplerlab", "samplerlab sampler audits")
    for name in _PYTEST:
        o = OPTIONS[name]
        text = "all audit reports of the session in one JSON file" if name == "json" else o.help
        group.addoption(f"--samplerlab-{o.name}", dest=f"samplerlab_{o.dest}", type=o.type, default=None,
                        help=text, metavar=o.metavar)


def pytest_values(config) -> dict:
    """The audit keywords set on the pytest command line (unset ones left out)."""
    out = {}
    for name in _PYTEST:
        if name == "json":
            continue
        v = config.getoption(f"samplerlab_{OPTIONS[name].dest}")
        if v is not None:
            out[OPTIONS[name].dest] = v
    return out


def in_ci() -> bool:
    """True under CI (the ``CI`` environment variable set and not ``false``/``0``)."""
    import os

    return os.environ.get("CI", "").lower() not in ("", "0", "false")
