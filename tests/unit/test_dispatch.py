"""The submit function: one create per delivery, within limits; errors retried or failed."""

from datetime import timedelta

from tests.support import FakeWorld
from videojobs.errors import ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job, retry_delay
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


def queued(world: FakeWorld, **fields: object) -> Job:
    request = JobRequest.model_validate({"provider": "eachlabs", "prompt": "a lighthouse", **fields})
    job = accept_job(request, HttpOrigin(), world.deps()).job
    world.dispatches.take()
    return job


def dispatch(world: FakeWorld, job: Job) -> DispatchOutcome:
    return dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())


def test_a_queued_job_is_created_with_our_webhook_and_holds_a_slot() -> None:
    world = FakeWorld()
    job = queued(world)

    assert dispatch(world, job) is DispatchOutcome.SUBMITTED

    stored = world.jobs.jobs[job.job_id]
    assert stored.status is JobStatus.SUBMITTED
    assert stored.provider_job_id == "pred-1"
    assert (stored.provider_key_id, stored.dispatch_attempts, stored.create_sent_at) == ("key-1", 1, None)
    ((_, webhook),) = world.provider.created
    assert webhook.url.startswith(f"https://api.example.com/webhooks/eachlabs/{job.job_id}?token=")
    assert world.capacity.holders == {stored.capacity_slot: job.job_id}


def test_a_duplicate_delivery_sends_nothing_more() -> None:
    world = FakeWorld()
    job = queued(world)
    dispatch(world, job)

    assert dispatch(world, job) is DispatchOutcome.NOT_NEEDED
    assert len(world.provider.created) == 1


def test_with_no_free_slot_the_job_waits_on_the_queue_and_sends_nothing() -> None:
    world = FakeWorld()
    world.capacity.limit = 1
    first, second = queued(world), queued(world)
    dispatch(world, first)

    assert dispatch(world, second) is DispatchOutcome.WAITING_FOR_CAPACITY

    assert len(world.provider.created) == 1
    (wait,) = world.dispatches.sent
    assert wait.request.job_id == second.job_id
    assert 10 <= wait.delay_seconds <= 15  # capacity_retry_seconds, jittered up to x1.5
    assert world.jobs.jobs[second.job_id].status is JobStatus.QUEUED


def test_leaving_the_provider_frees_the_slot_exactly_once_for_the_next_job() -> None:
    world = FakeWorld()
    world.capacity.limit = 1
    first, second = queued(world), queued(world)
    dispatch(world, first)
    submitted = world.jobs.jobs[first.job_id]
    failed = ProviderUpdate(provider_job_id="pred-1", state=ProviderState.FAILED, error_message="nsfw")

    apply_provider_update(submitted, failed, world.deps())
    apply_provider_update(submitted, failed, world.deps())  # a duplicate webhook

    assert world.capacity.released == [(submitted.capacity_slot, first.job_id)]
    assert dispatch(world, second) is DispatchOutcome.SUBMITTED


def test_a_429_is_retried_no_sooner_than_retry_after_then_succeeds() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("429", retryable=True, status_code=429, retry_after_seconds=40)

    assert dispatch(world, job) is DispatchOutcome.RETRY_SCHEDULED

    (retry,) = world.dispatches.take()
    assert retry.delay_seconds >= 40
    stored = world.jobs.jobs[job.job_id]
    assert (stored.status, stored.dispatch_attempts, stored.create_sent_at) == (JobStatus.QUEUED, 1, None)
    assert stored.last_dispatch_error == "429"
    assert world.capacity.holders == {}
    world.provider.error = None
    assert dispatch(world, job) is DispatchOutcome.SUBMITTED
    assert world.jobs.jobs[job.job_id].dispatch_attempts == 2


def test_retryable_errors_stop_after_max_attempts_with_the_last_answer() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("eachlabs answered HTTP 503: busy", retryable=True, status_code=503)

    outcomes = [dispatch(world, job) for _ in range(4)]

    assert outcomes == [DispatchOutcome.RETRY_SCHEDULED] * 3 + [DispatchOutcome.FAILED]
    stored = world.jobs.jobs[job.job_id]
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None
    assert stored.error.code == "provider_unavailable"
    assert "503: busy" in stored.error.message
    assert [failed.job_id for failed in world.events.failed] == [job.job_id]


def test_a_refusal_fails_the_job_at_once() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError(
        "eachlabs answered HTTP 422: bad prompt", retryable=False, status_code=422
    )

    assert dispatch(world, job) is DispatchOutcome.FAILED

    stored = world.jobs.jobs[job.job_id]
    assert stored.error is not None
    assert stored.error.code == "provider_rejected"
    assert world.dispatches.sent == []
    assert world.capacity.holders == {}


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    world = FakeWorld()
    delays = [retry_delay(attempt, None, world.deps()) for attempt in (1, 2, 3, 10)]

    assert 2 <= delays[0] <= 8  # 5 s x [0.5, 1.5]
    assert 5 <= delays[1] <= 15
    assert 10 <= delays[2] <= 30
    assert 150 <= delays[3] <= 450  # capped at 300 s before the jitter


def test_an_unanswered_create_waits_for_its_webhook_which_adopts_the_job() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)

    assert dispatch(world, job) is DispatchOutcome.AWAITING_WEBHOOK
    (wait,) = world.dispatches.take()
    assert wait.delay_seconds == 600
    marked = world.jobs.jobs[job.job_id]
    assert marked.create_sent_at is not None
    assert marked.capacity_slot in world.capacity.holders

    # The provider did create it: its webhook arrives and adopts the job.
    update = ProviderUpdate(provider_job_id="pred-x", state=ProviderState.PROCESSING)
    apply_provider_update(marked, update, world.deps())
    world.provider.error = None

    assert dispatch(world, job) is DispatchOutcome.NOT_NEEDED
    adopted = world.jobs.jobs[job.job_id]
    assert (adopted.status, adopted.provider_job_id, adopted.create_sent_at) == (
        JobStatus.PROCESSING,
        "pred-x",
        None,
    )
    assert world.provider.created == []  # never sent twice


def test_an_unanswered_create_is_sent_once_more_only_after_the_grace_without_a_webhook() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)
    dispatch(world, job)
    world.dispatches.take()
    world.provider.error = None

    world.clock.advance(300)
    assert dispatch(world, job) is DispatchOutcome.AWAITING_WEBHOOK
    (early,) = world.dispatches.take()
    assert early.delay_seconds == 300
    assert world.provider.created == []

    world.clock.advance(301)
    assert dispatch(world, job) is DispatchOutcome.SUBMITTED
    assert len(world.provider.created) == 1
    assert len(world.capacity.holders) == 1  # the job kept its one slot throughout


def test_unanswered_creates_end_when_the_attempts_run_out() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)

    for _ in range(4):
        dispatch(world, job)
        world.clock.advance(601)
    outcome = dispatch(world, job)

    assert outcome is DispatchOutcome.FAILED
    stored = world.jobs.jobs[job.job_id]
    assert stored.error is not None
    assert stored.error.code == "provider_no_answer"
    assert stored.dispatch_attempts == 4


def test_a_wait_longer_than_one_queue_delay_is_split_into_hops() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("429", retryable=True, status_code=429, retry_after_seconds=2000)

    dispatch(world, job)

    (hop,) = world.dispatches.take()
    assert hop.delay_seconds == 900
    assert hop.request.due_at is not None
    assert hop.request.due_at - world.clock.now >= timedelta(seconds=2000)
    world.provider.error = None
    world.clock.advance(900)
    assert dispatch_job(hop.request, world.deps()) is DispatchOutcome.WAITING_FOR_CAPACITY
    assert world.provider.created == []


def test_without_a_public_base_url_the_job_fails_with_a_clear_reason() -> None:
    world = FakeWorld()
    world.public_base_url = None
    job = queued(world)

    assert dispatch(world, job) is DispatchOutcome.FAILED
    error = world.jobs.jobs[job.job_id].error
    assert error is not None
    assert "PUBLIC_BASE_URL" in error.message
