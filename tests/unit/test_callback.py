import pytest

from tests.support import FakeWorld, fake_mp4, submit_job
from videojobs.errors import DependencyUnavailable, JobNotFound, WebhookConflict, WebhookUnauthorized
from videojobs.logic.callback import UpdateEffect, receive_webhook
from videojobs.logic.status_checks import CheckOutcome, check_job_status
from videojobs.logic.transfer import transfer_video
from videojobs.models import Job, JobRequest, JobStatus, ProviderState, ProviderUpdate, StatusCheckRequest

OUTPUT = "https://cdn.example.com/out.mp4"


def submitted(world: FakeWorld) -> Job:
    request = JobRequest(provider="eachlabs", prompt="a lighthouse at dusk")
    return submit_job(request, world.deps())


def webhook(world: FakeWorld, job: Job, update: ProviderUpdate, token: str | None = "") -> object:
    token = world.authenticator.token_for(job.job_id) if token == "" else token
    return receive_webhook("eachlabs", job.job_id, token, {}, update.model_dump_json().encode(), world.deps())


def success(job: Job) -> ProviderUpdate:
    return ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED, output_url=OUTPUT
    )


def test_success_claims_the_job_and_enqueues_one_transfer() -> None:
    world = FakeWorld()
    job = submitted(world)

    receipt = webhook(world, job, success(job))

    assert world.jobs.jobs[job.job_id].status is JobStatus.TRANSFERRING
    assert [(t.job_id, t.source_url) for t in world.transfers.sent] == [(job.job_id, OUTPUT)]
    assert receipt.effect is UpdateEffect.APPLIED  # type: ignore[attr-defined]


def test_a_duplicate_success_changes_nothing() -> None:
    world = FakeWorld()
    job = submitted(world)
    webhook(world, job, success(job))
    writes = world.jobs.writes

    receipt = webhook(world, job, success(job))

    assert receipt.effect is UpdateEffect.IGNORED  # type: ignore[attr-defined]
    assert len(world.transfers.sent) == 1
    assert world.jobs.writes == writes


def test_a_late_failure_after_success_changes_nothing() -> None:
    world = FakeWorld()
    job = submitted(world)
    webhook(world, job, success(job))

    late = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED, error_message="x"
    )
    webhook(world, job, late)

    assert world.jobs.jobs[job.job_id].status is JobStatus.TRANSFERRING
    assert world.events.failed == []


@pytest.mark.parametrize("copied", [False, True], ids=["transferring", "succeeded"])
def test_a_failure_after_success_changes_nothing_and_frees_no_slot(copied: bool) -> None:
    # Given a job its provider reported finished: its video being copied, or copied already
    world = FakeWorld()
    job = submitted(world)
    webhook(world, job, success(job))
    if copied:
        world.source.files[OUTPUT] = fake_mp4()
        transfer_video(world.transfers.sent[-1], world.deps())
    before = world.jobs.jobs[job.job_id]
    writes, release_calls = world.jobs.writes, list(world.capacity.release_calls)

    # When the provider then says it failed
    late = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED, error_message="late"
    )
    receipt = webhook(world, job, late)

    # Then the job, its video and its events stay as they were, and no slot release is even asked for
    assert receipt.effect is UpdateEffect.IGNORED  # type: ignore[attr-defined]
    assert world.jobs.jobs[job.job_id] == before
    assert before.status is (JobStatus.SUCCEEDED if copied else JobStatus.TRANSFERRING)
    assert (before.video is not None) is copied
    assert world.jobs.writes == writes
    assert world.events.failed == []
    assert len(world.events.succeeded) == (1 if copied else 0)
    assert world.capacity.release_calls == release_calls


def test_a_failure_fails_the_job_once_with_the_provider_reason() -> None:
    world = FakeWorld()
    job = submitted(world)
    failure = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.FAILED, error_message="content policy"
    )

    webhook(world, job, failure)
    webhook(world, job, failure)

    stored = world.jobs.jobs[job.job_id]
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None
    assert stored.error.message == "content policy"
    assert len(world.events.failed) == 1


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_a_missing_or_wrong_token_is_refused_before_any_read(token: str | None) -> None:
    world = FakeWorld()
    job = submitted(world)
    writes = world.jobs.writes

    with pytest.raises(WebhookUnauthorized):
        receive_webhook(
            "eachlabs", job.job_id, token, {}, success(job).model_dump_json().encode(), world.deps()
        )

    assert world.jobs.writes == writes
    assert world.transfers.sent == []


def test_a_token_for_another_job_is_refused() -> None:
    world = FakeWorld()
    job, other = submitted(world), submitted(world)

    with pytest.raises(WebhookUnauthorized):
        webhook(world, job, success(job), token=world.authenticator.token_for(other.job_id))


def test_an_unknown_job_with_a_valid_token_is_not_found() -> None:
    world = FakeWorld()
    token = world.authenticator.token_for("no-such-job")
    body = ProviderUpdate(provider_job_id="p", state=ProviderState.SUCCEEDED, output_url=OUTPUT)

    with pytest.raises(JobNotFound):
        receive_webhook("eachlabs", "no-such-job", token, {}, body.model_dump_json().encode(), world.deps())


def test_a_webhook_about_another_prediction_is_a_conflict() -> None:
    world = FakeWorld()
    job = submitted(world)
    other = ProviderUpdate(provider_job_id="someone-else", state=ProviderState.SUCCEEDED, output_url=OUTPUT)

    with pytest.raises(WebhookConflict):
        webhook(world, job, other)
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUBMITTED


def test_when_the_queue_is_down_the_job_stays_transferring_and_the_retry_queues_what_it_owes() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.transfers.fail_next = 1

    # The queue refuses: the webhook is answered 503, and the job still moves only forward.
    with pytest.raises(DependencyUnavailable):
        webhook(world, job, success(job))
    owed = world.jobs.jobs[job.job_id]
    assert owed.status is JobStatus.TRANSFERRING
    assert owed.transfer_owed is True
    assert world.transfers.sent == []
    assert world.capacity.holders == {}  # it left the provider all the same

    # The provider retries: the job has moved on, and the retry pays what the first call owed.
    receipt = webhook(world, job, success(job))

    assert receipt.effect is UpdateEffect.IGNORED
    assert [sent.job_id for sent in world.transfers.sent] == [job.job_id]
    assert world.transfers.sent[0].source_url == OUTPUT
    assert world.jobs.jobs[job.job_id].transfer_owed is None
    # Paid once: a third delivery queues nothing more.
    webhook(world, job, success(job))
    assert len(world.transfers.sent) == 1


def test_a_status_check_that_finds_a_transfer_still_owed_queues_it() -> None:
    world = FakeWorld()
    job = submitted(world)
    world.transfers.fail_next = 1
    with pytest.raises(DependencyUnavailable):
        webhook(world, job, success(job))

    outcome = check_job_status(StatusCheckRequest(job_id=job.job_id, attempt=2), world.deps())

    assert outcome is CheckOutcome.NOT_NEEDED
    assert [sent.job_id for sent in world.transfers.sent] == [job.job_id]
    assert world.jobs.jobs[job.job_id].transfer_owed is None


def test_success_without_output_fails_the_job() -> None:
    world = FakeWorld()
    job = submitted(world)

    webhook(
        world, job, ProviderUpdate(provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED)
    )

    assert world.jobs.jobs[job.job_id].status is JobStatus.FAILED


def test_an_unsigned_callback_is_confirmed_with_the_providers_own_status() -> None:
    world = FakeWorld()
    job = submit_job(JobRequest(provider="jobs_api", prompt="a lighthouse"), world.deps())
    claimed = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED, output_url=OUTPUT
    )
    token = world.authenticator.token_for(job.job_id)
    body = claimed.model_dump_json().encode()

    still_running = receive_webhook("jobs_api", job.job_id, token, {}, body, world.deps())

    assert world.providers["jobs_api"].checked == [job.provider_job_id]
    assert still_running.status is JobStatus.PROCESSING
    assert world.transfers.sent == []

    world.providers["jobs_api"].answers = [claimed]
    finished = receive_webhook("jobs_api", job.job_id, token, {}, body, world.deps())

    assert finished.status is JobStatus.TRANSFERRING
    assert [t.source_url for t in world.transfers.sent] == [OUTPUT]


def test_a_signed_callback_is_believed_without_a_status_call() -> None:
    world = FakeWorld()
    job = submitted(world)

    webhook(world, job, success(job))

    assert world.provider.checked == []


@pytest.mark.parametrize("provider", ["byteplus", "jobs_api"])
def test_an_unsigned_callback_is_confirmed_through_the_api_key_that_created_the_job(provider: str) -> None:
    # Given a pool of two keys, and a job the second key created that its provider says has finished
    world = FakeWorld()
    second_key = world.add_key(provider, "key-2")
    world.capacity.key_id = "key-2"
    job = submit_job(
        JobRequest.model_validate({"provider": provider, "prompt": "a lighthouse"}), world.deps()
    )
    assert job.provider_key_id == "key-2"
    finished = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED, output_url=OUTPUT
    )
    second_key.answers = [finished]

    # When its unsigned callback arrives
    receipt = receive_webhook(
        provider,
        job.job_id,
        world.authenticator.token_for(job.job_id),
        {},
        finished.model_dump_json().encode(),
        world.deps(),
    )

    # Then the confirming status GET went through the second key's provider, never the first key's
    assert second_key.checked == [job.provider_job_id]
    assert world.providers[provider].checked == []
    assert receipt.status is JobStatus.TRANSFERRING
    assert [transfer.source_url for transfer in world.transfers.sent] == [OUTPUT]
