"""Deep JSON and bodies the schema forbids, through each door of the local stack: POST /jobs answers
400 or 422 naming the reason; a drop, a manifest line or a Video Job Requested event ends as a Video
Job Rejected event naming the depth. No job is written for them and nothing reaches the intake's
dead-letter queue."""

import json
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from tests.e2e.test_doors import jobs_from, put_drop

pytestmark = pytest.mark.e2e
T2V = {"provider": "eachlabs", "prompt": "a gate", "resolution": "480p", "duration": 4}
TOO_DEEP = "the JSON is nested deeper than 32 levels"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def intake_dead_letters(stack: LocalStack) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.ref("IntakeDeadLetterQueue"), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def rejections_of(stack: LocalStack, count: int) -> list[dict[str, Any]]:
    outcomes = stack.wait_for_outcomes(count, timeout=60)
    assert len(outcomes) == count, outcomes
    return [event for event in outcomes if event["detail-type"] == "Video Job Rejected"]


@pytest.fixture(autouse=True)
def fresh_events(stack: LocalStack) -> None:
    stack.drain_events(wait_seconds=0.2)


def test_post_jobs_with_a_hundred_thousand_nested_arrays_is_a_400_naming_the_depth(
    stack: LocalStack, api: httpx.Client
) -> None:
    before = stack.job_count()

    response = api.post(
        "/jobs",
        json=None,
        content=f'{{"provider": "eachlabs", "prompt": {nested(100_000)}}}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert response.json() == {"error": {"code": "malformed_json", "message": TOO_DEEP}}
    assert stack.job_count() == before


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ([T2V], ["body"]),
        ({**T2V, "duration": "5"}, ["body", "duration"]),
        ({**T2V, "generate_audio": 0}, ["body", "generate_audio"]),
    ],
    ids=["array", "string-duration", "number-for-boolean"],
)
def test_post_jobs_with_a_body_the_schema_forbids_is_a_422_naming_the_field(
    stack: LocalStack, api: httpx.Client, body: Any, loc: list[str]
) -> None:
    before = stack.job_count()

    response = api.post("/jobs", json=body)

    assert response.status_code == 422, response.text
    assert [item["loc"] for item in response.json()["detail"]] == [loc]
    assert stack.job_count() == before


def test_a_json_drop_nested_too_deep_is_rejected_naming_the_depth(stack: LocalStack) -> None:
    put_drop(stack, "deep.json", f'{{"provider": "eachlabs", "prompt": {nested(20_000)}}}'.encode())

    (rejected,) = rejections_of(stack, 1)

    assert rejected["detail"]["origin"]["key"] == "drops/deep.json"
    assert rejected["detail"]["detail"] == [{"loc": ["body"], "msg": TOO_DEEP, "type": "json_too_deep"}]
    assert jobs_from(stack, "deep.json") == []
    assert intake_dead_letters(stack) == 0


def test_a_manifest_line_nested_too_deep_is_rejected_and_the_other_lines_run(stack: LocalStack) -> None:
    lines = [
        json.dumps(T2V),
        f'{{"prompt": {nested(20_000)}}}',
        json.dumps({**T2V, "prompt": "a second gate"}),
    ]
    put_drop(stack, "deep.jsonl", "\n".join(lines).encode())

    outcomes = stack.wait_for_outcomes(3, timeout=90)

    by_line = {event["detail"]["origin"]["line"]: event for event in outcomes}
    assert sorted(by_line) == [1, 2, 3]
    assert by_line[2]["detail-type"] == "Video Job Rejected"
    assert by_line[2]["detail"]["detail"][0]["type"] == "json_too_deep"
    assert [by_line[line]["detail-type"] for line in (1, 3)] == ["Video Job Succeeded"] * 2
    assert intake_dead_letters(stack) == 0


def test_a_video_job_requested_event_nested_too_deep_is_rejected_naming_the_depth(stack: LocalStack) -> None:
    before = stack.job_count()
    detail = f'{{"provider": "eachlabs", "prompt": {nested(100)}, "client_reference": "deep-1"}}'

    answer = stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.ref("VideoEventsBus"),
                "Source": "com.example.storyboards",
                "DetailType": "Video Job Requested",
                "Detail": detail,
            }
        ]
    )

    assert answer["FailedEntryCount"] == 0
    (rejected,) = rejections_of(stack, 1)
    assert rejected["detail"]["origin"]["kind"] == "event"
    assert rejected["detail"]["origin"]["source"] == "com.example.storyboards"
    assert rejected["detail"]["detail"] == [{"loc": ["body"], "msg": TOO_DEEP, "type": "json_too_deep"}]
    assert stack.job_count() == before
    assert intake_dead_letters(stack) == 0
