"""Slot hand-off: a job that finds every slot taken waits in its provider's line, and whoever gives a
slot back wakes the job that has waited longest, at once; the delayed look stays as the safety net."""

import pytest

from tests.support import FakeWorld
from videojobs.errors import ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.cancel import cancel_job
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job
from videojobs.logic.intake import accept_job
from videojobs.models import (
    DispatchRequest,
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderState,
    ProviderUpdate,
)
from videojobs.ports import CapacityGrant, CapacityWait


def queued(world: FakeWorld) -> Job:
    request = JobRequest(provider="eachlabs", prompt="a lighthouse")
    job = accept_job(request, HttpOrigin(), world.deps()).job
    world.dispatches.take()
    return job


def dispatch(world: FakeWorld, request: DispatchRequest) -> DispatchOutcome:
    return dispatch_job(request, world.deps())


def first_dispatch(world: FakeWorld, job: Job) -> DispatchOutcome:
    return dispatch(world, DispatchRequest(job_id=job.job_id))


def finish(world: FakeWorld, job: Job) -> None:
    """The provider says the job failed: it leaves the provider and gives its slot back."""
    stored = world.jobs.jobs[job.job_id]
    update = ProviderUpdate(
        provider_job_id=stored.provider_job_id or "", state=ProviderState.FAILED, error_message="nsfw"
    )
    apply_provider_update(stored, update, world.deps())


def full_world(*waiting: int) -> tuple[FakeWorld, Job, list[Job]]:
    """One slot, held by a submitted job, and ``len(waiting)`` jobs that found it taken, each a second
    after the one before."""
    world = FakeWorld()
    world.capacity.limit = 1
    holder = queued(world)
    assert first_dispatch(world, holder) is DispatchOutcome.SUBMITTED
    jobs = []
    for _ in waiting:
        world.clock.advance(1)
        job = queued(world)
        assert first_dispatch(world, job) is DispatchOutcome.WAITING_FOR_CAPACITY
        jobs.append(job)
    return world, holder, jobs


def test_a_job_that_finds_every_slot_taken_waits_in_line_and_its_delayed_look_names_its_place() -> None:
    world, _, (waiting,) = full_world(1)

    (look,) = world.dispatches.take()

    assert world.capacity.waiting() == [waiting.job_id]
    assert look.request.job_id == waiting.job_id
    assert look.request.slot_wait is not None
    assert look.request.slot_wait.provider == "eachlabs"
    assert not look.request.slot_wait.woken
    assert 10 <= look.delay_seconds <= 15  # the safety net: DISPATCH_CAPACITY_RETRY_SECONDS, jittered


def test_the_slot_given_back_goes_at_once_to_the_job_that_waited_longest() -> None:
    world, holder, (oldest, newer) = full_world(1, 2)
    world.dispatches.take()

    finish(world, holder)

    (wake,) = world.dispatches.take()
    assert wake.request.job_id == oldest.job_id
    assert wake.delay_seconds == 0
    assert wake.request.slot_wait is not None
    assert wake.request.slot_wait.woken
    assert dispatch(world, wake.request) is DispatchOutcome.SUBMITTED
    assert world.jobs.jobs[oldest.job_id].status is JobStatus.SUBMITTED
    assert world.capacity.waiting() == [newer.job_id]
    assert world.dispatches.take() == []  # a woken job's delayed look is already on the queue


def test_a_delayed_look_for_a_place_the_job_has_left_sends_nothing() -> None:
    world, holder, (waiting,) = full_world(1)
    (look,) = world.dispatches.take()
    finish(world, holder)
    (wake,) = world.dispatches.take()
    dispatch(world, wake.request)
    # The job then waits out a backoff after a 429 on its next provider turn: the old look must not
    # cut it short.
    world.jobs.jobs[waiting.job_id] = world.jobs.jobs[waiting.job_id].model_copy(
        update={"status": JobStatus.QUEUED, "create_sent_at": None}
    )
    created = len(world.provider.created)

    assert dispatch(world, look.request) is DispatchOutcome.NOT_NEEDED

    assert len(world.provider.created) == created
    assert world.dispatches.take() == []


def test_two_slots_given_back_wake_two_different_jobs_oldest_first() -> None:
    world, holder, (first, second, third) = full_world(1, 2, 3)
    world.capacity.limit = 2
    other = queued(world)
    assert first_dispatch(world, other) is DispatchOutcome.SUBMITTED  # the second slot, just opened
    world.dispatches.take()

    finish(world, holder)
    finish(world, other)

    woken = [queued.request.job_id for queued in world.dispatches.take()]
    assert woken == [first.job_id, second.job_id]
    assert world.capacity.waiting() == [first.job_id, second.job_id, third.job_id]  # claimed, not yet gone


def test_a_woken_job_that_finds_its_slot_taken_by_a_newcomer_keeps_its_place_at_the_head() -> None:
    world, holder, (oldest, newer) = full_world(1, 2)
    world.dispatches.take()
    finish(world, holder)
    (wake,) = world.dispatches.take()
    newcomer = queued(world)
    assert first_dispatch(world, newcomer) is DispatchOutcome.SUBMITTED  # it came first to the free slot
    world.dispatches.take()

    assert dispatch(world, wake.request) is DispatchOutcome.WAITING_FOR_CAPACITY

    assert world.dispatches.take() == []  # no second delayed look: the first is still on its way
    assert world.capacity.waiting() == [oldest.job_id, newer.job_id]
    finish(world, newcomer)
    (again,) = world.dispatches.take()
    assert again.request.job_id == oldest.job_id  # unclaimed again, and still the oldest


def test_a_wake_its_job_cannot_use_goes_on_to_the_next_in_line() -> None:
    world, holder, (canceled, next_in_line) = full_world(1, 2)
    world.dispatches.take()
    cancel_job(canceled.job_id, world.deps())
    finish(world, holder)
    (wake,) = world.dispatches.take()
    assert wake.request.job_id == canceled.job_id

    assert dispatch(world, wake.request) is DispatchOutcome.NOT_NEEDED

    (passed_on,) = world.dispatches.take()
    assert passed_on.request.job_id == next_in_line.job_id
    assert passed_on.delay_seconds == 0
    assert world.capacity.waiting() == [next_in_line.job_id]  # the canceled job left the line


def test_a_job_short_of_creates_per_minute_waits_the_computed_time_out_of_line() -> None:
    world = FakeWorld()
    world.capacity.short_of_creates = True
    world.capacity.wait_seconds = 42
    job = queued(world)

    assert first_dispatch(world, job) is DispatchOutcome.WAITING_FOR_RATE

    (look,) = world.dispatches.take()
    assert look.request.slot_wait is None
    assert 42 <= look.delay_seconds <= 63
    assert world.capacity.waiting() == []


def test_a_slot_given_back_while_the_job_was_joining_the_line_is_taken_by_its_second_look() -> None:
    world = FakeWorld()
    world.capacity.limit = 1
    holder, late = queued(world), queued(world)
    first_dispatch(world, holder)
    slot = world.jobs.jobs[holder.job_id].capacity_slot
    assert slot is not None
    join_line = world.capacity.join_line

    def released_just_before(provider: str, job_id: str, *, since: object) -> None:
        # The holder gave its slot back after the late job's first look, and found nobody in line.
        assert world.capacity.release(slot, holder.job_id) is None
        join_line(provider, job_id, since=since)  # type: ignore[arg-type]

    world.capacity.join_line = released_just_before  # type: ignore[method-assign]

    assert first_dispatch(world, late) is DispatchOutcome.SUBMITTED
    assert world.capacity.waiting() == []  # taken out of the line once its create was sent


def test_a_refused_create_hands_its_slot_on() -> None:
    world, _, (waiting,) = full_world(1)
    world.capacity.limit = 2
    refused = queued(world)
    world.provider.error = ProviderError("bad prompt", retryable=False, status_code=400)
    world.dispatches.take()

    assert first_dispatch(world, refused) is DispatchOutcome.FAILED

    (wake,) = world.dispatches.take()
    assert wake.request.job_id == waiting.job_id


@pytest.mark.parametrize("woken", [True, False])
def test_leaving_the_line_is_the_last_step_so_a_crash_before_it_leaves_the_message_needed(
    woken: bool,
) -> None:
    world, holder, (waiting,) = full_world(1)
    (look,) = world.dispatches.take()
    finish(world, holder)
    (wake,) = world.dispatches.take()
    request = wake.request if woken else look.request
    world.capacity.leave_line = _crash  # type: ignore[method-assign]

    with pytest.raises(RuntimeError):
        dispatch(world, request)

    assert world.jobs.jobs[waiting.job_id].status is JobStatus.SUBMITTED
    assert world.capacity.waiting() == [waiting.job_id]  # so the redelivery is not dropped unread


def _crash(*_: object, **__: object) -> None:
    raise RuntimeError("the function died")


def test_the_fake_answers_as_the_adapter_does() -> None:
    world = FakeWorld()
    world.capacity.limit = 1
    now = world.clock()
    assert isinstance(world.capacity.acquire("eachlabs", "a", now=now), CapacityGrant)
    assert world.capacity.acquire("eachlabs", "b", now=now) == CapacityWait(seconds=5.0, for_a_slot=True)
