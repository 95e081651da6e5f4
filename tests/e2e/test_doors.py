"""The event doors and caller notifications, for real: S3 -> EventBridge -> SQS -> the intake function,
put-events on the pipeline's bus, and signed POSTs to a loopback receiver."""

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from local.simulator import encode_png
from local.simulator.testing import LoopbackPeer
from local.stack import LocalStack
from tests.support import NOTIFY_SECRET
from videojobs.standard_webhooks import StandardWebhook

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
PNG = encode_png(2, 2, bytes(12))


def put_drop(stack: LocalStack, name: str, body: bytes, **metadata: str) -> str:
    """Upload under drops/, as `aws s3 cp` would; returns the object's ETag."""
    answer = stack.client("s3").put_object(
        Bucket=stack.ref("InputsBucket"), Key=f"drops/{name}", Body=body, Metadata=metadata
    )
    return str(answer["ETag"]).strip('"')


def jobs_from(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    """Every job whose origin is this drop (a scan: the local table is small)."""
    items = stack.client("dynamodb").scan(TableName=stack.ref("JobsTable"))["Items"]
    return [
        item
        for item in items
        if item.get("origin", {}).get("M", {}).get("key", {}).get("S") == f"drops/{key}"
    ]


def origin_key(event: dict[str, Any]) -> tuple[str | None, int | None]:
    origin = event["detail"]["origin"]
    return origin.get("key"), origin.get("line")


@pytest.fixture
def fresh_events(stack: LocalStack) -> Iterator[None]:
    stack.drain_events(wait_seconds=0.2)  # what earlier tests left behind
    return


@pytest.mark.usefixtures("fresh_events")
def test_a_json_drop_naming_an_image_beside_it_ends_with_the_video(stack: LocalStack) -> None:
    put_drop(stack, "boat.png", PNG)  # no prompt: media for the drop below, starts nothing
    request = {
        "provider": "eachlabs",
        "prompt": "the boat sails off",
        "first_frame_url": "boat.png",
        "resolution": "480p",
        "duration": 4,
        "client_reference": "drop-json-1",
    }
    put_drop(stack, "boat.json", json.dumps(request).encode())

    (event,) = stack.wait_for_outcomes(1, timeout=90)

    assert event["detail-type"] == "Video Job Succeeded", event
    detail = event["detail"]
    assert detail["client_reference"] == "drop-json-1"
    assert detail["origin"]["kind"] == "s3"
    assert origin_key(event) == ("drops/boat.json", None)
    assert detail["request"]["first_frame_url"] == f"s3://{stack.ref('InputsBucket')}/drops/boat.png"
    video = stack.client("s3").get_object(Bucket=detail["video"]["bucket"], Key=detail["video"]["key"])
    assert video["Body"].read()[4:8] == b"ftyp"
    assert jobs_from(stack, "boat.png") == []


@pytest.mark.usefixtures("fresh_events")
def test_an_image_dropped_with_metadata_alone_becomes_a_video(stack: LocalStack) -> None:
    put_drop(stack, "cat.png", PNG, prompt="a cat wakes up", duration="4", resolution="480p")

    (event,) = stack.wait_for_outcomes(1, timeout=90)

    assert event["detail-type"] == "Video Job Succeeded", event
    assert origin_key(event) == ("drops/cat.png", None)
    assert event["detail"]["request"]["first_frame_url"].endswith("/drops/cat.png")
    assert event["detail"]["request"]["provider"] == "eachlabs"  # DROP_DEFAULT_PROVIDER


@pytest.mark.usefixtures("fresh_events")
def test_a_manifest_runs_its_good_lines_reports_its_bad_one_and_is_taken_once(stack: LocalStack) -> None:
    lines = [
        {"provider": "eachlabs", "prompt": "one", "resolution": "480p", "duration": 4},
        {"provider": "eachlabs", "prompt": "two", "resolution": "8k", "client_reference": "line-2"},
        {"provider": "eachlabs", "prompt": "three", "resolution": "480p", "duration": 4},
    ]
    manifest = "\n".join(json.dumps(line) for line in lines).encode()
    etag = put_drop(stack, "batch.jsonl", manifest)

    events = stack.wait_for_outcomes(3, timeout=90)

    by_line = {origin_key(event)[1]: event for event in events}
    assert sorted(by_line) == [1, 2, 3]
    assert by_line[1]["detail-type"] == by_line[3]["detail-type"] == "Video Job Succeeded"
    rejected = by_line[2]
    assert rejected["detail-type"] == "Video Job Rejected"
    assert rejected["detail"]["client_reference"] == "line-2"
    assert [item["loc"] for item in rejected["detail"]["detail"]] == [["body", "resolution"]]
    for line in (1, 3):
        video = by_line[line]["detail"]["video"]
        stack.client("s3").head_object(Bucket=video["bucket"], Key=video["key"])
    assert len(jobs_from(stack, "batch.jsonl")) == 2

    # S3 and EventBridge deliver at least once: the same notification again, as the rule sends it.
    duplicate = {
        "version": "0",
        "id": "a-second-delivery",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-30T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "bucket": {"name": stack.ref("InputsBucket")},
            "object": {"key": "drops/batch.jsonl", "etag": etag, "size": len(manifest)},
        },
    }
    stack.client("sqs").send_message(QueueUrl=stack.ref("IntakeQueue"), MessageBody=json.dumps(duplicate))
    # ... and the same manifest uploaded again, unchanged (same ETag).
    assert put_drop(stack, "batch.jsonl", manifest) == etag

    again = stack.wait_for_outcomes(2, timeout=8)  # the bad line is reported again, nothing else
    assert {event["detail-type"] for event in again} <= {"Video Job Rejected"}
    assert {event["detail"]["rejection_id"] for event in again} <= {rejected["detail"]["rejection_id"]}
    assert len(jobs_from(stack, "batch.jsonl")) == 2


@pytest.mark.usefixtures("fresh_events")
def test_a_video_job_requested_event_ends_succeeded_with_its_reference(stack: LocalStack) -> None:
    events = stack.client("events")
    detail = {"provider": "eachlabs", "prompt": "a kite", "resolution": "480p", "duration": 4}

    answer = events.put_events(
        Entries=[
            {
                "EventBusName": stack.ref("VideoEventsBus"),
                "Source": "com.example.storyboards",
                "DetailType": "Video Job Requested",
                "Detail": json.dumps({**detail, "client_reference": "board-7"}),
            },
            {
                "EventBusName": stack.ref("VideoEventsBus"),
                "Source": "com.example.storyboards",
                "DetailType": "Video Job Requested",
                "Detail": json.dumps({**detail, "duration": 99, "client_reference": "board-8"}),
            },
        ]
    )

    assert answer["FailedEntryCount"] == 0
    by_reference = {
        event["detail"]["client_reference"]: event for event in stack.wait_for_outcomes(2, timeout=90)
    }
    good, bad = by_reference["board-7"], by_reference["board-8"]
    assert good["detail-type"] == "Video Job Succeeded"
    assert good["detail"]["origin"] == {
        "kind": "event",
        "event_id": good["detail"]["origin"]["event_id"],
        "source": "com.example.storyboards",
    }
    assert bad["detail-type"] == "Video Job Rejected"
    assert bad["detail"]["detail"][0]["loc"] == ["body", "duration"]


@pytest.mark.usefixtures("fresh_events")
def test_the_pipelines_own_events_never_start_a_job(stack: LocalStack) -> None:
    before = stack.job_count()
    request = {"provider": "eachlabs", "prompt": "loop?"}
    entries = [
        {
            "EventBusName": stack.ref("VideoEventsBus"),
            "Source": "seedance.video-pipeline",
            "DetailType": "Video Job Requested",
            "Detail": json.dumps(request),
        },
        # Right behind it, through the same door: an outside request the intake rejects (no job).
        # Once its rejection is out and the intake queue is empty, the event before it has had
        # every chance to start a job.
        {
            "EventBusName": stack.ref("VideoEventsBus"),
            "Source": "com.example.storyboards",
            "DetailType": "Video Job Requested",
            "Detail": json.dumps({**request, "duration": 99, "client_reference": "own-events-marker"}),
        },
    ]

    answer = stack.client("events").put_events(Entries=entries)

    assert answer["FailedEntryCount"] == 0
    (marker,) = stack.wait_for_outcomes(1, timeout=60)
    assert (marker["detail-type"], marker["detail"]["client_reference"]) == (
        "Video Job Rejected",
        "own-events-marker",
    )
    wait_until_taken_in(stack)
    assert stack.job_count() == before


def wait_until_taken_in(stack: LocalStack, *, timeout: float = 30) -> None:
    """Until the intake queue holds no message, waiting or in flight: every event routed to the
    intake has been handled."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + timeout
    while True:
        attributes = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.ref("IntakeQueue"), AttributeNames=names
        )["Attributes"]
        if all(attributes[name] == "0" for name in names):
            return
        assert time.monotonic() < deadline, f"the intake queue never emptied: {attributes}"
        time.sleep(0.1)


@pytest.fixture
def receiver() -> Iterator[LoopbackPeer]:
    with LoopbackPeer() as peer:
        yield peer


def test_notify_url_gets_the_outcome_signed_and_a_500_is_retried_with_the_same_id(
    stack: LocalStack, api: httpx.Client, receiver: LoopbackPeer, wait_for_job: Wait
) -> None:
    receiver.post_statuses = [500]
    request = {
        "provider": "eachlabs",
        "prompt": "a bell rings",
        "resolution": "480p",
        "duration": 4,
        "notify_url": f"{receiver.url}/hooks/video",
        "client_reference": "notify-1",
    }

    job = wait_for_job(api.post("/jobs", json=request).json()["job_id"])
    first, second = receiver.wait_for(2, timeout=30)

    assert job["status"] == "succeeded"
    assert first.path == second.path == "/hooks/video"
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    signer = StandardWebhook(NOTIFY_SECRET)
    signer.verify(second.headers, second.body, now=int(time.time()), tolerance_seconds=60)
    body = second.json()
    assert body["type"] == "video.job.succeeded"
    assert body["data"]["job_id"] == job["job_id"]
    assert body["data"]["client_reference"] == "notify-1"
    recorded = wait_for_job(job["job_id"], until={"never"}, timeout=3)["notification"]
    assert recorded == {"status": "delivered", "attempts": 2, "last_error": None}


@pytest.mark.parametrize(
    "url", ["https://10.0.0.5/hook", "https://169.254.169.254/latest/meta-data", "http://192.168.0.9/x"]
)
def test_a_private_notify_url_is_refused_at_intake(stack: LocalStack, api: httpx.Client, url: str) -> None:
    before = stack.job_count()

    response = api.post("/jobs", json={"provider": "eachlabs", "prompt": "p", "notify_url": url})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "notify_url"]
    after = stack.job_count()
    assert after == before
