"""The simulator's modules form an acyclic import graph, and dialect modules stay on their side of it.

Every import counts, at module level or inside a function (a deferred import hides a cycle, it does not
remove it). A dialect module (one defining a `Dialect` subclass) may reach `protocol`, `faults`, `fields`,
`media`, `signing` and what those import, never the backend, the server or the dialect registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import local.simulator
from tests.import_graph import Graph, find_cycle, imported_modules, reachable

PACKAGE = "local.simulator"
PACKAGE_DIR = Path(local.simulator.__file__).resolve().parent
HOST_SIDE = {f"{PACKAGE}.backend", f"{PACKAGE}.server", f"{PACKAGE}.dialects"}
BUILTIN_DIALECT_MODULES = {
    f"{PACKAGE}.{name}" for name in ("eachlabs", "atlascloud", "gateway", "jobs_api", "fal")
}


def module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def simulator_import_graph() -> tuple[Graph, dict[str, ast.Module]]:
    trees = {module_name(path): ast.parse(path.read_text(), str(path)) for path in PACKAGE_DIR.glob("*.py")}
    known = set(trees)
    return {name: imported_modules(tree, name, known) for name, tree in trees.items()}, trees


def defines_dialect(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id == "Dialect" for base in node.bases)
        for node in tree.body
    )


# -- the checks themselves can fail -------------------------------------------------------------------
def test_find_cycle_reports_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_inside_functions_and_relative_imports_count() -> None:
    """The old layout: core imported the dialects lazily in a function, the dialects imported core."""
    known = {f"{PACKAGE}.core", f"{PACKAGE}.eachlabs", f"{PACKAGE}.media"}
    core = ast.parse("def builtin():\n    from local.simulator.eachlabs import EachLabsDialect\n")
    dialect = ast.parse("from .core import Dialect\nfrom local.simulator import media\n")
    graph = {
        f"{PACKAGE}.core": imported_modules(core, f"{PACKAGE}.core", known),
        f"{PACKAGE}.eachlabs": imported_modules(dialect, f"{PACKAGE}.eachlabs", known),
    }

    assert graph[f"{PACKAGE}.eachlabs"] == {f"{PACKAGE}.core", f"{PACKAGE}.media"}
    assert find_cycle(graph) == [f"{PACKAGE}.core", f"{PACKAGE}.eachlabs", f"{PACKAGE}.core"]


# -- the simulator's modules ----------------------------------------------------------------------------
def test_the_simulator_modules_import_each_other_without_a_cycle() -> None:
    graph, _ = simulator_import_graph()

    assert {f"{PACKAGE}.protocol", f"{PACKAGE}.backend", f"{PACKAGE}.server"} <= set(graph)
    assert f"{PACKAGE}.core" not in graph
    assert find_cycle(graph) is None


def dialect_modules() -> list[str]:
    _, trees = simulator_import_graph()
    return sorted(name for name, tree in trees.items() if defines_dialect(tree))


def test_every_builtin_dialect_module_is_found_as_one() -> None:
    assert set(dialect_modules()) >= BUILTIN_DIALECT_MODULES


@pytest.mark.parametrize("dialect_module", dialect_modules())
def test_a_dialect_module_never_reaches_the_backend_the_server_or_the_registry(dialect_module: str) -> None:
    graph, _ = simulator_import_graph()

    assert f"{PACKAGE}.protocol" in graph[dialect_module]
    assert reachable(graph, dialect_module) & HOST_SIDE == set()


def test_the_protocol_depends_only_on_leaf_modules() -> None:
    graph, _ = simulator_import_graph()

    assert graph[f"{PACKAGE}.protocol"] <= {f"{PACKAGE}.media", f"{PACKAGE}.signing"}
