"""Survivors of `make mutate` in logic/outcomes.py: who may publish an outcome event that is still owed;
expiring a job (its error, a job that finished meanwhile, the cancel through the key that created it,
the last try); a cancel that fails for now stays owed; a transfer that finished before its debt was
cleared."""

from dataclasses import dataclass, field

import pytest

from tests.support import FakeWorld, RecordingQueue, submit_job
from videojobs.errors import ProviderError
from videojobs.logic.callback import UpdateEffect, apply_provider_update
from videojobs.logic.dispatch import dispatch_job
from videojobs.logic.outcomes import deliver_pending_event, expire_job, queue_owed_transfer, stop_at_provider
from videojobs.models import (
    DispatchRequest,
    Job,
    JobRequest,
    JobStatus,
    ProviderCancel,
    ProviderCancelStatus,
    ProviderState,
    ProviderUpdate,
    TransferRequest,
)


def owed(world: FakeWorld, status: JobStatus) -> Job:
    """A job in ``status`` whose "Video Job Failed" is owed and claimed by no one."""
    job = submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())
    stored = job.model_copy(update={"status": status, "pending_event": "Video Job Failed"})
    world.jobs.jobs[job.job_id] = stored
    return stored


def test_nothing_is_published_for_no_job() -> None:
    world = FakeWorld()

    deliver_pending_event(None, world.deps())

    assert world.events.failed == []


def test_an_event_is_not_published_for_a_job_that_has_not_finished() -> None:
    world = FakeWorld()
    job = owed(world, JobStatus.PROCESSING)

    deliver_pending_event(job, world.deps())

    assert world.events.failed == []


def test_whoever_publishes_holds_the_claim_while_publishing() -> None:
    # Given a finished job whose event is owed, and a duplicate delivery that arrives while the first
    # delivery is publishing
    world = FakeWorld()
    job = owed(world, JobStatus.FAILED)
    publish = world.events.job_failed

    def duplicate_arrives_meanwhile(published: Job) -> None:
        world.events.job_failed = publish  # type: ignore[method-assign]
        deliver_pending_event(world.jobs.jobs[job.job_id], world.deps())
        publish(published)

    world.events.job_failed = duplicate_arrives_meanwhile  # type: ignore[method-assign]

    # When the first delivery publishes it
    deliver_pending_event(job, world.deps())

    # Then it goes out once
    assert [event.job_id for event in world.events.failed] == [job.job_id]


def submitted(world: FakeWorld) -> Job:
    return submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())


def test_an_expired_job_says_its_provider_gave_no_result_within_the_maximum_age() -> None:
    world = FakeWorld()

    expired = expire_job(submitted(world), world.deps())

    assert expired is not None
    assert expired.error is not None
    assert (expired.status, expired.error.code, expired.error.message) == (
        JobStatus.EXPIRED,
        "job_expired",
        "eachlabs gave no result within 7200 seconds",
    )


def test_expiring_a_job_that_finished_meanwhile_changes_nothing_and_cancels_nothing() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.jobs.jobs[job.job_id] = job.model_copy(update={"status": JobStatus.SUCCEEDED})

    assert expire_job(job, world.deps()) is None
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUCCEEDED
    assert world.provider.cancelled == []


def test_an_expired_jobs_prediction_is_cancelled_through_the_api_key_that_created_it() -> None:
    # Given a pool of two keys, and a job the second one created
    world = FakeWorld()
    second_key = world.add_key("eachlabs", "key-2")
    world.capacity.key_id = "key-2"
    job = submitted(world)

    expire_job(job, world.deps())

    # Then the cancel went to the second key's account: the first one's does not know the prediction
    assert [provider_job_id for provider_job_id, _ in second_key.cancelled] == [job.provider_job_id]
    assert world.provider.cancelled == []


def test_on_the_last_try_a_cancel_that_fails_for_now_is_recorded_as_failed() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.provider.cancel_error = ProviderError("eachlabs answered HTTP 503", retryable=True, status_code=503)

    expired = expire_job(job, world.deps(), last_try=True)

    assert expired is not None
    assert expired.provider_cancel is not None
    assert expired.provider_cancel.status is ProviderCancelStatus.FAILED


def test_a_stray_message_for_an_expired_job_leaves_a_cancel_that_failed_for_now_owed() -> None:
    # Given an expired job whose cancel is still owed, and a provider that cannot take it right now
    world = FakeWorld()
    job = submitted(world)
    world.provider.cancel_error = ProviderError("eachlabs answered HTTP 503", retryable=True, status_code=503)
    with pytest.raises(ProviderError):
        expire_job(job, world.deps())

    # When a dispatch message for it arrives, the cancel is asked again and fails again
    with pytest.raises(ProviderError):
        dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    # Then the message is delivered again (raised), and the cancel is still owed, not given up on
    stored = world.jobs.jobs[job.job_id]
    assert stored.provider_cancel is not None
    assert stored.provider_cancel.status is ProviderCancelStatus.PENDING
    assert len(world.provider.cancelled) == 2


@dataclass
class FastTransfers(RecordingQueue):
    """A transfer queue whose worker finishes each job before the enqueuer has cleared its debt."""

    world: FakeWorld = field(default_factory=FakeWorld)

    def enqueue(self, request: TransferRequest) -> None:
        super().enqueue(request)
        job = self.world.jobs.jobs[request.job_id]
        self.world.jobs.jobs[request.job_id] = job.model_copy(update={"status": JobStatus.SUCCEEDED})


def test_a_success_is_applied_even_when_its_transfer_finished_before_the_debt_was_cleared() -> None:
    world = FakeWorld()
    world.transfers = FastTransfers(world=world)
    job = submitted(world)
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "",
        state=ProviderState.SUCCEEDED,
        output_url="https://cdn.example.com/out.mp4",
    )

    receipt = apply_provider_update(job, update, world.deps())

    assert receipt.effect is UpdateEffect.APPLIED
    assert [transfer.job_id for transfer in world.transfers.sent] == [job.job_id]


def test_a_paid_transfer_debt_returns_the_job_as_written() -> None:
    # Given a transferring job that owes its transfer message
    world = FakeWorld()
    job = submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())
    owing = job.model_copy(
        update={
            "status": JobStatus.TRANSFERRING,
            "transfer_owed": True,
            "output_url": "https://cdn.example.com/v.mp4",
        }
    )
    world.jobs.jobs[job.job_id] = owing

    # When the debt is paid
    paid = queue_owed_transfer(owing, world.deps())

    # Then what comes back is the job without the debt, as stored
    assert paid.transfer_owed is None
    assert paid == world.jobs.jobs[job.job_id]


def test_a_cancel_whose_record_is_lost_returns_the_job_it_was_given() -> None:
    # Given an expired job that owes a cancel, and a provider during whose cancel the job moves on
    world = FakeWorld()
    job = submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())
    stored = job.model_copy(
        update={
            "status": JobStatus.EXPIRED,
            "provider_cancel": ProviderCancel(status=ProviderCancelStatus.PENDING),
        }
    )
    world.jobs.jobs[job.job_id] = stored

    def job_moves_on(provider_job_id: str, *, links: object = None) -> None:
        world.jobs.jobs[job.job_id] = stored.model_copy(update={"status": JobStatus.FAILED})

    world.provider.cancel = job_moves_on  # type: ignore[method-assign,assignment]

    # When the answer is recorded
    returned = stop_at_provider(stored, world.deps(), last_try=False)

    # Then the record was lost, and the job handed in comes back, not the store's answer
    assert returned is stored
    assert world.jobs.jobs[job.job_id].provider_cancel == stored.provider_cancel
