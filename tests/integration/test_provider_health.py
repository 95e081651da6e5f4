"""The provider breaker and the key bench against moto over HTTP, on a ProviderLimitsTable built from
template.yaml, one table per test: a breaker that opens once at its threshold, refuses while open,
lets exactly one probe through when due, and closes or reopens on the probe's answer, however many
dispatches ask at once."""

import functools
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import pytest

from local.aws import provision
from local.template import read_application
from videojobs.adapters.health import DynamoDBProviderHealth
from videojobs.errors import DependencyUnavailable
from videojobs.ports import Admitted, BreakerOpen, BreakerState, HealthReading

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
THRESHOLD = 3
OPEN_SECONDS = 30
PROBE_LEASE_SECONDS = 120
WEEK = 7 * 24 * 3600
#: Dispatches that run at the same moment, as many submit functions would.
CONCURRENT_DISPATCHES = 20
ROUNDS = 5
#: No thread may hang the suite: every wait is bounded.
JOIN_TIMEOUT_SECONDS = 60


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def limits_table(aws: Any, moto_endpoint: str) -> str:
    """A fresh ProviderLimitsTable, as template.yaml declares it."""
    application = read_application()
    stack = provision(
        {"ProviderLimitsTable": application.resources["ProviderLimitsTable"]},
        application.parameters,
        endpoint_url=moto_endpoint,
        stack_name=f"health-{uuid.uuid4().hex[:8]}",
    )
    return stack.refs["ProviderLimitsTable"]


def breaker(aws: Any, table: str) -> DynamoDBProviderHealth:
    return DynamoDBProviderHealth(
        aws("dynamodb"),
        table,
        failure_threshold=THRESHOLD,
        open_seconds=OPEN_SECONDS,
        probe_lease_seconds=PROBE_LEASE_SECONDS,
    )


@pytest.fixture
def table(aws: Any, moto_endpoint: str) -> Iterator[str]:
    name = limits_table(aws, moto_endpoint)
    yield name
    aws("dynamodb").delete_table(TableName=name)


@pytest.fixture
def health(aws: Any, table: str) -> DynamoDBProviderHealth:
    return breaker(aws, table)


def stored(aws: Any, table: str, provider: str = "eachlabs") -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        aws("dynamodb")
        .get_item(
            TableName=table,
            Key={"pk": {"S": f"health#{provider}"}, "sk": {"S": "breaker"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return item


def open_breaker(health: DynamoDBProviderHealth, now: datetime = T0) -> None:
    opened = [health.record_failure("eachlabs", now=now) for _ in range(THRESHOLD)]
    assert opened == [False] * (THRESHOLD - 1) + [True]


# -- closed ------------------------------------------------------------------------------------------


def test_a_breaker_never_written_admits_clean_and_a_success_writes_nothing(
    health: DynamoDBProviderHealth, aws: Any, table: str
) -> None:
    assert health.admit("eachlabs", "job-1", now=T0) == Admitted(frozenset(), probe=False, clean=True)
    assert health.reading("eachlabs", now=T0) == HealthReading()

    assert health.record_success("eachlabs") is False

    assert stored(aws, table) is None


def test_failures_below_the_threshold_keep_it_closed_and_the_threshold_th_opens_it_once(
    health: DynamoDBProviderHealth, aws: Any, table: str
) -> None:
    below = [health.record_failure("eachlabs", now=T0) for _ in range(THRESHOLD - 1)]

    assert below == [False] * (THRESHOLD - 1)
    assert health.admit("eachlabs", "job-1", now=T0) == Admitted(frozenset(), probe=False, clean=False)
    assert health.reading("eachlabs", now=T0) == HealthReading(
        BreakerState.CLOSED, consecutive_failures=THRESHOLD - 1
    )

    assert health.record_failure("eachlabs", now=at(5)) is True

    assert health.reading("eachlabs", now=at(5)) == HealthReading(
        BreakerState.OPEN, consecutive_failures=THRESHOLD, open_until=at(5 + OPEN_SECONDS)
    )
    # A failure while open only counts: it neither reports opening nor pushes the end back.
    assert health.record_failure("eachlabs", now=at(20)) is False
    assert health.reading("eachlabs", now=at(20)) == HealthReading(
        BreakerState.OPEN, consecutive_failures=THRESHOLD + 1, open_until=at(5 + OPEN_SECONDS)
    )
    item = stored(aws, table)
    assert item is not None
    assert item["state"] == {"S": "open"}
    assert item["failures"] == {"N": str(THRESHOLD + 1)}
    assert item["open_until"] == {"N": str(int(at(5 + OPEN_SECONDS).timestamp()))}
    assert item["expires_at"] == {"N": str(int(at(20).timestamp()) + WEEK)}


def test_a_success_forgets_the_failures_so_the_count_starts_again(health: DynamoDBProviderHealth) -> None:
    for _ in range(THRESHOLD - 1):
        health.record_failure("eachlabs", now=T0)

    assert health.record_success("eachlabs") is False  # it was closed: nothing to report closing
    assert health.admit("eachlabs", "job-1", now=T0) == Admitted(frozenset(), probe=False, clean=True)
    assert [health.record_failure("eachlabs", now=T0) for _ in range(THRESHOLD - 1)] == [False, False]
    assert health.reading("eachlabs", now=T0).state is BreakerState.CLOSED


def test_each_provider_has_a_breaker_of_its_own(health: DynamoDBProviderHealth) -> None:
    open_breaker(health)

    assert health.admit("fal", "job-1", now=T0) == Admitted(frozenset(), probe=False, clean=True)
    assert isinstance(health.admit("eachlabs", "job-1", now=T0), BreakerOpen)


# -- open ---------------------------------------------------------------------------------------------


def test_an_open_breaker_refuses_until_open_seconds_have_passed(health: DynamoDBProviderHealth) -> None:
    open_breaker(health)

    assert health.admit("eachlabs", "job-1", now=at(10.5)) == BreakerOpen(seconds=OPEN_SECONDS - 10.5)
    assert health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS - 1)) == BreakerOpen(seconds=1.0)


def test_when_due_exactly_one_job_gets_the_probe(health: DynamoDBProviderHealth) -> None:
    open_breaker(health)

    first = health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS))
    second = health.admit("eachlabs", "job-2", now=at(OPEN_SECONDS))
    later = health.admit("eachlabs", "job-3", now=at(OPEN_SECONDS + 100))

    assert first == Admitted(frozenset(), probe=True, clean=False)
    # The probe's answer may come any moment: the others look again soon, not at the lease's end.
    assert second == later == BreakerOpen(seconds=1.0)
    assert health.reading("eachlabs", now=at(OPEN_SECONDS)) == HealthReading(
        BreakerState.HALF_OPEN, consecutive_failures=THRESHOLD
    )


def test_the_probes_success_closes_the_breaker_once_and_a_second_success_writes_nothing(
    health: DynamoDBProviderHealth, aws: Any, table: str
) -> None:
    open_breaker(health)
    assert health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS)) == Admitted(probe=True, clean=False)

    assert health.record_success("eachlabs") is True

    closed = stored(aws, table)
    assert health.record_success("eachlabs") is False
    assert stored(aws, table) == closed
    assert closed is not None
    assert not {"open_until", "probe_holder", "probe_until"} & closed.keys()
    assert health.reading("eachlabs", now=at(OPEN_SECONDS)) == HealthReading()
    assert health.admit("eachlabs", "job-2", now=at(OPEN_SECONDS)) == Admitted(probe=False, clean=True)


def test_the_probes_failure_opens_the_breaker_again(health: DynamoDBProviderHealth) -> None:
    open_breaker(health)
    health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS))

    assert health.record_failure("eachlabs", now=at(OPEN_SECONDS + 10)) is True

    reopened_until = at(2 * OPEN_SECONDS + 10)
    assert health.reading("eachlabs", now=at(OPEN_SECONDS + 10)) == HealthReading(
        BreakerState.OPEN, consecutive_failures=THRESHOLD + 1, open_until=reopened_until
    )
    assert health.admit("eachlabs", "job-2", now=at(OPEN_SECONDS + 20)) == BreakerOpen(seconds=20)
    assert health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS + 20)) == BreakerOpen(seconds=20)
    assert health.admit("eachlabs", "job-2", now=reopened_until) == Admitted(probe=True, clean=False)


def test_a_probe_whose_lease_ran_out_is_taken_by_another_job(health: DynamoDBProviderHealth) -> None:
    open_breaker(health)
    health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS))
    lease_end = OPEN_SECONDS + PROBE_LEASE_SECONDS

    assert health.admit("eachlabs", "job-2", now=at(lease_end)) == BreakerOpen(seconds=1.0)
    assert health.admit("eachlabs", "job-2", now=at(lease_end + 1)) == Admitted(probe=True, clean=False)
    assert health.admit("eachlabs", "job-1", now=at(lease_end + 1)) == BreakerOpen(seconds=1.0)
    assert health.admit("eachlabs", "job-3", now=at(lease_end + 1)) == BreakerOpen(seconds=1.0)


def test_a_redelivered_probe_holder_is_admitted_again_without_a_write(
    health: DynamoDBProviderHealth, aws: Any, table: str
) -> None:
    open_breaker(health)
    health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS))
    held = stored(aws, table)

    again = health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS + 60))

    assert again == Admitted(frozenset(), probe=True, clean=False)
    assert stored(aws, table) == held


# -- benches ------------------------------------------------------------------------------------------


def test_benched_keys_are_reported_until_their_bench_ends(
    health: DynamoDBProviderHealth, aws: Any, table: str
) -> None:
    health.bench_key("eachlabs", "key-2", until=at(60))
    health.bench_key("eachlabs", "key#3", until=at(600))

    assert health.admit("eachlabs", "job-1", now=at(59)) == Admitted(
        frozenset({"key-2", "key#3"}), probe=False, clean=True
    )
    assert health.reading("eachlabs", now=at(59)) == HealthReading(
        benched_until={"key-2": at(60), "key#3": at(600)}
    )
    assert health.admit("eachlabs", "job-1", now=at(60)) == Admitted(frozenset({"key#3"}), clean=True)
    assert health.reading("eachlabs", now=at(600)) == HealthReading()
    item = stored(aws, table)
    assert item is not None
    assert item["bench#key-2"] == {"N": str(int(at(60).timestamp()))}
    assert item["expires_at"] == {"N": str(int(at(600).timestamp()) + WEEK)}


def test_benches_travel_with_a_probe_and_leave_the_breaker_as_it_was(
    health: DynamoDBProviderHealth,
) -> None:
    open_breaker(health)
    health.bench_key("eachlabs", "key-2", until=at(OPEN_SECONDS + 60))

    assert health.reading("eachlabs", now=T0).state is BreakerState.OPEN
    assert health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS)) == Admitted(
        frozenset({"key-2"}), probe=True, clean=False
    )
    assert health.admit("eachlabs", "job-1", now=at(OPEN_SECONDS + 60)) == Admitted(
        frozenset(), probe=True, clean=False
    )


# -- unavailable --------------------------------------------------------------------------------------

CALLS: dict[str, Callable[[DynamoDBProviderHealth], object]] = {
    "admit": lambda health: health.admit("eachlabs", "job-1", now=T0),
    "record_failure": lambda health: health.record_failure("eachlabs", now=T0),
    "record_success": lambda health: health.record_success("eachlabs"),
    "bench_key": lambda health: health.bench_key("eachlabs", "key-1", until=T0),
    "reading": lambda health: health.reading("eachlabs", now=T0),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_missing_table_is_a_dependency_unavailable(
    aws: Any, call: Callable[[DynamoDBProviderHealth], object]
) -> None:
    health = breaker(aws, f"no-such-table-{uuid.uuid4().hex[:8]}")

    with pytest.raises(DependencyUnavailable) as raised:
        call(health)

    assert "no-such-table" not in str(raised.value)


# -- many dispatches at once ----------------------------------------------------------------------------


def all_at_once[T](
    breakers: Sequence[DynamoDBProviderHealth], calls: Sequence[Callable[[DynamoDBProviderHealth], T]]
) -> list[T]:
    """Each call on a breaker (and a client) of its own, all released together; every wait bounded."""
    start = Barrier(len(calls), timeout=JOIN_TIMEOUT_SECONDS)

    def run(own: DynamoDBProviderHealth, call: Callable[[DynamoDBProviderHealth], T]) -> T:
        start.wait()
        return call(own)

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, own, call) for own, call in zip(breakers, calls, strict=True)]
        return [future.result(timeout=JOIN_TIMEOUT_SECONDS) for future in futures]


def failures(now: datetime) -> list[Callable[[DynamoDBProviderHealth], bool]]:
    """Every dispatch's create failing at ``now``."""
    return [functools.partial(DynamoDBProviderHealth.record_failure, provider="eachlabs", now=now)] * (
        CONCURRENT_DISPATCHES
    )


def admissions(now: datetime, tag: str) -> list[Callable[[DynamoDBProviderHealth], Admitted | BreakerOpen]]:
    """Every dispatch, a job each, asking at ``now``."""
    return [
        functools.partial(DynamoDBProviderHealth.admit, provider="eachlabs", job_id=f"{tag}-{index}", now=now)
        for index in range(CONCURRENT_DISPATCHES)
    ]


def test_many_concurrent_dispatches_open_the_breaker_once_and_half_open_lets_exactly_one_through(
    aws: Any, moto_endpoint: str
) -> None:
    clients = [aws("dynamodb") for _ in range(CONCURRENT_DISPATCHES)]  # one per function container
    for round_ in range(ROUNDS):
        table = limits_table(aws, moto_endpoint)
        health = breaker(aws, table)
        breakers = [
            DynamoDBProviderHealth(
                client,
                table,
                failure_threshold=THRESHOLD,
                open_seconds=OPEN_SECONDS,
                probe_lease_seconds=PROBE_LEASE_SECONDS,
            )
            for client in clients
        ]

        # Every dispatch fails at once: one of them opens the breaker.
        opened = all_at_once(breakers, failures(T0))

        assert opened.count(True) == 1, f"round {round_}: {opened.count(True)} calls opened it"
        assert health.reading("eachlabs", now=T0) == HealthReading(
            BreakerState.OPEN, consecutive_failures=CONCURRENT_DISPATCHES, open_until=at(OPEN_SECONDS)
        )

        # When it is due, every dispatch asks at once: one probes, the rest look again soon.
        answers = all_at_once(breakers, admissions(at(OPEN_SECONDS), f"round-{round_}"))

        admitted = [answer for answer in answers if isinstance(answer, Admitted)]
        assert admitted == [Admitted(probe=True, clean=False)], f"round {round_}: {len(admitted)} admitted"
        assert answers.count(BreakerOpen(seconds=1.0)) == CONCURRENT_DISPATCHES - 1

        # The probe and stragglers fail at once while half-open: one of them opens it again, and when
        # that is due, again exactly one probe goes through.
        reopened = all_at_once(breakers, failures(at(OPEN_SECONDS + 1)))

        assert reopened.count(True) == 1, f"round {round_}: {reopened.count(True)} calls reopened it"
        answers = all_at_once(breakers, admissions(at(2 * OPEN_SECONDS + 1), f"round-{round_}-again"))
        admitted = [answer for answer in answers if isinstance(answer, Admitted)]
        assert admitted == [Admitted(probe=True, clean=False)], f"round {round_}: {len(admitted)} admitted"
        aws("dynamodb").delete_table(TableName=table)
