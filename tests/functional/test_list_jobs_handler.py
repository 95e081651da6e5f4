"""GET /jobs through the status function, with the in-memory job store: filters, paging, and what
it refuses."""

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from functions.status import app as status
from tests.support import FakeLambdaContext, FakeWorld, load_event
from videojobs.models import Job, JobRequest, JobStatus, ProviderName


def list_event(**query: str) -> dict[str, Any]:
    event = load_event("list_jobs")
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = urlencode(query)
    return event


def answer(world: FakeWorld, **query: str) -> tuple[int, Any]:
    response = status.lambda_handler(list_event(**query), FakeLambdaContext(), deps=world.deps())
    assert "Traceback" not in response["body"]
    return response["statusCode"], json.loads(response["body"])


def store(world: FakeWorld, provider: ProviderName, state: JobStatus, minutes_ago: int, **fields: Any) -> Job:
    request = JobRequest(provider=provider, prompt="p", **fields)
    job = Job.new(request, now=world.clock() - timedelta(minutes=minutes_ago), retention=timedelta(days=1))
    world.jobs.create_if_absent(job.model_copy(update={"status": state}))
    return job


def test_the_event_file_lists_the_succeeded_eachlabs_jobs_newest_first() -> None:
    # Given jobs of two providers in two states
    world = FakeWorld()
    old = store(world, "eachlabs", JobStatus.SUCCEEDED, 30)
    new = store(world, "eachlabs", JobStatus.SUCCEEDED, 5)
    store(world, "eachlabs", JobStatus.FAILED, 10)
    store(world, "fal", JobStatus.SUCCEEDED, 1)

    # When the event file's listing (status=succeeded, provider=eachlabs) is asked for
    status_code, body = answer(world, **load_event("list_jobs")["queryStringParameters"])

    # Then only those jobs come, newest first, as job views
    assert status_code == 200
    assert [job["job_id"] for job in body["jobs"]] == [new.job_id, old.job_id]
    assert body["jobs"][0] == json.loads(
        new.model_copy(update={"status": JobStatus.SUCCEEDED}).view().model_dump_json()
    )
    assert body["next_cursor"] is None


def test_the_cursor_walks_every_page_once() -> None:
    world = FakeWorld()
    jobs = [store(world, "fal", JobStatus.QUEUED, minutes) for minutes in range(7)]

    seen: list[str] = []
    query = {"provider": "fal", "limit": "3"}
    pages = 0
    while True:
        status_code, body = answer(world, **query)
        assert status_code == 200
        pages += 1
        seen += [job["job_id"] for job in body["jobs"]]
        if body["next_cursor"] is None:
            break
        query["cursor"] = body["next_cursor"]

    assert seen == [job.job_id for job in jobs]
    assert pages == 3


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"statuss": "queued"}, ["query", "statuss"]),
        ({"status": "running"}, ["query", "status"]),
        ({"provider": "runway"}, ["query", "provider"]),
        ({"origin": "ftp"}, ["query", "origin"]),
        ({"created_after": "yesterday"}, ["query", "created_after"]),
        ({"created_after": "1700000000"}, ["query", "created_after"]),
        ({"created_before": "2026-11-24T12:00:00"}, ["query", "created_before"]),
        ({"created_before": "2026-02-30T12:00:00Z"}, ["query", "created_before"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "1000"}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"client_reference": ""}, ["query", "client_reference"]),
    ],
)
def test_bad_query_parameters_are_422_naming_the_parameter(query: dict[str, str], loc: list[str]) -> None:
    status_code, body = answer(FakeWorld(), **query)

    assert status_code == 422
    assert [item["loc"] for item in body["detail"]] == [loc]


def test_an_edited_cursor_is_400_and_so_is_one_reused_with_other_filters() -> None:
    world = FakeWorld()
    for minutes in range(3):
        store(world, "fal", JobStatus.QUEUED, minutes)
    _, first = answer(world, status="queued", limit="1")
    cursor = first["next_cursor"]
    edited = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")

    tampered = answer(world, status="queued", limit="1", cursor=edited)
    other_filters = answer(world, status="failed", limit="1", cursor=cursor)
    same_filters_other_limit = answer(world, status="queued", limit="2", cursor=cursor)

    assert tampered == (
        400,
        {"error": {"code": "invalid_cursor", "message": "the cursor is not one this API issued"}},
    )
    assert other_filters[0] == 400
    assert other_filters[1]["error"]["code"] == "invalid_cursor"
    assert same_filters_other_limit[0] == 200
    assert len(same_filters_other_limit[1]["jobs"]) == 2
