"""The one table every benchmark prints: each figure beside its baseline, the ratio and the goal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RatioRow:
    figure: str
    result: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""


def print_table(rows: list[RatioRow]) -> None:
    header = ("figure", "result", "baseline", "ratio", "goal")
    print_grid([header, *((r.figure, r.result, r.baseline, r.ratio, r.goal) for r in rows)])


def print_grid(cells: Sequence[Sequence[str]]) -> None:
    """``cells``' first row as the header, every column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(line)
    for index, row in enumerate(cells):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print(line)
    print(line)
