"""POST /jobs/{job_id}/cancel's logic: which states a cancel ends, what the provider is asked, when the
job's provider slot is given back, and that a cancel and a webhook racing leave exactly one winner."""

import json
from typing import Any

import pytest

from tests.support import FakeProvider, FakeWorld, InMemoryJobStore, submit_job
from videojobs.errors import CancelRefused, JobNotCancelable, JobNotFound, ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.cancel import cancel_job
from videojobs.logic.dead_letters import end_dead_lettered
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job
from videojobs.logic.intake import accept_job
from videojobs.logic.notify import NotifyMessage, NotifyOutcome, notify_caller
from videojobs.logic.outcomes import OWED_CANCEL_GRACE, settle_owed_work, stop_at_provider
from videojobs.logic.status_checks import CheckOutcome, check_job_status
from videojobs.models import (
    JOB_CANCELED,
    CancelView,
    DispatchRequest,
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderCancel,
    ProviderCancelStatus,
    ProviderState,
    ProviderUpdate,
    StatusCheckRequest,
)

REQUEST = JobRequest(provider="fal", prompt="a lighthouse")


def queued_job(world: FakeWorld, request: JobRequest = REQUEST) -> Job:
    return accept_job(request, HttpOrigin(), world.deps()).job


def running_job(world: FakeWorld, provider: str = "fal") -> Job:
    world.providers[provider].links = {"cancel_url": "https://queue.fal.run/cancel/1"}
    return submit_job(JobRequest(provider=provider, prompt="a lighthouse"), world.deps())  # type: ignore[arg-type]


def processing(job: Job) -> ProviderUpdate:
    return ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.PROCESSING)


def finished(job: Job) -> ProviderUpdate:
    return ProviderUpdate(
        provider_job_id=job.provider_job_id or "",
        state=ProviderState.SUCCEEDED,
        output_url="https://cdn.example.com/out.mp4",
    )


def stored(world: FakeWorld, job: Job) -> Job:
    return world.jobs.jobs[job.job_id]


# -- queued: nothing was sent ---------------------------------------------------------------------------
def test_a_queued_job_is_canceled_at_once_and_the_dispatcher_sends_nothing_and_takes_no_slot() -> None:
    world = FakeWorld()
    job = queued_job(world)

    canceled = cancel_job(job.job_id, world.deps())

    assert canceled.status is JobStatus.CANCELED
    assert canceled.error is not None
    assert canceled.error.code == "canceled"
    assert canceled.view().cancel == CancelView(requested_at=world.clock(), provider_cancel=None, error=None)
    assert world.providers["fal"].cancelled == []

    assert world.dispatch_all() == [DispatchOutcome.NOT_NEEDED]
    assert world.providers["fal"].created == []
    assert world.capacity.holders == {}
    assert world.capacity.release_calls == []


# -- submitted / processing: the provider's own cancel ------------------------------------------------
@pytest.mark.parametrize("state", ["submitted", "processing"])
def test_a_running_job_is_canceled_with_the_providers_own_cancel_and_its_slot_freed(state: str) -> None:
    world = FakeWorld()
    job = running_job(world)
    if state == "processing":
        apply_provider_update(job, processing(job), world.deps())
    assert stored(world, job).status is JobStatus(state)

    canceled = cancel_job(job.job_id, world.deps())

    assert canceled.status is JobStatus.CANCELED
    assert world.providers["fal"].cancelled == [
        (job.provider_job_id, {"cancel_url": "https://queue.fal.run/cancel/1"})
    ]
    assert canceled.provider_cancel == ProviderCancel(status=ProviderCancelStatus.CANCELED)
    view = canceled.view()
    assert view.cancel == CancelView(requested_at=world.clock(), provider_cancel="accepted", error=None)
    assert world.capacity.holders == {}  # the provider stopped it: its slot is free now
    assert canceled.capacity_slot is None


@pytest.mark.parametrize(
    ("refusal", "answer"),
    [
        (CancelRefused("fal: the request has already completed"), "refused"),
        (CancelRefused("atlascloud has no cancel call", unsupported=True), "unsupported"),
        (ProviderError("HTTP 404", retryable=False, status_code=404), "refused"),
    ],
)
def test_a_cancel_the_provider_cannot_take_still_cancels_the_job_and_keeps_its_slot(
    refusal: Exception, answer: str
) -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = refusal

    canceled = cancel_job(job.job_id, world.deps())

    assert canceled.status is JobStatus.CANCELED
    assert canceled.view().cancel == CancelView(
        requested_at=world.clock(),
        provider_cancel=answer,  # type: ignore[arg-type]
        error=str(refusal),
    )
    # It may still render there: the slot stays held until the provider is done with it.
    assert list(world.capacity.holders.values()) == [job.job_id]


def test_a_cancel_that_fails_for_now_leaves_it_owed_and_the_next_status_check_asks_again() -> None:
    world = FakeWorld()
    job = running_job(world)
    provider = world.providers["fal"]
    provider.cancel_error = ProviderError("HTTP 503", retryable=True, status_code=503)

    canceled = cancel_job(job.job_id, world.deps())

    assert canceled.status is JobStatus.CANCELED
    assert canceled.view().cancel == CancelView(requested_at=world.clock(), provider_cancel=None, error=None)
    assert [event.job_id for event in world.events.canceled] == [job.job_id]  # announced anyway

    provider.cancel_error = None
    world.clock.advance(120)
    check_job_status(StatusCheckRequest(job_id=job.job_id, dispatch_attempt=1), world.deps())

    assert len(provider.cancelled) == 2
    assert stored(world, job).view().cancel.provider_cancel == "accepted"  # type: ignore[union-attr]
    assert world.capacity.holders == {}


def canceled_with_the_provider_cancel_owed() -> tuple[FakeWorld, Job, FakeProvider]:
    """A running fal job canceled while fal could not take the cancel (503): canceled, the cancel owed,
    and fal taking cancels again."""
    world = FakeWorld()
    job = running_job(world)
    provider = world.providers["fal"]
    provider.cancel_error = ProviderError("HTTP 503", retryable=True, status_code=503)
    cancel_job(job.job_id, world.deps())
    provider.cancel_error = None
    return world, job, provider


def test_a_cancel_asked_moments_ago_is_left_to_its_call_and_a_later_status_check_asks_again() -> None:
    world, job, provider = canceled_with_the_provider_cancel_owed()
    check = StatusCheckRequest(job_id=job.job_id, dispatch_attempt=1)

    world.clock.advance(OWED_CANCEL_GRACE.total_seconds() - 1)
    check_job_status(check, world.deps())
    assert len(provider.cancelled) == 1  # within the grace nobody races the cancel's own call

    world.clock.advance(1)
    check_job_status(check, world.deps())
    assert len(provider.cancelled) == 2
    assert stored(world, job).view().cancel.provider_cancel == "accepted"  # type: ignore[union-attr]


def test_a_delivery_within_the_grace_for_a_job_no_chain_watches_schedules_the_look_after_it() -> None:
    world, job, provider = canceled_with_the_provider_cancel_owed()
    world.jobs.jobs[job.job_id] = stored(world, job).model_copy(update={"capacity_slot": None})
    world.status_checks.scheduled.clear()
    world.clock.advance(10)

    settle_owed_work(stored(world, job), world.deps())

    assert len(provider.cancelled) == 1
    (later,) = world.status_checks.scheduled
    assert later.request == StatusCheckRequest(job_id=job.job_id)
    assert later.delay_seconds == OWED_CANCEL_GRACE.total_seconds() - 10 + 1
    world.clock.advance(later.delay_seconds)
    check_job_status(later.request, world.deps())
    assert stored(world, job).view().cancel.provider_cancel == "accepted"  # type: ignore[union-attr]


def test_of_two_settling_one_owed_cancel_the_later_refusal_does_not_overwrite_the_acceptance() -> None:
    world, job, provider = canceled_with_the_provider_cancel_owed()
    owed = stored(world, job)
    # The cancel function and the callback of the provider's webhook both read it owed, then both ask.
    first = stop_at_provider(owed, world.deps(), last_try=False)
    provider.cancel_error = CancelRefused("fal: the request is already cancelled")

    second = stop_at_provider(owed, world.deps(), last_try=False)

    assert first.view().cancel.provider_cancel == "accepted"  # type: ignore[union-attr]
    assert second == stored(world, job) == first
    assert len(provider.cancelled) == 3  # the failed one, then both


# -- too late, and idempotent ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status", [JobStatus.TRANSFERRING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.EXPIRED]
)
def test_a_job_transferring_or_ended_otherwise_is_not_cancelable_and_its_status_is_named(
    status: JobStatus,
) -> None:
    world = FakeWorld()
    job = running_job(world)
    world.jobs.jobs[job.job_id] = stored(world, job).model_copy(update={"status": status})
    before = stored(world, job)

    with pytest.raises(JobNotCancelable) as refused:
        cancel_job(job.job_id, world.deps())

    assert refused.value.status == status
    assert status.value in str(refused.value)
    assert stored(world, job) == before
    assert world.providers["fal"].cancelled == []
    assert world.events.canceled == []


def test_an_unknown_job_is_not_found() -> None:
    with pytest.raises(JobNotFound):
        cancel_job("7d3f6c1e-2b4a-4e8f-9a51-0c6de2f4b8a9", FakeWorld().deps())


def test_a_second_cancel_returns_the_same_job_and_asks_and_announces_nothing_more() -> None:
    world = FakeWorld()
    job = running_job(world)
    first = cancel_job(job.job_id, world.deps())
    world.clock.advance(30)

    again = cancel_job(job.job_id, world.deps())

    assert again.view() == first.view()
    assert len(world.providers["fal"].cancelled) == 1
    assert len(world.events.canceled) == 1


def test_a_second_cancel_publishes_the_event_the_first_could_not() -> None:
    world = FakeWorld()
    job = queued_job(world)
    world.events.fail_next = 1
    with pytest.raises(Exception, match="EventBridge"):
        cancel_job(job.job_id, world.deps())
    assert stored(world, job).status is JobStatus.CANCELED

    cancel_job(job.job_id, world.deps())

    assert [event.job_id for event in world.events.canceled] == [job.job_id]
    assert stored(world, job).pending_event is None


# -- the race with a webhook: one winner ----------------------------------------------------------------
class WebhookFirst(InMemoryJobStore):
    """A store where the provider's webhook lands between the cancel's read and its write."""

    def __init__(self, world: FakeWorld, update: ProviderUpdate) -> None:
        super().__init__()
        self.world, self.update, self.fired = world, update, False

    def transition(self, job_id: str, **kwargs: Any) -> Any:
        if kwargs["to"] is JobStatus.CANCELED and not self.fired:
            self.fired = True
            apply_provider_update(self.jobs[job_id], self.update, self.world.deps())
        return super().transition(job_id, **kwargs)


def test_a_webhook_that_wins_the_race_makes_the_cancel_a_409_and_its_video_is_copied() -> None:
    world = FakeWorld()
    job = running_job(world)
    store = WebhookFirst(world, finished(job))
    store.jobs = dict(world.jobs.jobs)
    world.jobs = store

    with pytest.raises(JobNotCancelable):
        cancel_job(job.job_id, world.deps())

    assert stored(world, job).status is JobStatus.TRANSFERRING
    assert len(world.transfers.sent) == 1
    assert world.events.canceled == []
    assert world.providers["fal"].cancelled == []


def test_a_cancel_that_wins_the_race_makes_the_webhook_change_nothing_and_copy_nothing() -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = CancelRefused("fal: running", unsupported=False)
    cancel_job(job.job_id, world.deps())

    receipt = apply_provider_update(job, finished(job), world.deps())  # the job as read before the cancel

    assert receipt.status is JobStatus.CANCELED
    assert stored(world, job).status is JobStatus.CANCELED
    assert world.transfers.sent == []
    assert stored(world, job).output_url is None
    # ...but the provider is done with it now: the slot it kept is free.
    assert world.capacity.holders == {}
    assert stored(world, job).capacity_slot is None


def test_a_late_webhook_saying_still_processing_keeps_the_slot() -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = CancelRefused("fal: running")
    cancel_job(job.job_id, world.deps())

    apply_provider_update(stored(world, job), processing(job), world.deps())

    assert stored(world, job).status is JobStatus.CANCELED
    assert list(world.capacity.holders.values()) == [job.job_id]


class SubmittedMeanwhile(InMemoryJobStore):
    """A store where the submit function records its create between the cancel's read and its write."""

    def transition(self, job_id: str, **kwargs: Any) -> Any:
        job = self.jobs[job_id]
        if kwargs["to"] is JobStatus.CANCELED and job.provider_job_id is None:
            self.jobs[job_id] = job.model_copy(
                update={"status": JobStatus.SUBMITTED, "provider_job_id": "pred-9", "capacity_slot": "slot-1"}
            )
        return super().transition(job_id, **kwargs)


def test_a_prediction_recorded_between_the_cancels_read_and_write_is_still_asked_to_stop() -> None:
    world = FakeWorld()
    job = queued_job(world)
    store = SubmittedMeanwhile()
    store.jobs = dict(world.jobs.jobs)
    world.jobs = store

    canceled = cancel_job(job.job_id, world.deps())

    assert canceled.status is JobStatus.CANCELED
    assert world.providers["fal"].cancelled == [("pred-9", None)]
    assert canceled.view().cancel.provider_cancel == "accepted"  # type: ignore[union-attr]


# -- the slot of a prediction that may still render -----------------------------------------------------
def test_status_checks_watch_a_canceled_prediction_until_the_provider_is_done_then_free_its_slot() -> None:
    world = FakeWorld()
    job = running_job(world)
    provider = world.providers["fal"]
    provider.cancel_error = CancelRefused("running", unsupported=True)
    cancel_job(job.job_id, world.deps())
    world.status_checks.scheduled.clear()

    world.clock.advance(120)
    first = check_job_status(StatusCheckRequest(job_id=job.job_id, dispatch_attempt=1), world.deps())
    assert first is CheckOutcome.CHECKED
    assert list(world.capacity.holders.values()) == [job.job_id]
    (next_check,) = world.status_checks.scheduled

    provider.answers = [finished(job)]
    world.clock.advance(next_check.delay_seconds)
    check_job_status(next_check.request, world.deps())

    assert world.capacity.holders == {}
    assert stored(world, job).status is JobStatus.CANCELED
    assert world.transfers.sent == []
    assert len(world.status_checks.scheduled) == 1  # no further look


def test_a_canceled_prediction_still_running_at_the_maximum_age_frees_its_slot_then() -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = CancelRefused("running", unsupported=True)
    cancel_job(job.job_id, world.deps())
    world.clock.advance(7200)

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id, dispatch_attempt=1), world.deps())

    assert outcome is CheckOutcome.EXPIRED
    assert world.capacity.holders == {}
    assert stored(world, job).status is JobStatus.CANCELED  # still canceled, never expired


def test_a_cancel_while_the_create_is_on_the_wire_cancels_the_prediction_it_made() -> None:
    world = FakeWorld()
    job = queued_job(world)
    provider = world.providers["fal"]
    real_create = provider.create_prediction

    def create_then_see_a_cancel(request: JobRequest, webhook: Any) -> Any:
        receipt = real_create(request, webhook)
        cancel_job(job.job_id, world.deps())
        return receipt

    provider.create_prediction = create_then_see_a_cancel  # type: ignore[method-assign]

    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    canceled = stored(world, job)
    assert canceled.status is JobStatus.CANCELED
    assert canceled.provider_job_id == "pred-1"
    assert provider.cancelled == [("pred-1", None)]
    assert canceled.view().cancel.provider_cancel == "accepted"  # type: ignore[union-attr]
    assert world.capacity.holders == {}


# -- the outcome: an event and a notification -----------------------------------------------------------
def test_the_cancel_is_announced_once_as_video_job_canceled_and_notified_as_video_job_canceled() -> None:
    world = FakeWorld()
    job = queued_job(world, REQUEST.model_copy(update={"notify_url": "https://hooks.example.com/in"}))

    canceled = cancel_job(job.job_id, world.deps())

    (announced,) = world.events.canceled
    assert announced.status is JobStatus.CANCELED
    assert world.events.failed == []
    assert stored(world, job).pending_event is None
    event = {"detail-type": JOB_CANCELED, "detail": canceled.view().model_dump(mode="json")}
    assert notify_caller(NotifyMessage.model_validate(event), world.deps()) is NotifyOutcome.DELIVERED
    body = json.loads(world.notifier.posted[0].body)
    assert body["type"] == "video.job.canceled"
    assert body["data"]["status"] == "canceled"
    assert body["data"]["cancel"]["requested_at"]


def test_a_dead_lettered_check_of_a_canceled_prediction_frees_its_slot_since_nobody_will_look_again() -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = CancelRefused("running", unsupported=True)
    cancel_job(job.job_id, world.deps())
    assert list(world.capacity.holders.values()) == [job.job_id]

    assert end_dead_lettered(StatusCheckRequest(job_id=job.job_id, dispatch_attempt=1), world.deps()) is None

    assert world.capacity.holders == {}
    assert stored(world, job).status is JobStatus.CANCELED
    assert world.events.failed == []
