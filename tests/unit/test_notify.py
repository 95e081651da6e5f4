"""Caller notifications: signed as Standard Webhooks, retried on a schedule with one webhook-id."""

import json
from typing import Any

import pytest

from tests.support import NOTIFY_SECRET, FakeWorld, submit_job
from videojobs.errors import NotificationUndelivered
from videojobs.logic.notify import NotifyMessage, NotifyOutcome, notify_caller
from videojobs.models import JobRequest, NotificationStatus
from videojobs.standard_webhooks import StandardWebhook


def finished_event(world: FakeWorld, **fields: Any) -> dict[str, Any]:
    request = JobRequest.model_validate(
        {"provider": "eachlabs", "prompt": "p", "notify_url": "https://hooks.example.com/in", **fields}
    )
    job = submit_job(request, world.deps())
    return {
        "id": "ev-1",
        "source": "seedance.video-pipeline",
        "detail-type": "Video Job Failed",
        "detail": job.view().model_dump(mode="json"),
    }


def test_the_outcome_is_posted_signed_and_recorded_delivered() -> None:
    world = FakeWorld()
    event = finished_event(world, client_reference="c-7")

    assert notify_caller(NotifyMessage.model_validate(event), world.deps()) is NotifyOutcome.DELIVERED

    (posted,) = world.notifier.posted
    assert posted.url == "https://hooks.example.com/in"
    StandardWebhook(NOTIFY_SECRET).verify(
        posted.headers, posted.body, now=int(world.clock.now.timestamp()), tolerance_seconds=5
    )
    body = json.loads(posted.body)
    assert body["type"] == "video.job.failed"
    assert body["data"]["job_id"] == event["detail"]["job_id"]
    assert body["data"]["client_reference"] == "c-7"
    job = world.jobs.jobs[event["detail"]["job_id"]]
    assert job.notification is not None
    assert (job.notification.status, job.notification.attempts) == (NotificationStatus.DELIVERED, 1)


def test_a_failed_delivery_is_retried_on_the_schedule_with_the_same_webhook_id_and_body() -> None:
    world = FakeWorld()
    world.notifier.answers = [500, NotificationUndelivered("no answer: ReadTimeout"), 200]
    message = NotifyMessage.model_validate(finished_event(world))

    outcomes = [notify_caller(message, world.deps())]
    for _ in range(2):
        retry = world.notification_retries.scheduled[-1]
        world.clock.advance(retry.delay_seconds)
        outcomes.append(notify_caller(NotifyMessage.model_validate(retry.message), world.deps()))

    assert outcomes == [NotifyOutcome.RETRY_SCHEDULED, NotifyOutcome.RETRY_SCHEDULED, NotifyOutcome.DELIVERED]
    assert [retry.delay_seconds for retry in world.notification_retries.scheduled] == [5, 300]
    assert len({posted.headers["webhook-id"] for posted in world.notifier.posted}) == 1
    assert len({posted.body for posted in world.notifier.posted}) == 1
    assert len({posted.headers["webhook-timestamp"] for posted in world.notifier.posted}) == 3
    job = world.jobs.jobs[message.detail.job_id]
    assert job.notification is not None
    assert (job.notification.status, job.notification.attempts) == (NotificationStatus.DELIVERED, 3)


def test_a_long_wait_is_split_into_hops_of_at_most_fifteen_minutes() -> None:
    world = FakeWorld()
    world.notifier.answers = [503]
    world.notify_delays = (1800,)
    message = NotifyMessage.model_validate(finished_event(world))

    notify_caller(message, world.deps())
    (hop,) = world.notification_retries.scheduled
    assert hop.delay_seconds == 900
    world.clock.advance(900)
    assert notify_caller(NotifyMessage.model_validate(hop.message), world.deps()) is NotifyOutcome.WAITING
    assert len(world.notifier.posted) == 1


def test_410_stops_the_retries_and_the_schedule_ends_in_failed() -> None:
    world = FakeWorld()
    world.notifier.answers = [410]
    gone = NotifyMessage.model_validate(finished_event(world))
    assert notify_caller(gone, world.deps()) is NotifyOutcome.GONE
    assert world.notification_retries.scheduled == []

    world.notifier.answers = [500]
    last = gone.model_copy(update={"attempt": 4})  # three delays: the fourth try is the last
    assert notify_caller(last, world.deps()) is NotifyOutcome.FAILED
    job = world.jobs.jobs[gone.detail.job_id]
    assert job.notification is not None
    assert (job.notification.status, job.notification.last_error) == (NotificationStatus.FAILED, "HTTP 500")


@pytest.mark.parametrize("detail_type", ["Video Job Rejected", "Something Else"])
def test_only_outcomes_of_jobs_that_asked_are_posted(detail_type: str) -> None:
    world = FakeWorld()
    event = finished_event(world)
    plain = {
        **event,
        "detail": {**event["detail"], "request": {**event["detail"]["request"], "notify_url": None}},
    }

    assert notify_caller(NotifyMessage.model_validate(plain), world.deps()) is NotifyOutcome.NOT_REQUESTED
    other = {**event, "detail-type": detail_type}
    assert notify_caller(NotifyMessage.model_validate(other), world.deps()) is NotifyOutcome.NOT_REQUESTED
    assert world.notifier.posted == []
