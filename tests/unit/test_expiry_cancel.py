"""A job that expires here may still be rendering at its provider: it is cancelled there through the
provider port, and what the provider said is recorded on the job."""

import pytest

from tests.support import FakeWorld, submit_job
from videojobs.errors import CancelRefused, ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.dead_letters import end_dead_lettered
from videojobs.logic.status_checks import CheckOutcome, check_job_status
from videojobs.models import (
    Job,
    JobRequest,
    JobStatus,
    ProviderCancel,
    ProviderCancelStatus,
    ProviderState,
    ProviderUpdate,
    StatusCheckRequest,
)

MAX_AGE = 7200


def running_job(world: FakeWorld, provider: str = "fal") -> Job:
    world.providers[provider].links = {"cancel_url": "https://queue.fal.run/cancel/1"}
    return submit_job(JobRequest(provider=provider, prompt="a lighthouse"), world.deps())  # type: ignore[arg-type]


def check(world: FakeWorld, job: Job) -> CheckOutcome:
    return check_job_status(StatusCheckRequest(job_id=job.job_id, attempt=9), world.deps())


def test_an_expired_job_is_cancelled_at_its_provider_with_the_links_its_create_returned() -> None:
    world = FakeWorld()
    job = running_job(world)
    world.clock.advance(MAX_AGE)

    assert check(world, job) is CheckOutcome.EXPIRED

    stored = world.jobs.jobs[job.job_id]
    assert stored.status is JobStatus.EXPIRED
    assert world.providers["fal"].cancelled == [
        (job.provider_job_id, {"cancel_url": "https://queue.fal.run/cancel/1"})
    ]
    assert stored.provider_cancel == ProviderCancel(status=ProviderCancelStatus.CANCELED)
    assert stored.view().provider_cancel == stored.provider_cancel  # callers see it too
    assert [event.status for event in world.events.failed] == [JobStatus.EXPIRED]  # announced once


@pytest.mark.parametrize(
    ("refusal", "recorded"),
    [
        (CancelRefused("eachlabs has no cancel call", unsupported=True), ProviderCancelStatus.UNSUPPORTED),
        (CancelRefused("byteplus cancels only queued tasks"), ProviderCancelStatus.REFUSED),
        (ProviderError("HTTP 404", retryable=False, status_code=404), ProviderCancelStatus.FAILED),
    ],
)
def test_what_the_provider_says_to_the_cancel_is_recorded_with_its_reason(
    refusal: Exception, recorded: ProviderCancelStatus
) -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = refusal
    world.clock.advance(MAX_AGE)

    assert check(world, job) is CheckOutcome.EXPIRED

    stored = world.jobs.jobs[job.job_id]
    assert stored.status is JobStatus.EXPIRED
    assert stored.provider_cancel == ProviderCancel(status=recorded, message=str(refusal))
    assert len(world.providers["fal"].cancelled) == 1


def test_a_cancel_that_fails_for_now_is_asked_again_by_the_redelivered_check_and_only_once_more() -> None:
    world = FakeWorld()
    job = running_job(world)
    provider = world.providers["fal"]
    provider.cancel_error = ProviderError("HTTP 503", retryable=True, status_code=503)
    world.clock.advance(MAX_AGE)

    # The expiring check: the job ends, the event goes out, the cancel stays owed and the check is raised
    # so SQS delivers it again.
    with pytest.raises(ProviderError):
        check(world, job)
    assert world.jobs.jobs[job.job_id].status is JobStatus.EXPIRED
    assert world.jobs.jobs[job.job_id].provider_cancel == ProviderCancel(status=ProviderCancelStatus.PENDING)
    assert len(world.events.failed) == 1

    # The redelivery finds the job ended, and asks the provider again.
    provider.cancel_error = None
    assert check(world, job) is CheckOutcome.NOT_NEEDED
    assert world.jobs.jobs[job.job_id].provider_cancel == ProviderCancel(status=ProviderCancelStatus.CANCELED)

    # A further delivery owes nothing and asks nothing.
    assert check(world, job) is CheckOutcome.NOT_NEEDED
    assert len(provider.cancelled) == 2
    assert len(world.events.failed) == 1


def test_the_dead_letter_of_a_check_whose_cancel_kept_failing_records_the_failure_and_stops() -> None:
    world = FakeWorld()
    job = running_job(world)
    world.providers["fal"].cancel_error = ProviderError("HTTP 503", retryable=True, status_code=503)
    world.clock.advance(MAX_AGE)
    with pytest.raises(ProviderError):
        check(world, job)

    end_dead_lettered(StatusCheckRequest(job_id=job.job_id, attempt=9), world.deps())

    stored = world.jobs.jobs[job.job_id]
    assert stored.provider_cancel == ProviderCancel(status=ProviderCancelStatus.FAILED, message="HTTP 503")
    assert len(world.providers["fal"].cancelled) == 2


def test_a_job_that_expires_from_a_dead_lettered_check_is_cancelled_too() -> None:
    world = FakeWorld()
    job = running_job(world, "replicate")
    world.clock.advance(MAX_AGE)

    ended = end_dead_lettered(StatusCheckRequest(job_id=job.job_id), world.deps())

    assert ended is not None
    assert ended.status is JobStatus.EXPIRED
    assert world.providers["replicate"].cancelled == [(job.provider_job_id, job.provider_links)]
    assert ended.provider_cancel == ProviderCancel(status=ProviderCancelStatus.CANCELED)


def test_a_job_that_failed_for_another_reason_owes_no_cancel() -> None:
    world = FakeWorld()
    job = running_job(world)
    update = ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED)

    apply_provider_update(job, update, world.deps())

    assert world.jobs.jobs[job.job_id].status is JobStatus.FAILED
    assert world.jobs.jobs[job.job_id].provider_cancel is None
    assert world.providers["fal"].cancelled == []


def test_a_provider_taken_out_of_the_deployment_since_records_the_cancel_failed_instead_of_looping() -> None:
    world = FakeWorld()
    job = running_job(world, "replicate")
    del world.providers["replicate"]  # its key is gone: deps.provider raises ProviderNotConfigured
    world.clock.advance(MAX_AGE)

    assert check(world, job) is CheckOutcome.EXPIRED

    cancel = world.jobs.jobs[job.job_id].provider_cancel
    assert cancel is not None
    assert cancel.status is ProviderCancelStatus.FAILED
    assert "replicate" in (cancel.message or "")
