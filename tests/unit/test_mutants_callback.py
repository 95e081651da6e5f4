"""Survivors of `make mutate` in logic/callback.py: what a provider's word writes on the job (the error
codes a caller reads, the output and last frame a transfer starts from, the prediction of a job whose
create got no answer); an unsigned callback checked with the job's own links; the job a 404 names."""

import pytest

from tests.support import FakeWorld, submit_job
from videojobs.errors import DependencyUnavailable, JobNotFound, ProviderError
from videojobs.logic.callback import receive_webhook
from videojobs.logic.dispatch import dispatch_job
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


def test_a_webhook_for_an_unknown_job_is_not_found_naming_that_job() -> None:
    world = FakeWorld()
    update = ProviderUpdate(provider_job_id="p", state=ProviderState.PROCESSING)

    with pytest.raises(JobNotFound) as raised:
        receive_webhook(
            "eachlabs",
            "no-such-job",
            world.authenticator.token_for("no-such-job"),
            {},
            update.model_dump_json().encode(),
            world.deps(),
        )

    assert raised.value.job_id == "no-such-job"


def test_an_unsigned_callback_is_checked_at_the_provider_with_the_links_its_create_returned() -> None:
    # Given a provider that hands out its own status URL with each create (as fal's queue does)
    world = FakeWorld()
    links = {"status_url": "https://queue.example.com/requests/pred-1/status"}
    world.providers["jobs_api"].links = links
    job = submit_job(JobRequest(provider="jobs_api", prompt="a lighthouse"), world.deps())
    update = ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.PROCESSING)

    receive_webhook(
        "jobs_api",
        job.job_id,
        world.authenticator.token_for(job.job_id),
        {},
        update.model_dump_json().encode(),
        world.deps(),
    )

    assert world.providers["jobs_api"].checked_links == [links]


def sent_without_an_answer(world: FakeWorld) -> Job:
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)
    job = accept_job(JobRequest(provider="eachlabs", prompt="a lighthouse"), HttpOrigin(), world.deps()).job
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())
    stored = world.jobs.jobs[job.job_id]
    assert (stored.status, stored.provider_job_id, stored.create_sent_at is not None) == (
        JobStatus.QUEUED,
        None,
        True,
    )
    return stored


def test_the_success_webhook_of_a_create_that_got_no_answer_records_its_prediction() -> None:
    # Given a job whose create got no answer: it has no prediction id, and its create is in flight
    world = FakeWorld()
    job = sent_without_an_answer(world)
    update = ProviderUpdate(
        provider_job_id="pred-adopted",
        state=ProviderState.SUCCEEDED,
        output_url="https://cdn.example.com/out.mp4",
    )

    # When the provider's success webhook arrives
    transferring = deliver(world, job, update)

    # Then the job is the provider's prediction, its create no longer in flight
    assert (transferring.status, transferring.provider_job_id, transferring.create_sent_at) == (
        JobStatus.TRANSFERRING,
        "pred-adopted",
        None,
    )


def test_a_late_webhook_answers_from_the_write_it_lost_without_reading_the_job_again() -> None:
    # Given a job that has already succeeded
    world = FakeWorld()
    job = submitted(world)
    world.jobs.jobs[job.job_id] = job.model_copy(update={"status": JobStatus.SUCCEEDED})
    reads: list[str] = []
    read = world.jobs.get

    def counted(job_id: str) -> Job | None:
        reads.append(job_id)
        return read(job_id)

    world.jobs.get = counted  # type: ignore[method-assign]

    # When its late "processing" webhook arrives
    token = world.authenticator.token_for(job.job_id)
    late = ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.PROCESSING)
    receipt = receive_webhook(
        "eachlabs", job.job_id, token, {}, late.model_dump_json().encode(), world.deps()
    )

    # Then the job is read once, before the write: the lost write's answer says it succeeded
    assert reads == [job.job_id]
    assert receipt.status is JobStatus.SUCCEEDED
