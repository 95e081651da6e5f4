"""The create-rate limiter against moto: every 60-second window of the grant times holds at most the
key's limit, for a storm of concurrent dispatches and for a storm after an idle spell."""

import itertools
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from local.aws import ProvisionedStack
from videojobs.adapters.capacity import DynamoDBCapacity, KeyPool
from videojobs.ports import CapacityGrant, CapacityWait
from videojobs.settings import KeyLimits

START = datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=UTC)
LIMIT = 100
#: Dispatches that run at the same moment, as many functions would.
CONCURRENT_DISPATCHES = 8
_key_ids = itertools.count()


def limiter(aws: Any, aws_resources: ProvisionedStack, limit: int = LIMIT) -> DynamoDBCapacity:
    """A fresh key (its own partition), with a slot for each dispatch that can run at once, each freed
    as soon as it is granted: only the create rate binds."""
    key_id = f"rate-storm-{next(_key_ids)}"
    return DynamoDBCapacity(
        aws("dynamodb"),
        aws_resources.refs["ProviderLimitsTable"],
        {
            "eachlabs": KeyPool(
                [key_id], KeyLimits(max_concurrent=CONCURRENT_DISPATCHES, max_creates_per_minute=limit)
            )
        },
        lease_seconds=600,
    )


def dispatch_storm(capacity: DynamoDBCapacity, jobs: Sequence[str], start: datetime) -> list[datetime]:
    """Every job asks at ``start``; a refused job asks again exactly when its answer says (the tightest
    a dispatcher could), and everyone due at the same moment asks at once, from several threads. The
    clock is virtual: it jumps to the next moment anyone is due. Returns the grant times."""
    due = dict.fromkeys(jobs, start)
    granted: list[datetime] = []

    def dispatch(job: str, now: datetime) -> CapacityGrant | CapacityWait:
        answer = capacity.acquire("eachlabs", job, now=now)
        if isinstance(answer, CapacityGrant):
            capacity.release(answer.slot, job)  # the job left the provider at once: only the rate binds
        return answer

    for _ in range(10_000):  # bounded: a storm of 300 ends within a few dozen moments
        if not due:
            return granted
        now = min(due.values())
        asking = [job for job, moment in due.items() if moment <= now]
        with ThreadPoolExecutor(CONCURRENT_DISPATCHES) as pool:
            answers = list(pool.map(dispatch, asking, [now] * len(asking)))
        for job, answer in zip(asking, answers, strict=True):
            if isinstance(answer, CapacityGrant):
                granted.append(now)
                del due[job]
            else:
                due[job] = now + timedelta(seconds=max(answer.seconds, 0.001))
    raise AssertionError(f"the storm did not end: {len(due)} jobs still waiting")


def busiest_window(times: Iterable[datetime], seconds: float = 60.0) -> int:
    """The most grants in any closed window of ``seconds`` (a window starting at each grant covers all)."""
    ordered = sorted(times)
    return max(
        sum(1 for other in ordered[index:] if (other - moment).total_seconds() <= seconds)
        for index, moment in enumerate(ordered)
    )


def test_a_storm_of_concurrent_dispatches_never_puts_more_than_the_limit_in_any_minute(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    capacity = limiter(aws, aws_resources)

    granted = dispatch_storm(capacity, [f"storm-{index}" for index in range(300)], START)

    assert len(granted) == 300
    assert busiest_window(granted) == LIMIT  # full use of the allowance, and never more
    # Not starved either: 300 creates at 100 a minute take about three minutes, not much more.
    assert (max(granted) - START).total_seconds() <= 3 * 61 + 1


def test_the_first_minute_after_an_idle_spell_holds_no_more_than_the_limit(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limit = 30
    capacity = limiter(aws, aws_resources, limit)
    # A steady trickle (one create every 4 s for two minutes), then five idle minutes.
    trickle = [START + timedelta(seconds=4 * index) for index in range(30)]
    for index, moment in enumerate(trickle):
        assert isinstance(
            granted := capacity.acquire("eachlabs", f"trickle-{index}", now=moment), CapacityGrant
        )
        capacity.release(granted.slot, f"trickle-{index}")
    after_idle = trickle[-1] + timedelta(minutes=5)

    granted_times = dispatch_storm(capacity, [f"after-idle-{index}" for index in range(90)], after_idle)

    assert len(granted_times) == 90
    assert busiest_window([*trickle, *granted_times]) == limit
    assert granted_times.count(after_idle) == limit  # the idle minute's whole allowance at once, no more


def test_a_storm_that_starts_while_the_minute_is_half_used_waits_for_the_window_to_slide(
    aws: Any, aws_resources: ProvisionedStack
) -> None:
    limit = 30
    capacity = limiter(aws, aws_resources, limit)
    earlier = [START + timedelta(seconds=index * 0.1) for index in range(20)]  # 20 creates in 2 s
    for index, moment in enumerate(earlier):
        assert isinstance(
            granted := capacity.acquire("eachlabs", f"early-{index}", now=moment), CapacityGrant
        )
        capacity.release(granted.slot, f"early-{index}")
    storm_start = START + timedelta(seconds=30)

    granted_times = dispatch_storm(capacity, [f"late-{index}" for index in range(40)], storm_start)

    assert len(granted_times) == 40
    assert busiest_window([*earlier, *granted_times]) == limit
    assert granted_times.count(storm_start) == limit - len(earlier)
