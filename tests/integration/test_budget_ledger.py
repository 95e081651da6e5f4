"""The spending ledger against moto: reservations as all-or-nothing transactions that no storm of
concurrent dispatches can push past a ceiling, and settles and releases that count once."""

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest

from local.aws import ProvisionedStack
from videojobs.adapters.budget import DynamoDBSpendingLedger
from videojobs.ports import CeilingReached, Reserved, SpendCounter, SpendReading

#: Dispatches that reserve at the same moment, as many submit functions would.
CONCURRENT_DISPATCHES = 40
_periods = itertools.count()


@pytest.fixture
def ledger(aws: Any, aws_resources: ProvisionedStack) -> DynamoDBSpendingLedger:
    return DynamoDBSpendingLedger(aws("dynamodb"), aws_resources.refs["ProviderLimitsTable"])


def fresh(name: str) -> str:
    """A counter key no other test has touched: day#test-<n>-<name>."""
    return f"day#test-{next(_periods)}-{name}"


def job_id() -> str:
    return str(uuid.uuid4())


def test_concurrent_reservations_never_pass_the_ceiling_between_them(
    ledger: DynamoDBSpendingLedger, aws: Any, aws_resources: ProvisionedStack
) -> None:
    day, month = fresh("storm-day"), fresh("storm-month")
    ceiling = 10_000_000  # 10 USD
    amounts = [700_000 + 37_000 * (index % 9) for index in range(CONCURRENT_DISPATCHES)]  # 0.70-0.996 USD
    counters = [SpendCounter(day, ceiling), SpendCounter(month, None)]
    start = Barrier(CONCURRENT_DISPATCHES)

    def reserve(amount: int) -> Reserved | CeilingReached:
        own = DynamoDBSpendingLedger(aws("dynamodb"), aws_resources.refs["ProviderLimitsTable"])
        start.wait()  # all at once
        return own.reserve(job_id(), amount, counters)

    with ThreadPoolExecutor(CONCURRENT_DISPATCHES) as pool:
        answers = list(pool.map(reserve, amounts))

    granted = [
        amount for amount, answer in zip(amounts, answers, strict=True) if isinstance(answer, Reserved)
    ]
    readings = ledger.readings([day, month])
    print(  # noqa: T201 - the figures of the run, for the record (pytest -s)
        f"\nbudget storm: {CONCURRENT_DISPATCHES} reservations fired at once, {len(granted)} granted,"
        f" reserved {sum(granted) / 1e6:.6f} USD of a {ceiling / 1e6:.2f} USD ceiling"
    )
    assert readings[day] == SpendReading(spent_micros=0, reserved_micros=sum(granted))
    assert readings[month] == readings[day]  # all or nothing: each grant is on both counters
    assert sum(granted) <= ceiling
    # Refused only for want of room: the smallest refused would not have fitted.
    refused = [
        amount for amount, answer in zip(amounts, answers, strict=True) if isinstance(answer, CeilingReached)
    ]
    assert refused
    assert sum(granted) + min(refused) > ceiling


def test_a_reservation_is_all_or_nothing_the_day_has_room_but_the_month_has_not(
    ledger: DynamoDBSpendingLedger,
) -> None:
    day, month = fresh("day"), fresh("month")
    ledger.reserve(job_id(), 900_000, [SpendCounter(month, None)])

    answer = ledger.reserve(job_id(), 200_000, [SpendCounter(day, 5_000_000), SpendCounter(month, 1_000_000)])

    assert answer == CeilingReached(SpendCounter(month, 1_000_000), SpendReading(0, 900_000))
    assert ledger.readings([day, month]) == {day: SpendReading(0, 0), month: SpendReading(0, 900_000)}


def test_exactly_at_the_ceiling_is_allowed_and_one_micro_dollar_more_is_not(
    ledger: DynamoDBSpendingLedger,
) -> None:
    day = fresh("edge")
    counters = [SpendCounter(day, 1_000_000)]

    assert isinstance(ledger.reserve(job_id(), 600_000, counters), Reserved)
    assert isinstance(ledger.reserve(job_id(), 400_000, counters), Reserved)
    assert isinstance(ledger.reserve(job_id(), 1, counters), CeilingReached)
    assert isinstance(
        ledger.reserve(job_id(), 2_000_000, [SpendCounter(fresh("alone"), 1_000_000)]), CeilingReached
    )


def test_a_job_reserves_once_and_settles_or_releases_once(ledger: DynamoDBSpendingLedger) -> None:
    day = fresh("once")
    counters = [SpendCounter(day, 5_000_000)]
    settled, released = job_id(), job_id()

    assert ledger.reserve(settled, 1_000_000, counters) == Reserved(1_000_000)
    assert ledger.reserve(settled, 1_000_000, counters) == Reserved(1_000_000, already=True)
    ledger.reserve(released, 2_000_000, counters)
    assert ledger.readings([day])[day] == SpendReading(0, 3_000_000)

    assert ledger.settle(settled) is True
    assert ledger.settle(settled) is False
    assert ledger.release(settled) is False
    assert ledger.release(released) is True
    assert ledger.release(released) is False
    assert ledger.settle(job_id()) is False  # a job that never reserved

    assert ledger.readings([day])[day] == SpendReading(spent_micros=1_000_000, reserved_micros=0)
    # Released room is room again; spent room is not.
    assert isinstance(ledger.reserve(job_id(), 4_000_000, counters), Reserved)
    assert isinstance(ledger.reserve(job_id(), 1, counters), CeilingReached)


def test_concurrent_settles_of_one_job_count_it_once(
    ledger: DynamoDBSpendingLedger, aws: Any, aws_resources: ProvisionedStack
) -> None:
    day = fresh("settles")
    job = job_id()
    ledger.reserve(job, 1_500_000, [SpendCounter(day, None)])
    start = Barrier(8)

    def close(index: int) -> bool:
        own = DynamoDBSpendingLedger(aws("dynamodb"), aws_resources.refs["ProviderLimitsTable"])
        start.wait()
        return own.settle(job) if index % 2 else own.release(job)

    with ThreadPoolExecutor(8) as pool:
        closed = list(pool.map(close, range(8)))

    assert closed.count(True) == 1
    reading = ledger.readings([day])[day]
    assert reading in (SpendReading(1_500_000, 0), SpendReading(0, 0))
