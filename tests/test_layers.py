"""The import graph: no cycles, and no module imports one from a higher layer — lazy imports
inside functions included (they are how cycles hide).

Layers, lowest first: the exact mathematics (mixtures, operators, schedules, the problem and the
task); data sets, scenarios and samplers; the diagnostics; the audit (checks, floor, report,
sampler references); the one pipeline; and the surfaces (command line, pytest plugin, suites,
sweeps, studies, plots). Read from the source with ``ast``: nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "samplerlab"

LAYERS = [
    {"errors", "logspace", "precision", "sizes", "covariance", "tweedie", "mixture", "operators", "image_operators", "medical_operators",
     "schedules", "problem", "task", "memory", "options", "guard", "provenance", "interrupts", "threads"},
    {"images", "medical", "families", "faults", "scenario_builders", "scenarios", "samplers", "control"},
    {"diagnostics"},
    {"report", "tables", "floor", "auditing", "sampler_ref", "adapters"},
    {"pipeline", "samples_file", "observations"},
    {"cli", "pytest_plugin", "suite", "sweep", "sweep_spec", "sweep_store", "sweep_report", "studies", "validation", "calibration", "sensitivity",
     "sensitivity_plots", "plots", "report_card", "image_suite", "image_gallery", "medical_suite", "study", "why",
     "gpu_check", "gpu_profile", "adapter_study", "coverage_calibration", "replication", "replication_plots",
     "early_stopping_calibration"},
]


def _unit(module: str) -> str:
    """The layer unit of a dotted module name: ``samplerlab.x`` for modules and sub-packages alike."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("samplerlab",) + path.relative_to(PACKAGE).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("samplerlab.")}


def _graph() -> dict[str, set[str]]:
    """Edges between layer units (``samplerlab.<unit>``), every import counted."""
    graph: dict[str, set[str]] = {}
    for name, path in _modules().items():
        a = _unit(name)
        if a:
            graph.setdefault(a, set()).update(b for b in map(_unit, _imports(path)) if b and b != a)
    return graph


def _layer(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"samplerlab.{unit} is in no layer: add it to LAYERS in {Path(__file__).name}")


def test_every_module_has_a_layer():
    for unit in _graph():
        _layer(unit)


def test_no_import_goes_up_a_layer():
    upward = sorted(f"samplerlab.{a} (layer {_layer(a)}) imports samplerlab.{b} (layer {_layer(b)})"
                    for a, targets in _graph().items() for b in targets if _layer(b) > _layer(a))
    assert not upward, "\n".join(upward)


def test_import_graph_has_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(unit: str, path: list[str]) -> None:
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(f"samplerlab.{u}" for u in cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[unit] = 2

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
