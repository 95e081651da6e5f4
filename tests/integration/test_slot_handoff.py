"""The providers' lines for a slot on the template's limits table, served by moto over HTTP: the
oldest waiter is woken first, none twice, and under many threads taking and giving back slots at once
no slot is ever held by two jobs and no job waits on a free slot for its delayed look.

Each test uses a provider of its own (the table is shared by the session), so one test's releases
never wake another's waiters."""

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from local.aws import ProvisionedStack
from videojobs.adapters.capacity import DynamoDBCapacity, KeyPool
from videojobs.dependencies import Dependencies
from videojobs.logic.handoff import give_back_slot
from videojobs.models import DispatchRequest, ProviderName
from videojobs.ports import CapacityGrant, CapacityWait
from videojobs.settings import KeyLimits

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def capacity(aws: Any, aws_resources: ProvisionedStack, provider: str, pool: KeyPool) -> DynamoDBCapacity:
    return DynamoDBCapacity(
        aws("dynamodb"),
        aws_resources.refs["ProviderLimitsTable"],
        {cast(ProviderName, provider): pool},
        lease_seconds=600,
    )


def test_the_oldest_waiter_is_claimed_first_and_each_waiter_once(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given three jobs in the line, joined out of the order of their waits
    limits = capacity(aws, aws_resources, "fal", KeyPool(["line-a"], KeyLimits(1, 1000)))
    for job_id, seconds in [("middle", 2), ("newest", 3), ("oldest", 1)]:
        limits.join_line("fal", job_id, since=NOW + timedelta(seconds=seconds))

    # When the line is asked four times
    claimed = [limits.next_in_line("fal") for _ in range(4)]

    # Then it answers oldest first, each once, then nobody; each still in line until it leaves
    assert [waiter.job_id if waiter else None for waiter in claimed] == ["oldest", "middle", "newest", None]
    assert claimed[0] is not None
    assert claimed[0].wait.since == NOW + timedelta(seconds=1)
    assert claimed[0].wait.woken
    assert limits.in_line("fal", "oldest", since=NOW + timedelta(seconds=1))
    # Joining again hands the claim back: the job is the oldest unclaimed once more.
    limits.join_line("fal", "oldest", since=NOW + timedelta(seconds=1))
    again = limits.next_in_line("fal")
    assert again is not None
    assert again.job_id == "oldest"
    for job_id, seconds in [("oldest", 1), ("middle", 2), ("newest", 3)]:
        limits.leave_line("fal", job_id, since=NOW + timedelta(seconds=seconds))
    assert not limits.in_line("fal", "oldest", since=NOW + timedelta(seconds=1))
    assert limits.next_in_line("fal") is None


def test_a_release_wakes_the_oldest_waiter_only_when_it_frees_a_slot(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limits = capacity(aws, aws_resources, "replicate", KeyPool(["line-b"], KeyLimits(1, 1000)))
    grant = limits.acquire("replicate", "holder", now=NOW)
    assert isinstance(grant, CapacityGrant)
    full = limits.acquire("replicate", "waiter", now=NOW)
    assert full == CapacityWait(seconds=0.0, for_a_slot=True)
    limits.join_line("replicate", "waiter", since=NOW)

    assert limits.release(grant.slot, "someone-else") is None  # frees nothing, wakes nobody
    woken = limits.release(grant.slot, "holder")
    assert limits.release(grant.slot, "holder") is None  # a second release frees nothing

    assert woken is not None
    assert woken.job_id == "waiter"
    assert isinstance(limits.acquire("replicate", "waiter", now=NOW), CapacityGrant)


def test_a_key_short_of_creates_is_not_a_wait_for_a_slot(aws: Any, aws_resources: ProvisionedStack) -> None:
    limits = capacity(aws, aws_resources, "byteplus", KeyPool(["line-c"], KeyLimits(5, 1)))
    assert isinstance(limits.acquire("byteplus", "first", now=NOW), CapacityGrant)

    wait = limits.acquire("byteplus", "second", now=NOW)

    assert isinstance(wait, CapacityWait)
    assert not wait.for_a_slot
    assert wait.seconds > 0


@dataclass
class Wakes:
    """The dispatch queue as the hand-off uses it: each wake sets its job's event at once."""

    events: dict[str, threading.Event]
    sent: list[DispatchRequest] = field(default_factory=list)

    def enqueue(self, request: DispatchRequest, *, delay_seconds: int = 0) -> None:
        assert delay_seconds == 0
        self.sent.append(request)
        self.events[request.job_id].set()


def test_many_jobs_taking_and_giving_back_slots_at_once_never_share_one_and_never_wait_on_a_free_one(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given a pool of two keys with two slots each, and 24 jobs that each want a slot once
    provider = "atlascloud"
    limits = capacity(aws, aws_resources, provider, KeyPool(["pool-a", "pool-b"], KeyLimits(2, 100_000)))
    jobs = [f"job-{index:02d}" for index in range(24)]
    wakes = Wakes({job_id: threading.Event() for job_id in jobs})
    deps = cast(Dependencies, type("HandOff", (), {"capacity": limits, "dispatches": wakes})())
    lock = threading.Lock()
    holding: dict[str, int] = {}
    peak: dict[str, int] = {}
    served: list[str] = []
    stranded: list[str] = []
    start = threading.Barrier(len(jobs))

    def hold(job_id: str, grant: CapacityGrant) -> None:
        with lock:
            holding[grant.slot] = holding.get(grant.slot, 0) + 1
            peak[grant.slot] = max(peak.get(grant.slot, 0), holding[grant.slot])
            served.append(job_id)
        time.sleep(random.uniform(0.0, 0.02))  # noqa: S311
        with lock:
            holding[grant.slot] -= 1

    def job(job_id: str) -> None:
        # What the submit function does with a job, the delayed look left out: only wakes move it.
        start.wait(timeout=10)
        since: datetime | None = None
        for _ in range(len(jobs) * 2):  # more wakes than any job can need
            grant = limits.acquire(provider, job_id, now=datetime.now(UTC))  # type: ignore[arg-type]
            if isinstance(grant, CapacityWait):
                assert grant.for_a_slot
                since = since or datetime.now(UTC)
                wakes.events[job_id].clear()
                limits.join_line(provider, job_id, since=since)  # type: ignore[arg-type]
                grant = limits.acquire(provider, job_id, now=datetime.now(UTC))  # type: ignore[arg-type]
            if isinstance(grant, CapacityGrant):
                hold(job_id, grant)
                if since is not None:
                    limits.leave_line(provider, job_id, since=since)  # type: ignore[arg-type]
                give_back_slot(grant.slot, job_id, deps)
                return
            if not wakes.events[job_id].wait(timeout=20):
                stranded.append(job_id)  # its delayed look would have been its only way on
                return
        stranded.append(job_id)

    # When they all run at once
    threads = [threading.Thread(target=job, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every job held a slot once, no slot ever had two holders, none was left waiting, and the
    # line and the slots are empty at the end
    assert stranded == []
    assert sorted(served) == jobs
    assert set(peak.values()) == {1}
    assert len(peak) <= 4
    assert wakes.sent  # the hand-off did the work: most jobs found the slots full at first
    assert limits.next_in_line(provider) is None  # type: ignore[arg-type]
    assert limits.usage(provider, now=datetime.now(UTC)).slots_in_use == 0  # type: ignore[arg-type]


class QueriesInStep:
    """A DynamoDB client whose queries return together: two releasers both read the line before
    either claims a place in it, the race the claim's condition is there for."""

    def __init__(self, client: Any, parties: int) -> None:
        self._client = client
        self._barrier = threading.Barrier(parties, timeout=10)

    def query(self, **request: Any) -> Any:
        page = self._client.query(**request)
        self._barrier.wait()
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_two_releasers_that_read_the_line_together_wake_its_one_waiter_once(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    # Given one job in the line, and two releasers whose reads of the line return at the same time
    pool = KeyPool(["line-race"], KeyLimits(2, 1000))
    capacity(aws, aws_resources, "atlascloud", pool).join_line("atlascloud", "only-waiter", since=NOW)
    in_step = QueriesInStep(aws("dynamodb"), parties=2)
    releasers = [
        DynamoDBCapacity(
            cast(Any, in_step),
            aws_resources.refs["ProviderLimitsTable"],
            {cast(ProviderName, "atlascloud"): pool},
            lease_seconds=600,
        )
        for _ in range(2)
    ]

    # When both look for the next in line at once
    woken: list[str | None] = []
    threads = [
        threading.Thread(
            target=lambda r=releaser: woken.append(getattr(r.next_in_line("atlascloud"), "job_id", None))
        )
        for releaser in releasers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    # Then both saw the waiter, and exactly one of them claimed it
    assert sorted(woken, key=str) == [None, "only-waiter"]
