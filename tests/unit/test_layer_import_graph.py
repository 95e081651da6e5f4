"""The layer's modules form an acyclic import graph with the domain at the bottom, as the simulator's
test holds the simulator's. Every import counts, inside functions too.

- ``models`` and ``errors`` import nothing of ours: the public model is the floor.
- The providers (units and adapters) never import the catalog or the logic: a unit hands its adapter
  what it needs (its default tier among them).
- The logic never imports an adapter of ours, a provider's adapter or the composition root: it knows
  ports, the catalog and the domain.
- Our adapters never import the logic: the words they carry (event names) belong to the domain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import videojobs
from tests.import_graph import Graph, find_cycle, import_graph

LAYER = "videojobs"
LAYER_DIR = Path(videojobs.__file__).resolve().parent


def layer_graph() -> Graph:
    return import_graph(LAYER, LAYER_DIR)


def under(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def provider_adapter(module: str) -> bool:
    """A provider's wire code: its adapter, and the modules adapters share (``providers._http``, ...)."""
    return under(module, f"{LAYER}.providers") and (
        module.endswith(".adapter") or module.rpartition(".")[2].startswith("_")
    )


def broken_rules(graph: Graph) -> list[str]:
    problems: list[str] = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            arrow = f"{importer} -> {target}"
            if importer in {f"{LAYER}.models", f"{LAYER}.errors"}:
                problems.append(f"{arrow}: the models and errors import nothing of ours")
            if under(importer, f"{LAYER}.providers") and under(target, f"{LAYER}.catalog", f"{LAYER}.logic"):
                problems.append(f"{arrow}: a provider never imports the catalog or the logic")
            if under(importer, f"{LAYER}.logic") and (
                under(target, f"{LAYER}.adapters", f"{LAYER}.bootstrap", f"{LAYER}.entry", f"{LAYER}.api")
                or provider_adapter(target)
            ):
                problems.append(f"{arrow}: the logic never imports an adapter or the composition root")
            if under(importer, f"{LAYER}.adapters") and under(target, f"{LAYER}.logic"):
                problems.append(f"{arrow}: an adapter never imports the logic")
    cycle = find_cycle(graph)
    if cycle is not None:
        problems.append(f"import cycle: {' -> '.join(cycle)}")
    return problems


def test_the_layer_keeps_its_floors_and_has_no_import_cycle() -> None:
    graph = layer_graph()

    assert {f"{LAYER}.models", f"{LAYER}.catalog.capabilities", f"{LAYER}.logic.dispatch"} <= set(graph)
    assert len(graph) > 50  # every module was read, subpackages included
    assert broken_rules(graph) == []


@pytest.mark.parametrize(
    ("importer", "target", "complaint"),
    [
        ("videojobs.models", "videojobs.catalog.capabilities", "import cycle: "),
        ("videojobs.models", "videojobs.errors", "the models and errors import nothing of ours"),
        ("videojobs.providers.fal.adapter", "videojobs.catalog.capabilities", "never imports the catalog"),
        ("videojobs.logic.outcomes", "videojobs.adapters.eventbridge", "never imports an adapter"),
        ("videojobs.logic.dispatch", "videojobs.providers._http", "never imports an adapter"),
        ("videojobs.adapters.capacity", "videojobs.logic.outcomes", "an adapter never imports the logic"),
    ],
)
def test_each_rule_bites_when_one_arrow_breaks_it(importer: str, target: str, complaint: str) -> None:
    graph = layer_graph()
    graph[importer] = {*graph[importer], target}

    problems = broken_rules(graph)

    assert any(complaint in problem for problem in problems), problems
