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

PACKAGE = "local.simulator"
PACKAGE_DIR = Path(local.simulator.__file__).resolve().parent
HOST_SIDE = {f"{PACKAGE}.backend", f"{PACKAGE}.server", f"{PACKAGE}.dialects"}
BUILTIN_DIALECT_MODULES = {f"{PACKAGE}.{name}" for name in ("eachlabs", "atlascloud", "gateway", "jobs_api")}

type Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def imported_modules(tree: ast.AST, importer: str, known: set[str]) -> set[str]:
    """The modules of `known` that `tree` imports anywhere (any depth, relative imports resolved)."""
    found: set[str] = set()
    package = importer if importer == PACKAGE else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from package import module` imports the submodule; `from module import name`, the module.
            targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            targets = targets or [base]
        else:
            continue
        found.update(target for target in targets if target in known and target != importer)
    return found


def simulator_import_graph() -> tuple[Graph, dict[str, ast.Module]]:
    trees = {module_name(path): ast.parse(path.read_text(), str(path)) for path in PACKAGE_DIR.glob("*.py")}
    known = set(trees)
    return {name: imported_modules(tree, name, known) for name, tree in trees.items()}, trees


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle is not None:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle is not None:
            return cycle
    return None


def reachable(graph: Graph, start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for target in graph.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


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
