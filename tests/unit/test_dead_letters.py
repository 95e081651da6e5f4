"""Dead-lettered messages end the job they name, whatever queue they come from."""

import json

import pytest

from tests.support import FakeWorld, submit_job
from videojobs.logic.dead_letters import dead_letter_of, end_dead_lettered
from videojobs.models import DispatchRequest, JobRequest, JobStatus, StatusCheckRequest, TransferRequest


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (TransferRequest(job_id="j", source_url="https://x/y.mp4").model_dump_json(), TransferRequest),
        (StatusCheckRequest(job_id="j", attempt=4, dispatch_attempt=1).model_dump_json(), StatusCheckRequest),
        (DispatchRequest(job_id="j").model_dump_json(), DispatchRequest),
    ],
)
def test_each_queues_message_is_told_apart_by_its_shape(body: str, kind: type) -> None:
    assert type(dead_letter_of(body)) is kind


@pytest.mark.parametrize("body", ["not json", "[]", json.dumps({"no_job": 1})])
def test_a_message_that_names_no_job_is_refused(body: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json's and pydantic's errors are both ValueErrors
        dead_letter_of(body)


def test_a_dead_lettered_status_check_fails_a_waiting_job_and_announces_it() -> None:
    world = FakeWorld()
    job = submit_job(JobRequest(provider="gateway", prompt="p"), world.deps())
    assert job.status is JobStatus.SUBMITTED

    ended = end_dead_lettered(StatusCheckRequest(job_id=job.job_id, attempt=7), world.deps())

    assert ended is not None
    assert ended.status is JobStatus.FAILED
    assert ended.error is not None
    assert ended.error.code == "status_checks_failed"
    assert [failed.job_id for failed in world.events.failed] == [job.job_id]
    assert world.capacity.holders == {}  # its provider slot is free again


def test_a_dead_lettered_status_check_past_the_maximum_age_expires_the_job() -> None:
    world = FakeWorld()
    job = submit_job(JobRequest(provider="gateway", prompt="p"), world.deps())
    world.clock.advance(7200)

    ended = end_dead_lettered(StatusCheckRequest(job_id=job.job_id), world.deps())

    assert ended is not None
    assert ended.status is JobStatus.EXPIRED
    assert ended.error is not None
    assert ended.error.code == "job_expired"


def test_a_dead_letter_about_a_finished_job_changes_nothing() -> None:
    world = FakeWorld()
    job = submit_job(JobRequest(provider="gateway", prompt="p"), world.deps())
    world.jobs.jobs[job.job_id] = job.model_copy(update={"status": JobStatus.SUCCEEDED})

    assert end_dead_lettered(StatusCheckRequest(job_id=job.job_id), world.deps()) is None
    assert end_dead_lettered(DispatchRequest(job_id=job.job_id), world.deps()) is None
    assert world.events.failed == []
