"""The one shape every validation problem takes, for a 422 body and a "Video Job Rejected" event alike:
``{"loc": ["body", <field>, ...], "msg": "...", "type": "..."}``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from videojobs.errors import NoProviderServes, RequestRejected
from videojobs.models import ValidationDetail


def detail_from_items(
    items: Iterable[Mapping[str, Any]], *, prefix: Sequence[str | int] = ()
) -> list[ValidationDetail]:
    """pydantic's (or Powertools') error items; their input values are left out on purpose."""
    return [
        ValidationDetail(
            loc=[*prefix, *item.get("loc", ())],
            msg=str(item.get("msg") or "invalid value"),
            type=str(item.get("type") or "value_error"),
        )
        for item in items
    ]


def detail_from_validation_error(error: ValidationError) -> list[ValidationDetail]:
    return detail_from_items(error.errors(), prefix=("body",))


def detail_from_rejection(error: RequestRejected) -> list[ValidationDetail]:
    problems = error.problems if isinstance(error, NoProviderServes) else [error]
    return [ValidationDetail(loc=["body", item.field], msg=item.reason, type=item.code) for item in problems]
