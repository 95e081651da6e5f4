"""A package's import graph read from its source: every import counts, at module level or inside a
function (a deferred import hides a cycle, it does not remove it), relative imports resolved. Used by
the tests that hold the simulator's and the layer's architecture."""

from __future__ import annotations

import ast
from pathlib import Path

type Graph = dict[str, set[str]]


def module_names(package: str, package_dir: Path) -> dict[str, Path]:
    """Every module of the package and its subpackages, by dotted name."""
    names: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported_modules(tree: ast.AST, importer: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """The modules of ``known`` that ``tree`` imports anywhere. ``from package import module`` imports the
    submodule; ``from module import name``, the module; a name below a known module counts as it."""
    found: set[str] = set()
    package = importer if is_package else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            targets = targets or [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != importer:
                found.add(target)
    return found


def import_graph(package: str, package_dir: Path) -> Graph:
    paths = module_names(package, package_dir)
    known = set(paths)
    return {
        name: imported_modules(
            ast.parse(path.read_text(), str(path)), name, known, is_package=path.name == "__init__.py"
        )
        for name, path in paths.items()
    }


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
