"""The direction of imports, written once: every import of ours points down the layers, no cycle anywhere.

Every import statement counts, inside functions and under TYPE_CHECKING too: a lazy import still couples the
modules, and a cycle hidden in a function is still a cycle. Tests and benchmarks sit above everything and may
import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),  # settings, identifiers
    ("features", "allocation"),  # input contract and the one feature function; the optimizer
    ("models", "pilots", "records"),  # estimators, curves, bundle; pilot evaluation; KPI history and plans
    ("tracking", "usecases"),  # MLflow I/O; recommend, scenarios, risk (what the CLI and the routers call)
    ("training", "serving"),  # the jobs; the HTTP service and its pages
    ("synthetic",),  # simulator, truth and oracle: for tests, benchmarks and the demo
    ("carealloc",),  # the command line
)
"""A package may import packages of lower layers only; packages of one layer never import each other."""

SYNTHETIC_USERS = frozenset({"carealloc.synthetic_commands"})
"""The only production modules that may import the simulator: `simulate`, and the truth beside simulated data."""

LIBRARY_HOMES: dict[str, frozenset[str]] = {
    "mlflow": frozenset({"tracking"}),
    "fastapi": frozenset({"serving"}),
    "fastapi_offline": frozenset({"serving"}),
    "starlette": frozenset({"serving"}),
    "uvicorn": frozenset({"serving"}),
    "typer": frozenset({"carealloc"}),
    "lightgbm": frozenset({"models", "training"}),  # training: LightGBM's Dask estimators
}
"""Libraries that belong to one edge: MLflow I/O in one home, HTTP in the service, the CLI's framework in the CLI."""

LAYER_OF = {package: depth for depth, layer in enumerate(LAYERS) for package in layer}


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYER_OF:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imported(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module or package) for every import statement, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            yield node.lineno, base
            for alias in node.names:  # `from package import module` imports that module
                if f"{base}.{alias.name}" in MODULES:
                    yield node.lineno, f"{base}.{alias.name}"


def _ours(name: str) -> str | None:
    """The module of ours `name` refers to (its longest known prefix), or None for a library."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[str, dict[str, int]]:
    edges: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        for line, name in _imported(module, path):
            target = _ours(name)
            if target is not None and target != module:
                edges[module].setdefault(target, line)
    return edges


EDGES = _edges()


def test_every_package_is_placed_in_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks", "docs"}
    assert packages <= set(LAYER_OF), f"place {sorted(packages - set(LAYER_OF))} in LAYERS"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in EDGES.items():
        here = module.split(".")[0]
        for target, line in targets.items():
            there = target.split(".")[0]
            if there != here and LAYER_OF[there] >= LAYER_OF[here]:
                upward.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "imports that do not point down the layers:\n" + "\n".join(upward)


def test_production_code_never_imports_the_simulator() -> None:
    found = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t}"
             for m, targets in EDGES.items() if not m.startswith("synthetic") and m not in SYNTHETIC_USERS
             for t, line in targets.items() if t.split(".")[0] == "synthetic"]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("library", sorted(LIBRARY_HOMES))
def test_libraries_stay_in_their_home(library: str) -> None:
    found = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {name}"
             for m, path in MODULES.items() if m.split(".")[0] not in LIBRARY_HOMES[library]
             for line, name in _imported(m, path) if name.split(".")[0] == library]
    assert not found, "\n".join(found)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_cycle() -> None:
    cycles = _cycles({m: set(targets) for m, targets in EDGES.items()})
    assert not cycles, "module cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_package_cycle() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in EDGES.items():
        for target in targets:
            if target.split(".")[0] != module.split(".")[0]:
                packages.setdefault(module.split(".")[0], set()).add(target.split(".")[0])
    cycles = _cycles(packages)
    assert not cycles, "package cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """The checks above can fail: imports inside functions and relative ones are seen, and a two-module cycle
    is found in a made-up graph."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from serving.app import create_app\n    from .bundle import CURVE_METRICS\n")
    found = {(line, _ours(name)) for line, name in _imported("models.probe", probe)}
    assert {(2, "serving.app"), (3, "models.bundle")} <= found
    assert LAYER_OF["serving"] >= LAYER_OF["models"]  # so the first would be reported as upward
