"""Survivors of `make mutate` in logic/dispatch.py: a job that changes between taking a slot and
claiming the create (another delivery of its message, or its webhook, got there first); what a dispatch
writes on the job (the error codes a caller reads, when it was first dispatched, the last error cleared);
the edge of the grace for an unanswered create; a failure decided on a job read as queued never lands
on a job its provider has since taken; the jitter's bounds."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from tests.support import FakeProvider, FakeWorld, InMemoryCapacity, InMemoryJobStore
from videojobs.errors import ProviderError
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job, fail_dead_lettered_dispatch, retry_delay
from videojobs.logic.intake import accept_job
from videojobs.models import (
    DispatchRequest,
    HttpOrigin,
    Job,
    JobRequest,
    JobStatus,
    ProviderState,
    ProviderUpdate,
    WebhookTarget,
)
from videojobs.ports import CapacityGrant, CapacityWait


@dataclass
class RacingCapacity(InMemoryCapacity):
    """Grants a slot, then lets ``meanwhile`` change the job, as a concurrent delivery would."""

    meanwhile: Callable[[str], None] = field(default=lambda job_id: None)

    def acquire(
        self, provider: Any, job_id: str, *, now: datetime, skip_keys: frozenset[str] = frozenset()
    ) -> CapacityGrant | CapacityWait:
        grant = super().acquire(provider, job_id, now=now)
        self.meanwhile(job_id)
        return grant


def queued(world: FakeWorld) -> Job:
    job = accept_job(JobRequest(provider="eachlabs", prompt="a lighthouse"), HttpOrigin(), world.deps()).job
    world.dispatches.take()
    return job


def test_a_job_finished_meanwhile_gives_its_slot_back_and_sends_nothing() -> None:
    world = FakeWorld()
    job = queued(world)
    world.capacity = RacingCapacity(
        meanwhile=lambda job_id: world.jobs.transition(
            job_id, to=JobStatus.FAILED, allowed_from={JobStatus.QUEUED}, changes={}, now=world.clock()
        )
    )

    outcome = dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert outcome is DispatchOutcome.NOT_NEEDED
    assert world.provider.created == []
    assert world.capacity.holders == {}
    assert [job_id for _, job_id in world.capacity.released] == [job.job_id]


def test_a_job_another_delivery_claimed_meanwhile_keeps_the_slot_that_delivery_holds() -> None:
    world = FakeWorld()
    job = queued(world)
    world.capacity = RacingCapacity(
        meanwhile=lambda job_id: world.jobs.transition(
            job_id,
            to=JobStatus.QUEUED,
            allowed_from={JobStatus.QUEUED},
            changes={"dispatch_attempts": 1, "create_sent_at": world.clock()},
            now=world.clock(),
        )
    )

    outcome = dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert outcome is DispatchOutcome.NOT_NEEDED
    assert world.provider.created == []
    assert list(world.capacity.holders.values()) == [job.job_id]
    assert world.capacity.released == []


def test_without_a_public_base_url_the_job_fails_as_not_configured() -> None:
    world = FakeWorld()
    world.public_base_url = None
    job = queued(world)

    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    error = world.jobs.jobs[job.job_id].error
    assert error is not None
    assert (error.code, error.message) == (
        "not_configured",
        "no public callback URL is configured (PUBLIC_BASE_URL)",
    )


def test_the_first_dispatch_is_when_it_was_dispatched_and_a_retry_keeps_it() -> None:
    world = FakeWorld()
    job = queued(world)
    first = world.clock()
    world.provider.error = ProviderError("429", retryable=True, status_code=429)
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    world.provider.error = None
    world.clock.advance(60)
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    stored = world.jobs.jobs[job.job_id]
    assert (stored.status, stored.dispatched_at, stored.last_dispatch_error) == (
        JobStatus.SUBMITTED,
        first,
        None,
    )


def test_an_unanswered_create_is_sent_again_as_soon_as_the_grace_has_passed() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())
    world.provider.error = None

    world.clock.advance(world.deps().dispatch_policy.uncertain_grace_seconds)

    assert dispatch_job(DispatchRequest(job_id=job.job_id), world.deps()) is DispatchOutcome.SUBMITTED


def test_a_dead_lettered_dispatch_without_an_error_says_its_message_was_dead_lettered() -> None:
    world = FakeWorld()
    job = queued(world)

    failed = fail_dead_lettered_dispatch(DispatchRequest(job_id=job.job_id), world.deps())

    assert failed is not None
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == (
        "dispatch_failed",
        "the job could not be submitted: its dispatch message was dead-lettered",
    )


def test_a_message_for_a_job_that_is_gone_sends_nothing() -> None:
    world = FakeWorld()

    assert dispatch_job(DispatchRequest(job_id="gone"), world.deps()) is DispatchOutcome.NOT_NEEDED
    assert world.provider.created == []


def test_a_stray_message_for_a_finished_job_publishes_the_outcome_event_it_still_owes() -> None:
    world = FakeWorld()
    job = queued(world)
    world.jobs.jobs[job.job_id] = job.model_copy(
        update={"status": JobStatus.FAILED, "pending_event": "Video Job Failed"}
    )

    outcome = dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert outcome is DispatchOutcome.NOT_NEEDED
    assert [event.job_id for event in world.events.failed] == [job.job_id]
    assert world.jobs.jobs[job.job_id].pending_event is None


@dataclass
class RecordingCapacity(InMemoryCapacity):
    """Records who asked for a slot: (provider, job id, time)."""

    asked: list[tuple[Any, str, datetime]] = field(default_factory=list)

    def acquire(
        self, provider: Any, job_id: str, *, now: datetime, skip_keys: frozenset[str] = frozenset()
    ) -> CapacityGrant | CapacityWait:
        self.asked.append((provider, job_id, now))
        return super().acquire(provider, job_id, now=now)


def test_the_slot_is_asked_for_at_the_jobs_own_provider_at_the_time_of_the_dispatch() -> None:
    # Slots and creates per minute are counted per provider key, and a lease runs from the dispatch
    world = FakeWorld()
    world.capacity = RecordingCapacity()
    job = accept_job(JobRequest(provider="jobs_api", prompt="p"), HttpOrigin(), world.deps()).job
    world.clock.advance(30)

    assert dispatch_job(DispatchRequest(job_id=job.job_id), world.deps()) is DispatchOutcome.SUBMITTED
    assert world.capacity.asked == [("jobs_api", job.job_id, world.clock.now)]


def test_a_create_never_answered_ends_as_provider_no_answer_without_its_in_flight_mark() -> None:
    world = FakeWorld()
    job = queued(world)
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)
    for _ in range(4):
        dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())
        world.clock.advance(601)

    assert dispatch_job(DispatchRequest(job_id=job.job_id), world.deps()) is DispatchOutcome.FAILED

    failed = world.jobs.jobs[job.job_id]
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == (
        "provider_no_answer",
        "eachlabs never answered the create call, and no webhook came for it",
    )
    assert failed.create_sent_at is None


class ChangedAfterRead(InMemoryJobStore):
    """Hands the next caller of ``get`` the job as it is, then lets ``meanwhile`` change it: a webhook
    or another delivery that lands between that caller's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[Job], object] | None = None

    def get(self, job_id: str) -> Job | None:
        job = super().get(job_id)
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None and job is not None:
            meanwhile(job)
        return job


def adopted_by_its_webhook(world: FakeWorld) -> Callable[[Job], object]:
    """The webhook of the job's last create, which got no answer: the provider has the job."""
    update = ProviderUpdate(provider_job_id="pred-late", state=ProviderState.PROCESSING)
    return lambda job: apply_provider_update(job, update, world.deps())


def unanswered_create(world: FakeWorld, *, attempts_left: bool) -> Job:
    """A queued job whose last create got no answer, its grace for a webhook over."""
    job = queued(world)
    world.provider.error = ProviderError("no answer", retryable=True, ambiguous=True)
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())
    world.provider.error = None
    attempts = 1 if attempts_left else world.dispatch_policy.max_attempts
    world.jobs.jobs[job.job_id] = world.jobs.jobs[job.job_id].model_copy(
        update={"dispatch_attempts": attempts}
    )
    world.clock.advance(world.dispatch_policy.uncertain_grace_seconds)
    return job


def assert_processing_and_not_failed(world: FakeWorld, job: Job) -> None:
    stored = world.jobs.jobs[job.job_id]
    assert (stored.status, stored.error, stored.provider_job_id) == (JobStatus.PROCESSING, None, "pred-late")
    assert world.events.failed == []


def test_a_create_given_up_on_is_not_failed_once_its_webhook_has_adopted_the_job() -> None:
    # Given a create that got no answer and no attempts left, and its webhook arriving just as the
    # submit function reads the job
    store = ChangedAfterRead()
    world = FakeWorld(jobs=store)
    job = unanswered_create(world, attempts_left=False)
    store.meanwhile = adopted_by_its_webhook(world)

    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    # Then the job the provider is working on stays with it
    assert_processing_and_not_failed(world, job)


def test_a_missing_public_url_does_not_fail_a_job_its_webhook_has_adopted_meanwhile() -> None:
    store = ChangedAfterRead()
    world = FakeWorld(jobs=store)
    job = unanswered_create(world, attempts_left=True)
    world.public_base_url = None
    store.meanwhile = adopted_by_its_webhook(world)

    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert_processing_and_not_failed(world, job)


@dataclass
class AnswersAfterItsWebhook(FakeProvider):
    """Creates the job, lets its webhook arrive, then answers the create with a 502 (a gateway's)."""

    webhook: Callable[[], object] = field(default=lambda: None)

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> Any:
        self.webhook()
        raise ProviderError("eachlabs answered HTTP 502", retryable=True, status_code=502)


def test_an_error_answer_on_the_last_attempt_does_not_fail_a_job_its_webhook_has_adopted() -> None:
    world = FakeWorld()
    job = queued(world)
    world.jobs.jobs[job.job_id] = job.model_copy(update={"dispatch_attempts": 3})
    update = ProviderUpdate(provider_job_id="pred-late", state=ProviderState.PROCESSING)
    world.provider = AnswersAfterItsWebhook(
        webhook=lambda: apply_provider_update(world.jobs.jobs[job.job_id], update, world.deps())
    )

    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert_processing_and_not_failed(world, job)


def test_a_dead_lettered_dispatch_does_not_fail_a_job_that_reached_its_provider() -> None:
    world = FakeWorld()
    job = queued(world)
    dispatch_job(DispatchRequest(job_id=job.job_id), world.deps())

    assert fail_dead_lettered_dispatch(DispatchRequest(job_id=job.job_id), world.deps()) is None
    stored = world.jobs.jobs[job.job_id]
    assert (stored.status, stored.error) == (JobStatus.SUBMITTED, None)


def test_an_upload_refused_for_now_counts_as_an_attempt_and_ends_the_job_when_they_run_out() -> None:
    # Given a provider with an upload endpoint that answers 503 to every upload
    world = FakeWorld()
    world.inputs.objects = {"s3://inputs/start.png": ("image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)}
    fake = world.providers["atlascloud"]

    def unavailable(media: object) -> str:
        raise ProviderError("atlascloud answered HTTP 503", retryable=True, status_code=503)

    fake.upload_media = unavailable  # type: ignore[method-assign]
    request = JobRequest(provider="atlascloud", prompt="p", first_frame_url="s3://inputs/start.png")
    job = accept_job(request, HttpOrigin(), world.deps()).job

    # When its dispatch message is delivered once per attempt
    outcomes = [dispatch_job(DispatchRequest(job_id=job.job_id), world.deps()) for _ in range(4)]

    # Then each delivery but the last schedules a retry, and the last ends the job
    assert outcomes == [DispatchOutcome.RETRY_SCHEDULED] * 3 + [DispatchOutcome.FAILED]
    failed = world.jobs.jobs[job.job_id]
    assert failed.error is not None
    assert failed.error.code == "provider_unavailable"
    assert fake.created == []


@pytest.mark.parametrize(("draw", "delay"), [("low", 10), ("high", 15)])
def test_a_job_at_its_providers_limits_looks_again_after_1_to_1_5_times_the_wait(
    monkeypatch: pytest.MonkeyPatch, draw: str, delay: int
) -> None:
    # Given every slot taken (a wait of 5 s, under the policy's floor of 10 s), and the jitter's draw
    # at one end of its range
    monkeypatch.setattr(random, "uniform", lambda low, high: low if draw == "low" else high)
    world = FakeWorld()
    world.capacity.limit = 0
    job = queued(world)

    assert (
        dispatch_job(DispatchRequest(job_id=job.job_id), world.deps()) is DispatchOutcome.WAITING_FOR_CAPACITY
    )
    assert [queued.delay_seconds for queued in world.dispatches.take()] == [delay]


@pytest.mark.parametrize(("draw", "delays"), [("low", [3, 5, 150]), ("high", [8, 15, 450])])
def test_a_retry_waits_half_to_one_and_a_half_times_the_backoff(
    monkeypatch: pytest.MonkeyPatch, draw: str, delays: list[int]
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: low if draw == "low" else high)
    world = FakeWorld()

    # 5 s, 10 s and (capped) 300 s, times the draw, rounded up
    assert [retry_delay(attempt, None, world.deps()) for attempt in (1, 2, 10)] == delays


def test_a_retry_waits_at_least_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    world = FakeWorld()
    world.dispatch_policy = replace(world.dispatch_policy, backoff_base_seconds=0.5)

    assert retry_delay(1, None, world.deps()) == 1
    assert retry_delay(1, 0.2, world.deps()) == 1
