"""pytest plugin (entry point ``pytest11``): audit samplers from a test suite.

Use::

    def test_my_sampler(sampler_audit):
        report = sampler_audit(my_sampler, "bimodal_1d", n=1000)
        report.assert_ok()        # AssertionError naming each failure mode, effect and p-value

    @pytest.mark.samplerlab(n=500, steps=100, checks=["spread", "mode_weights"])
    def test_dps(sampler_audit):
        sampler_audit("dps", "grid_d8_m2", params={"zeta": 0.5}).assert_ok()

    def test_coverage(sampler_audit):  # one verdict over 20 observations y ~ p(y), coverage included
        sampler_audit(my_sampler, "bimodal_1d", observations=20, n=500).assert_ok()

``sampler`` is a sampler, a zoo name or ``module:attr``; ``scenario`` a shipped name, a path or a
:class:`~samplerlab.scenarios.Scenario`. Keywords resolve as: the call, then the command line
(``--samplerlab-alpha``, ``--samplerlab-seed``, ``--samplerlab-n``, ``--samplerlab-steps``,
``--samplerlab-device``), then ``@pytest.mark.samplerlab(...)`` (closest marker first), then the
scenario's defaults. ``--samplerlab-json PATH`` writes every report of the session to one file
(``{"reports": [{"nodeid": ..., "meta": ..., "checks": [...]}, ...]}``, sorted by test id);
under pytest-xdist each worker writes a part file and the controller merges them.

This module imports neither torch nor samplerlab's numerical code until an audit runs, so
``pytest --help`` stays light.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from samplerlab.auditing import options as _options

__all__ = ["sampler_audit", "load_session_reports", "merge_parts"]

_MARKER = ("samplerlab(**defaults): default keywords of the sampler_audit fixture for this test "
           "(n, seed, alpha, steps, checks, device, params, ...)")
_TOKEN = "samplerlab_token"


@dataclass
class _State:
    json_path: Path | None
    token: str
    worker: str | None
    reports: list = field(default_factory=list)


_KEY = pytest.StashKey[_State]()


def pytest_addoption(parser) -> None:
    _options.add_pytest_options(parser)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", _MARKER)
    path = config.getoption("samplerlab_json")
    workerinput = getattr(config, "workerinput", None)
    worker = workerinput.get("workerid") if workerinput is not None else None
    token = workerinput.get(_TOKEN, "local") if workerinput is not None else uuid.uuid4().hex
    config.stash[_KEY] = _State(Path(path) if path else None, token, worker)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist (controller): hand this session's token to each worker for its part file."""
    node.workerinput[_TOKEN] = node.config.stash[_KEY].token


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


@pytest.fixture
def sampler_audit(request):
    """A callable ``sampler_audit(sampler, scenario, **kw) -> Report`` (see the module doc)."""
    state = request.config.stash[_KEY]
    marked = {}
    for mark in reversed(list(request.node.iter_markers("samplerlab"))):
        if mark.args:
            raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.samplerlab takes keywords only, "
                                    f"got positional {mark.args!r}")
        marked.update(mark.kwargs)
    command_line = _options.pytest_values(request.config)

    def run(sampler, scenario, **kw):
        from samplerlab.auditing import pipeline

        merged = {**marked, **command_line, **kw}
        if merged.get("observations"):  # an audit over observations y ~ p(y): one verdict across them
            from samplerlab.auditing.observations import audit_observations

            audit = audit_observations(sampler, scenario, **merged)
            state.reports += [{"nodeid": request.node.nodeid, **r.to_dict()} for r in audit.reports]
            return audit
        merged.pop("observations", None)
        report = pipeline.run(sampler, scenario, **merged)
        state.reports.append({"nodeid": request.node.nodeid, **report.to_dict()})
        return report

    return run


def merge_parts(path: Path, token: str, own: list) -> list:
    """This session's reports: ``own`` plus the part files workers wrote (then removed), by test id."""
    reports = list(own)
    parts = _parts_dir(path)
    for part in sorted(parts.glob(f"{token}-*.json")) if parts.is_dir() else []:
        reports += json.loads(part.read_text())
        part.unlink()
    if parts.is_dir() and not any(parts.iterdir()):
        parts.rmdir()
    return sorted(reports, key=lambda r: r["nodeid"])


def pytest_sessionfinish(session) -> None:
    state = session.config.stash.get(_KEY, None)
    if state is None or state.json_path is None:
        return
    if state.worker is not None:  # an xdist worker: its part, merged by the controller
        parts = _parts_dir(state.json_path)
        parts.mkdir(parents=True, exist_ok=True)
        (parts / f"{state.token}-{state.worker}.json").write_text(json.dumps(state.reports))
        return
    reports = merge_parts(state.json_path, state.token, state.reports)
    state.json_path.parent.mkdir(parents=True, exist_ok=True)
    state.json_path.write_text(json.dumps({"reports": reports}, indent=1))
    state.reports = reports


def pytest_terminal_summary(terminalreporter, config) -> None:
    state = config.stash.get(_KEY, None)
    if state is None or state.worker is not None or not state.reports:
        return
    failed = sum(1 for r in state.reports if not all(c["passed"] for c in r["checks"]))
    where = f"; written to {state.json_path}" if state.json_path else ""
    terminalreporter.write_line(f"samplerlab: {len(state.reports)} audit report(s), {failed} with a failure "
                                f"mode{where}")


def load_session_reports(path) -> list:
    """``[(nodeid, Report), ...]`` from a ``--samplerlab-json`` file."""
    from samplerlab.auditing.report import Report

    data = json.loads(Path(path).read_text())
    return [(r["nodeid"], Report.from_dict(r)) for r in data["reports"]]
