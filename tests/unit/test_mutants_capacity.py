"""Survivors of `make mutate` in adapters/capacity.py that need no table: a provider with no keys waits
a minute without a read, and jobs start at different keys of a pool (the table-backed paths are held
by tests/integration/test_dispatch_adapters.py against moto)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from videojobs.adapters.capacity import DynamoDBCapacity, KeyPool, _in_turn
from videojobs.ports import CapacityWait
from videojobs.settings import KeyLimits


class NoTable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the table was used: {name}")


@pytest.mark.parametrize("pools", [{}, {"eachlabs": KeyPool([], KeyLimits(1, 10))}])
def test_a_provider_without_keys_waits_a_minute_without_reading_the_table(pools: dict[str, KeyPool]) -> None:
    capacity = DynamoDBCapacity(NoTable(), "limits", pools, lease_seconds=900)  # type: ignore[arg-type]

    wait = capacity.acquire("eachlabs", "job-1", now=datetime(2026, 11, 24, tzinfo=UTC))

    assert wait == CapacityWait(seconds=60)


def test_every_key_is_tried_once_starting_at_one_the_job_id_picks() -> None:
    keys = ["a", "b", "c", "d"]
    turns = {job_id: _in_turn(keys, job_id) for job_id in (f"job-{n}" for n in range(40))}

    assert all(sorted(turn) == keys for turn in turns.values())
    assert all(
        turn == [*keys[keys.index(turn[0]) :], *keys[: keys.index(turn[0])]] for turn in turns.values()
    )
    assert {turn[0] for turn in turns.values()} == set(keys)
    assert turns["job-1"] == _in_turn(keys, "job-1")
