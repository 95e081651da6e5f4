"""Waits on SQS: a message can be delayed 15 minutes at most, so a longer wait is a chain of hops,
each message carrying the moment it is really due."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard

#: SQS refuses a longer DelaySeconds.
MAX_QUEUE_DELAY_SECONDS = 900


@dataclass(frozen=True)
class Hop:
    delay_seconds: int
    #: Set when this hop is not the last: the next delivery must wait again until then.
    due_at: datetime | None


def hop_towards(due_at: datetime, now: datetime) -> Hop:
    seconds = max(1, math.ceil((due_at - now).total_seconds()))
    if seconds > MAX_QUEUE_DELAY_SECONDS:
        return Hop(MAX_QUEUE_DELAY_SECONDS, due_at)
    return Hop(seconds, None)


def is_early(due_at: datetime | None, now: datetime) -> TypeGuard[datetime]:
    """A delivery of a hop whose moment has not come yet."""
    return due_at is not None and due_at > now
