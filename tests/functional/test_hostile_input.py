"""What an outside battery sent, through the handlers and the events/ files: deep JSON at every door,
bodies the schema forbids, control characters and invisible text, and media URLs that name private
addresses. Each gets a clear refusal naming the reason, and changes nothing."""

import dataclasses
import json
from typing import Any

import pytest

from functions.callback import app as callback
from functions.intake import app as intake
from tests.functional.test_handlers import (
    Context,
    body_of,
    eachlabs_world,
    stored_job,
    webhook_event,
)
from tests.support import FakeWorld, load_event

#: 100,000 nested arrays: 200 KB, under MAX_REQUEST_BYTES, and past Python's recursion limit.
DEEP = "[" * 100_000 + "]" * 100_000
#: Past the recursion limit too, and under the fake world's 64 KiB MAX_DROP_BYTES.
DEEP_DROP = "[" * 20_000 + "]" * 20_000
BASE = json.loads(load_event("create_job")["body"])


def post(world: FakeWorld, body: str) -> dict[str, Any]:
    event = load_event("create_job")
    event["body"] = body
    response: dict[str, Any] = intake.lambda_handler(event, Context(), deps=world.deps())
    return response


def test_a_job_whose_prompt_is_a_hundred_thousand_nested_arrays_is_a_400_naming_the_depth() -> None:
    world = FakeWorld()

    response = post(world, '{"provider": "eachlabs", "prompt": ' + DEEP + "}")

    assert response["statusCode"] == 400
    assert body_of(response) == {
        "error": {"code": "malformed_json", "message": "the JSON is nested deeper than 32 levels"}
    }
    assert world.jobs.jobs == {}
    assert world.dispatches.sent == []


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        (json.dumps([BASE]), ["body"], "dict_type"),
        (json.dumps("a job"), ["body"], "dict_type"),
        (json.dumps(7), ["body"], "dict_type"),
        (json.dumps({**BASE, "duration": "5"}), ["body", "duration"], "int_type"),
        (json.dumps({**BASE, "provider": "byteplus", "watermark": 0.0}), ["body", "watermark"], "bool_type"),
        (json.dumps({**BASE, "generate_audio": "true"}), ["body", "generate_audio"], "bool_type"),
        (json.dumps({**BASE, "prompt": "\u200b\u200e\u200f"}), ["body", "prompt"], "value_error"),
        (json.dumps({**BASE, "prompt": "a\u0000b"}), ["body", "prompt"], "value_error"),
        (
            json.dumps({**BASE, "notify_url": "https://example.com/a\r\nX-Injected: 1"}),
            ["body", "notify_url"],
            "value_error",
        ),
        (
            json.dumps({**BASE, "first_frame_url": "https://cdn.example.com/a b.png"}),
            ["body", "first_frame_url"],
            "value_error",
        ),
    ],
)
def test_a_body_the_schema_forbids_is_a_422_naming_the_field_and_writes_nothing(
    body: str, loc: list[str], kind: str
) -> None:
    world = FakeWorld()

    response = post(world, body)

    assert response["statusCode"] == 422
    (problem,) = body_of(response)["detail"]
    assert problem["loc"] == loc
    assert problem["type"] == kind
    assert world.jobs.jobs == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/a.png",
        "https://127.0.0.1/a.png",
        "https://[::ffff:169.254.169.254]/a.png",
        "https://100.64.0.1/a.png",
        "https://localhost/a.png",
        "https://metadata.internal/a.png",
    ],
)
def test_a_media_url_naming_a_private_address_is_a_422_naming_the_field(url: str) -> None:
    world = FakeWorld()

    response = post(world, json.dumps({**BASE, "provider": "atlascloud", "reference_image_urls": [url]}))

    assert response["statusCode"] == 422
    (problem,) = body_of(response)["detail"]
    assert problem["loc"] == ["body", "reference_image_urls"]
    assert "private" in problem["msg"] or "loopback" in problem["msg"]
    assert world.jobs.jobs == {}


def test_local_mode_still_takes_media_on_loopback() -> None:
    world = FakeWorld()
    world.intake_policy = dataclasses.replace(world.intake_policy, allow_loopback_urls=True)

    response = post(world, json.dumps({**BASE, "first_frame_url": "https://127.0.0.1:4566/frame.png"}))

    assert response["statusCode"] == 202


def test_a_webhook_nested_too_deep_is_a_400_and_changes_nothing() -> None:
    world = eachlabs_world()
    job = stored_job(world, "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    event = webhook_event(world, job, world.authenticator.token_for(job.job_id))
    event["body"] = '{"status": "success", "output": ' + DEEP + "}"

    response = callback.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 400
    assert body_of(response)["error"] == {
        "code": "malformed_json",
        "message": "the JSON is nested deeper than 32 levels",
    }
    assert world.jobs.jobs[job.job_id] == job
    assert world.transfers.sent == []


def drop_event(key: str) -> dict[str, Any]:
    event = load_event("s3_drop_message")
    message = json.loads(event["Records"][0]["body"])
    message["detail"]["object"]["key"] = key
    event["Records"][0]["body"] = json.dumps(message)
    return event


def test_a_json_drop_nested_too_deep_is_announced_rejected_and_never_retried() -> None:
    world = FakeWorld()
    bucket = json.loads(load_event("s3_drop_message")["Records"][0]["body"])["detail"]["bucket"]["name"]
    world.inputs.objects[f"s3://{bucket}/drops/deep.json"] = (
        "application/json",
        ('{"prompt": ' + DEEP_DROP + "}").encode(),
    )

    response = intake.lambda_handler(drop_event("drops/deep.json"), Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}  # done: nothing for SQS to deliver again
    (rejection,) = world.events.rejected
    assert [(d.loc, d.msg, d.type) for d in rejection.detail] == [
        (["body"], "the JSON is nested deeper than 32 levels", "json_too_deep")
    ]
    assert world.jobs.jobs == {}


def test_a_manifest_line_nested_too_deep_is_rejected_and_the_other_lines_run() -> None:
    world = FakeWorld()
    bucket = json.loads(load_event("s3_drop_message")["Records"][0]["body"])["detail"]["bucket"]["name"]
    lines = [
        json.dumps({**BASE, "client_reference": "one"}),
        '{"prompt": ' + DEEP_DROP + "}",
        json.dumps(BASE),
    ]
    world.inputs.objects[f"s3://{bucket}/drops/night.jsonl"] = (
        "application/x-ndjson",
        "\n".join(lines).encode(),
    )

    response = intake.lambda_handler(drop_event("drops/night.jsonl"), Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    assert sorted(job.origin.line for job in world.jobs.jobs.values()) == [1, 3]  # type: ignore[union-attr]
    (rejection,) = world.events.rejected
    assert rejection.origin.line == 2  # type: ignore[union-attr]
    assert rejection.detail[0].type == "json_too_deep"


def test_a_requested_event_nested_too_deep_is_announced_rejected_from_its_envelope() -> None:
    world = FakeWorld()
    event = load_event("job_requested_message")
    requested = json.loads(event["Records"][0]["body"])
    body = json.dumps({**requested, "detail": "DEEP"}).replace('"DEEP"', '{"prompt": ' + DEEP + "}")
    event["Records"][0]["body"] = body

    response = intake.lambda_handler(event, Context(), deps=world.deps())

    assert response == {"batchItemFailures": []}
    (rejection,) = world.events.rejected
    assert rejection.origin.event_id == requested["id"]  # type: ignore[union-attr]
    assert rejection.origin.source == requested["source"]  # type: ignore[union-attr]
    assert rejection.detail[0].type == "json_too_deep"
    assert world.jobs.jobs == {}


def test_an_image_drop_takes_its_duration_from_metadata_text_and_refuses_one_that_is_no_number() -> None:
    world = FakeWorld()
    event = load_event("s3_drop_message")
    drop = json.loads(event["Records"][0]["body"])["detail"]
    url = f"s3://{drop['bucket']['name']}/{drop['object']['key']}"
    world.inputs.objects[url] = ("image/png", b"png")
    world.input_buckets = frozenset({drop["bucket"]["name"]})
    world.inputs.metadata[url] = {"prompt": "a cat yawns", "duration": " 5 "}

    intake.lambda_handler(event, Context(), deps=world.deps())
    world.inputs.metadata[url] = {"prompt": "a cat yawns", "duration": "five"}
    event["Records"][0]["body"] = event["Records"][0]["body"].replace(drop["object"]["etag"], "etag-2")
    intake.lambda_handler(event, Context(), deps=world.deps())

    (job,) = world.jobs.jobs.values()
    assert job.request.duration == 5
    (rejection,) = world.events.rejected
    assert rejection.detail[0].loc == ["body", "duration"]


@pytest.mark.parametrize("field", ["first_frame_url", "notify_url"])
def test_a_url_whose_host_cannot_be_parsed_is_a_422_not_a_500(field: str) -> None:
    world = FakeWorld()

    response = post(world, json.dumps({**BASE, "provider": "atlascloud", field: "https://[0:a/b.png"}))

    assert response["statusCode"] == 422
    (problem,) = body_of(response)["detail"]
    assert problem["loc"] == ["body", field]
    assert problem["msg"] == "must be a valid URL"
