"""JSON from callers, parsed only once its nesting is known to be shallow.

Python's json module parses nested arrays and objects by recursion: 100,000 nested arrays (200 KB)
raise RecursionError. No job request or webhook needs more than a few levels, so every door measures
the nesting first, without recursion and without parsing, and refuses what is deeper than
``MAX_JSON_DEPTH`` with a reason the caller can read.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any request or webhook we take (a job request is 2 levels, a webhook at most 5 or 6).
MAX_JSON_DEPTH = 32

#: A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JsonTooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON is nested deeper than {limit} levels")
        self.limit = limit


def check_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonTooDeep if arrays and objects nest deeper than ``max_depth`` anywhere in ``text``.

    It stops at the first level too deep, so an attack costs as little as a valid body. Text that is
    not JSON is measured as far as it goes; the parser refuses it afterwards."""
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise JsonTooDeep(max_depth)
        elif token in ("]", "}"):
            depth -= 1


def loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for text from outside. Raises JsonTooDeep, or ValueError (JSONDecodeError and
    UnicodeDecodeError are ValueErrors) for text that is not JSON."""
    decoded = text.decode() if isinstance(text, bytes) else text
    check_depth(decoded, max_depth)
    return json.loads(decoded)


def without_deep_values(text: str, max_depth: int) -> str:
    """``text`` with every array or object deeper than ``max_depth`` replaced by ``null``: the
    shallow part of a document too deep to parse whole (an event's envelope, without its detail)."""
    pieces: list[str] = []
    kept_until = 0
    depth = 0
    cut_from: int | None = None
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth == max_depth + 1:
                cut_from = match.start()
        elif token in ("]", "}"):
            if depth == max_depth + 1 and cut_from is not None:
                pieces += [text[kept_until:cut_from], "null"]
                kept_until, cut_from = match.end(), None
            depth -= 1
    pieces.append(text[kept_until:])
    return "".join(pieces)
