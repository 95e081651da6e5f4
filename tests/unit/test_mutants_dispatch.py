"""Survivors of `make mutate` in logic/dispatch.py: a job that changes between taking a slot and
claiming the create (another delivery of its message, or its webhook, got there first)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.support import FakeWorld, InMemoryCapacity
from videojobs.logic.dispatch import DispatchOutcome, dispatch_job
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
