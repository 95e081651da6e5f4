"""Survivors of `make mutate` in logic/callback.py: what a provider's word writes on the job (the error
codes a caller reads, and the output and last frame a transfer starts from)."""

import pytest

from tests.support import FakeWorld, submit_job
from videojobs.errors import DependencyUnavailable
from videojobs.logic.callback import receive_webhook
from videojobs.models import Job, JobRequest, JobStatus, ProviderState, ProviderUpdate


def submitted(world: FakeWorld) -> Job:
    return submit_job(JobRequest(provider="eachlabs", prompt="a lighthouse at dusk"), world.deps())


def deliver(world: FakeWorld, job: Job, update: ProviderUpdate) -> Job:
    token = world.authenticator.token_for(job.job_id)
    receive_webhook("eachlabs", job.job_id, token, {}, update.model_dump_json().encode(), world.deps())
    return world.jobs.jobs[job.job_id]


def test_success_without_an_output_fails_the_job_as_provider_output_missing() -> None:
    world = FakeWorld()
    job = submitted(world)

    failed = deliver(
        world, job, ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED)
    )

    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == (
        "provider_output_missing",
        "provider reported success without output",
    )


def test_a_failure_without_a_message_is_provider_failed_with_a_message_of_ours() -> None:
    world = FakeWorld()
    job = submitted(world)

    failed = deliver(
        world, job, ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED)
    )

    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("provider_failed", "provider reported failure")


def test_success_records_the_output_and_the_last_frame_on_the_job() -> None:
    world = FakeWorld()
    job = submitted(world)
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "",
        state=ProviderState.SUCCEEDED,
        output_url="https://cdn.example.com/out.mp4",
        last_frame_url="https://cdn.example.com/last.png",
    )

    transferring = deliver(world, job, update)

    assert transferring.status is JobStatus.TRANSFERRING
    assert (transferring.provider_job_id, transferring.output_url, transferring.last_frame_url) == (
        job.provider_job_id,
        "https://cdn.example.com/out.mp4",
        "https://cdn.example.com/last.png",
    )
    assert [(t.source_url, t.last_frame_url) for t in world.transfers.sent] == [
        ("https://cdn.example.com/out.mp4", "https://cdn.example.com/last.png")
    ]


def test_a_transfer_that_cannot_be_enqueued_leaves_the_job_transferring_with_the_transfer_owed() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.transfers.fail_next = 1
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "",
        state=ProviderState.SUCCEEDED,
        output_url="https://cdn.example.com/out.mp4",
        last_frame_url="https://cdn.example.com/last.png",
    )

    with pytest.raises(DependencyUnavailable):
        deliver(world, job, update)

    stored = world.jobs.jobs[job.job_id]
    assert (stored.status, stored.output_url, stored.last_frame_url, stored.transfer_owed) == (
        JobStatus.TRANSFERRING,
        "https://cdn.example.com/out.mp4",
        "https://cdn.example.com/last.png",
        True,
    )
    assert world.transfers.sent == []
