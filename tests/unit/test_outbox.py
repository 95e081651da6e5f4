"""Outcome events are never lost: a failed or partial PutEvents leaves the event pending on the job,
and the next delivery that finds the job finished publishes it, once."""

import pytest

from tests.support import FakeWorld, fake_mp4, submit_job
from videojobs.errors import DependencyUnavailable
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.dispatch import dispatch_job
from videojobs.logic.outcomes import pending
from videojobs.logic.status_checks import check_job_status
from videojobs.logic.transfer import transfer_video
from videojobs.models import (
    DispatchRequest,
    JobRequest,
    JobStatus,
    ProviderState,
    ProviderUpdate,
    StatusCheckRequest,
    TransferRequest,
)

OUTPUT = "https://cdn.example.com/out.mp4"


def transferring(world: FakeWorld) -> TransferRequest:
    job = submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED, output_url=OUTPUT
    )
    apply_provider_update(job, update, world.deps())
    world.source.files[OUTPUT] = fake_mp4()
    (request,) = world.transfers.sent
    return request


def test_a_refused_publish_leaves_the_event_pending_and_the_redelivery_sends_it_once() -> None:
    world = FakeWorld()
    request = transferring(world)
    world.events.fail_next = 1

    with pytest.raises(DependencyUnavailable):
        transfer_video(request, world.deps())

    stored = world.jobs.jobs[request.job_id]
    assert stored.status is JobStatus.SUCCEEDED  # the video is safe and the job is final ...
    assert stored.pending_event == "Video Job Succeeded"  # ... and its event is owed
    assert world.events.succeeded == []

    transfer_video(request, world.deps())  # SQS delivers the message again
    transfer_video(request, world.deps())  # and once more, for good measure

    assert [job.job_id for job in world.events.succeeded] == [request.job_id]
    assert world.jobs.jobs[request.job_id].pending_event is None
    assert world.source.opened == [OUTPUT]  # the video was copied once


def test_a_failure_event_that_did_not_go_out_is_sent_by_whoever_sees_the_job_next() -> None:
    world = FakeWorld()
    job = submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())
    failed = ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED)
    world.events.fail_next = 1
    with pytest.raises(DependencyUnavailable):
        apply_provider_update(job, failed, world.deps())
    assert world.jobs.jobs[job.job_id].pending_event == "Video Job Failed"

    # A late status check of the job, a stray dispatch message and the provider's webhook retry:
    check_job_status(StatusCheckRequest(job_id=job.job_id, dispatch_attempt=1), world.deps())
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())
    apply_provider_update(job, failed, world.deps())

    assert [event.job_id for event in world.events.failed] == [job.job_id]
    assert world.jobs.jobs[job.job_id].pending_event is None


def test_a_duplicate_that_arrives_while_the_event_is_being_published_does_not_publish_it_again() -> None:
    world = FakeWorld()
    job = submit_job(JobRequest(provider="eachlabs", prompt="p"), world.deps())
    failed = ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED)
    # The terminal write happened and its caller holds the claim, but has not published yet.
    world.jobs.transition(
        job.job_id,
        to=JobStatus.FAILED,
        allowed_from={JobStatus.SUBMITTED},
        changes=pending("Video Job Failed", world.deps()),
        now=world.clock(),
    )

    apply_provider_update(job, failed, world.deps())  # a duplicate webhook, at the same moment

    assert world.events.failed == []
    world.clock.advance(61)  # the first caller died: its claim runs out
    apply_provider_update(job, failed, world.deps())
    assert [event.job_id for event in world.events.failed] == [job.job_id]


def test_a_failed_publish_hands_the_claim_back_so_the_next_delivery_sends_it_at_once() -> None:
    world = FakeWorld()
    request = transferring(world)
    world.events.fail_next = 1
    with pytest.raises(DependencyUnavailable):
        transfer_video(request, world.deps())

    assert world.jobs.jobs[request.job_id].event_claimed_until is None
    transfer_video(request, world.deps())  # redelivered a second later
    assert [job.job_id for job in world.events.succeeded] == [request.job_id]
