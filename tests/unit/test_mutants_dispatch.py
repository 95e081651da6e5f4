"""Survivors of `make mutate` in logic/dispatch.py: a job that changes between taking a slot and
claiming the create (another delivery of its message, or its webhook, got there first); what a dispatch
writes on the job (the error codes a caller reads, when it was first dispatched, the last error cleared);
the edge of the grace for an unanswered create."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.support import FakeWorld, InMemoryCapacity
from videojobs.errors import ProviderError
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job, fail_dead_lettered_dispatch
from videojobs.logic.intake import accept_job
from videojobs.models import DispatchRequest, HttpOrigin, Job, JobRequest, JobStatus
from videojobs.ports import CapacityGrant, CapacityWait


@dataclass
class RacingCapacity(InMemoryCapacity):
    """Grants a slot, then lets ``meanwhile`` change the job, as a concurrent delivery would."""

    meanwhile: Callable[[str], None] = field(default=lambda job_id: None)

    def acquire(self, provider: Any, job_id: str, *, now: datetime) -> CapacityGrant | CapacityWait:
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
