"""Survivors of `make mutate` in logic/outcomes.py: who may publish an outcome event that is still owed."""

from tests.support import FakeWorld, submit_job
from videojobs.logic.outcomes import deliver_pending_event
from videojobs.models import Job, JobRequest, JobStatus


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
