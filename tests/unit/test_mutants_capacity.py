"""Survivors of `make mutate` in adapters/capacity.py that need no table: a provider with no keys waits
a minute without a read, and jobs start at different keys of a pool (the table-backed paths are held
by tests/integration/test_dispatch_adapters.py against moto)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from videojobs.adapters.capacity import CreateCounts, DynamoDBCapacity, KeyPool, _in_turn
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


# -- the create rate, counted per second: what is read, what the current second may grant, the wait --

#: An epoch second, and the one that is sixty seconds before it: the oldest that still counts.
T = 1_764_504_000
OLDEST = T - 60


def test_only_the_per_second_counters_of_the_rate_item_are_read() -> None:
    item = {
        "pk": {"S": "eachlabs#key-1"},
        "sk": {"S": "rate"},  # an "s" name, but not a second
        "s": {"N": "9"},  # the prefix alone
        "expires_at": {"N": str(T + 604_800)},
        "tat": {"N": "12.5"},  # the old GCRA's attribute
        f"s{T}": {"N": "3"},
        f"s{T - 1}": {"N": "1"},
    }

    assert CreateCounts.from_item(item) == CreateCounts({T: 3, T - 1: 1})
    assert CreateCounts.from_item(None) == CreateCounts({})


def test_the_current_second_may_grant_the_limit_less_what_the_sixty_seconds_before_it_granted() -> None:
    counts = CreateCounts({OLDEST - 1: 50, OLDEST: 1, T - 1: 2, T: 3})

    # T's own count is the one the conditional write compares, so it is not subtracted; the second
    # before the window no longer counts
    assert counts.allowance(T + 0.9, 10) == 10 - 1 - 2
    assert counts.allowance(T, 10) == 7
    assert CreateCounts({}).allowance(T, 10) == 10
    # A second counted by a function whose clock runs ahead counts too: skew never adds allowance
    assert CreateCounts({T + 1: 4}).allowance(T, 10) == 6


def test_a_create_is_granted_at_once_while_the_window_holds_fewer_than_the_limit() -> None:
    assert CreateCounts({}).wait_seconds(T, 1) == 0.0
    assert CreateCounts({OLDEST: 2, T: 2}).wait_seconds(T + 0.5, 5) == 0.0
    assert CreateCounts({OLDEST - 1: 5, T: 2}).wait_seconds(T, 3) == 0.0  # the old 5 no longer count


def test_a_full_window_waits_until_enough_of_its_oldest_creates_have_slid_out() -> None:
    # The window holds 4 (the limit): the create counted in OLDEST counts until the clock passes
    # OLDEST's second plus sixty, that is until T + 1
    counts = CreateCounts({OLDEST: 1, T - 30: 2, T: 1})

    assert counts.wait_seconds(T + 0.25, 4) == 0.75
    assert counts.wait_seconds(T, 4) == 1.0
    # Two must slide out for a limit of 3: OLDEST's and T - 30's, which counts until T + 31
    assert counts.wait_seconds(T + 0.25, 3) == 30.75
    # Over the limit by the second that is counting now: nothing slides out before T + 61
    assert CreateCounts({T: 5}).wait_seconds(T + 0.5, 5) == 60.5


def test_only_the_seconds_before_the_window_are_expired() -> None:
    counts = CreateCounts({OLDEST - 7: 1, OLDEST - 1: 1, OLDEST: 1, T: 1})

    assert sorted(counts.expired(T + 0.99)) == [OLDEST - 7, OLDEST - 1]
