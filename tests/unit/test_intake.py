"""The intake: validate, store as queued, queue for submission; never a provider call."""

import pytest

from tests.support import FakeWorld
from videojobs.errors import DependencyUnavailable, RequestRejected
from videojobs.logic.intake import accept_job, origin_key
from videojobs.models import EventOrigin, HttpOrigin, JobRequest, JobStatus, S3Origin


def request(**fields: object) -> JobRequest:
    return JobRequest.model_validate({"provider": "eachlabs", "prompt": "a lighthouse", **fields})


def test_a_valid_request_is_stored_queued_and_queued_for_submission_without_a_provider_call() -> None:
    world = FakeWorld()

    intake = accept_job(request(client_reference="order-7"), HttpOrigin(), world.deps())

    assert intake.created is True
    stored = world.jobs.jobs[intake.job.job_id]
    assert stored.status is JobStatus.QUEUED
    assert stored.origin == HttpOrigin()
    assert stored.view().client_reference == "order-7"
    assert [queued.request.job_id for queued in world.dispatches.sent] == [stored.job_id]
    assert all(fake.created == [] for fake in world.providers.values())


def test_the_same_s3_origin_gives_the_same_job_once() -> None:
    world = FakeWorld()
    origin = S3Origin(bucket="inputs", key="drops/a.jsonl", etag="abc", line=2)

    first = accept_job(request(), origin, world.deps())
    again = accept_job(request(), origin, world.deps())

    assert again.created is False
    assert again.job.job_id == first.job.job_id
    assert len(world.jobs.jobs) == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (S3Origin(bucket="b", key="k", etag="e1"), S3Origin(bucket="b", key="k", etag="e2")),
        (S3Origin(bucket="b", key="k", etag="e", line=1), S3Origin(bucket="b", key="k", etag="e", line=2)),
        (EventOrigin(event_id="1", source="s"), EventOrigin(event_id="2", source="s")),
    ],
)
def test_different_origins_give_different_jobs(
    one: S3Origin | EventOrigin, other: S3Origin | EventOrigin
) -> None:
    assert origin_key(one, None) != origin_key(other, None)


def test_an_event_with_a_client_reference_is_one_job_whatever_its_event_id() -> None:
    world = FakeWorld()

    first = accept_job(
        request(client_reference="r-1"), EventOrigin(event_id="e1", source="app"), world.deps()
    )
    again = accept_job(
        request(client_reference="r-1"), EventOrigin(event_id="e2", source="app"), world.deps()
    )

    assert again.job.job_id == first.job.job_id
    assert again.created is False


def test_a_redelivery_of_a_stored_but_unqueued_request_queues_it_again() -> None:
    world = FakeWorld()
    origin = EventOrigin(event_id="e1", source="app")
    world.dispatches.fail_next = 1
    with pytest.raises(DependencyUnavailable):
        accept_job(request(), origin, world.deps())
    (stored,) = world.jobs.jobs.values()
    assert stored.status is JobStatus.QUEUED  # an event door leaves it for the redelivery

    again = accept_job(request(), origin, world.deps())

    assert [queued.request.job_id for queued in world.dispatches.sent] == [again.job.job_id]


def test_an_http_job_that_cannot_be_queued_fails_instead_of_waiting_forever() -> None:
    world = FakeWorld()
    world.dispatches.fail_next = 1

    with pytest.raises(DependencyUnavailable):
        accept_job(request(), HttpOrigin(), world.deps())

    (stored,) = world.jobs.jobs.values()
    assert stored.status is JobStatus.FAILED
    assert [failed.job_id for failed in world.events.failed] == [stored.job_id]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.7/hook", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://[::ffff:127.0.0.1]/hook", "private"),
        ("https://100.64.1.1/hook", "private"),
        ("https://localhost/hook", "private"),
        ("http://example.com/hook", "https"),
        ("http://127.0.0.1:9/hook", "https"),
    ],
)
def test_a_notify_url_at_a_private_address_or_plain_http_is_refused_before_any_write(
    url: str, reason: str
) -> None:
    world = FakeWorld()

    with pytest.raises(RequestRejected) as raised:
        accept_job(request(notify_url=url), HttpOrigin(), world.deps())

    assert raised.value.field == "notify_url"
    assert reason in raised.value.reason
    assert world.jobs.jobs == {}
    assert world.dispatches.sent == []


def test_local_mode_lets_notify_url_be_plain_http_on_loopback_only() -> None:
    world = FakeWorld()
    world.intake_policy = world.intake_policy.__class__(
        **{**world.intake_policy.__dict__, "allow_loopback_urls": True}
    )

    accept_job(request(notify_url="http://127.0.0.1:8080/hook"), HttpOrigin(), world.deps())
    with pytest.raises(RequestRejected):
        accept_job(request(notify_url="http://192.168.1.5/hook"), HttpOrigin(), world.deps())


def test_an_unconfigured_provider_is_refused_naming_the_field() -> None:
    world = FakeWorld()
    del world.providers["gateway"]

    with pytest.raises(RequestRejected) as raised:
        accept_job(JobRequest(provider="gateway", prompt="p"), HttpOrigin(), world.deps())

    assert raised.value.field == "provider"
    assert world.jobs.jobs == {}


@pytest.mark.parametrize(
    ("fields", "usd"),
    [
        # EachLabs's document: a 6-second 720p clip at $0.2419 a second is about $1.45.
        ({"provider": "eachlabs", "resolution": "720p", "duration": 6}, 1.4514),
        # Replicate publishes no price we could read: no estimate, though every quantity is known.
        ({"provider": "replicate", "resolution": "720p", "duration": 6, "aspect_ratio": "16:9"}, None),
    ],
    ids=["eachlabs", "replicate"],
)
def test_the_stored_job_carries_the_cost_estimate_of_its_request(
    fields: dict[str, object], usd: float | None
) -> None:
    world = FakeWorld()

    intake = accept_job(request(**fields), HttpOrigin(), world.deps())

    assert world.jobs.jobs[intake.job.job_id].cost_estimate_usd == usd
    assert intake.job.cost_estimate_usd == usd
