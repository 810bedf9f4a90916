"""The import graph: no cycles, no sub-package imports one above it, and the four peer packages
never import each other — lazy imports inside functions included (they are how cycles hide).

Packages, lowest first: ``errors``; ``operators``; ``core`` (the exact mathematics); the peers
``scenarios``, ``samplers``, ``adapters`` and ``diagnostics``; ``auditing``; ``render``;
``studies``; ``bench``; and the surfaces (``cli``, ``pytest_plugin``). A new module inside a
package needs no line here; a new top-level module or package does. Read from the source with
``ast``: nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "samplerlab"

LAYERS = [
    {"errors"},
    {"operators"},
    {"core"},
    {"scenarios", "samplers", "adapters", "diagnostics"},  # peers: never import each other
    {"auditing"},
    {"render"},
    {"studies"},
    {"bench"},
    {"cli", "pytest_plugin"},
]
MAX_TOP_LEVEL = 10  # .py files directly in samplerlab/ (``__init__`` included)


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
    raise AssertionError(f"samplerlab.{unit} is in no layer: put it in a package, or add it to LAYERS in "
                         f"{Path(__file__).name}")


def test_every_module_has_a_layer():
    for unit in _graph():
        _layer(unit)


def test_no_import_goes_up_a_layer():
    upward = sorted(f"samplerlab.{a} (layer {_layer(a)}) imports samplerlab.{b} (layer {_layer(b)})"
                    for a, targets in _graph().items() for b in targets if _layer(b) > _layer(a))
    assert not upward, "\n".join(upward)


def test_peer_packages_never_import_each_other():
    peers = LAYERS[3]
    crossing = sorted(f"samplerlab.{a} imports samplerlab.{b}" for a, targets in _graph().items() if a in peers
                      for b in targets if b in peers)
    assert not crossing, "\n".join(crossing)


def test_the_package_root_holds_at_most_ten_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} modules directly in samplerlab/: {', '.join(top)}"


def test_import_graph_has_no_cycle():
    """Between modules, not only packages: a package may import itself, never in a circle."""
    modules = _modules()
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package's __init__ and its own modules
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_only_render_imports_matplotlib_or_seaborn():
    drawing = sorted(name for name, path in _modules().items() if not name.startswith("samplerlab.render")
                     and {"matplotlib", "seaborn"} & {m.split(".")[0] for m in _all_imports(path)})
    assert not drawing, f"modules outside samplerlab.render that draw: {drawing}"


def test_no_module_imports_another_modules_private_names():
    private = sorted(f"{name} imports {node.module}.{a.name}" for name, path in _modules().items()
                     for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("samplerlab")
                     and node.module != name for a in node.names
                     if a.name.startswith("_") and not a.name.startswith("__")
                     and not node.module.startswith(name.rsplit(".", 1)[0] + "._"))
    assert not private, "\n".join(private)


def _all_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found
