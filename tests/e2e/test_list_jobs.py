"""GET /jobs through the local stack: each filter, the time range, the cursor across pages, and what
the route refuses. Every job here carries one end user id of its own, so the jobs other tests make on
the same stack never get in the way."""

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
T2V = {"provider": "eachlabs", "prompt": "a list of lighthouses", "resolution": "480p", "duration": 4}
FAL = {"provider": "fal", "prompt": "a lantern", "resolution": "480p", "duration": 4, "aspect_ratio": "16:9"}


def every_page(api: httpx.Client, **query: Any) -> tuple[list[dict[str, Any]], int]:
    """The jobs of every page, following next_cursor, and how many pages there were."""
    jobs: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        response = api.get("/jobs", params={**query, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["jobs"]) <= int(query.get("limit", 25))
        jobs += body["jobs"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return jobs, pages


def ids(jobs: list[dict[str, Any]]) -> list[str]:
    return [job["job_id"] for job in jobs]


def newest_first(jobs: list[dict[str, Any]]) -> bool:
    created = [datetime.fromisoformat(job["created_at"]) for job in jobs]
    return created == sorted(created, reverse=True)


def until_listed(api: httpx.Client, count: int, **query: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        jobs, _ = every_page(api, **query)
        if len(jobs) >= count or time.monotonic() > deadline:
            return jobs
        time.sleep(0.2)


def test_every_filter_and_the_cursor_across_pages(
    stack: LocalStack, api: httpx.Client, wait_for_job: Wait
) -> None:
    # Given six jobs of one end user (EachLabs is the dialect with end_user_id): four with a
    # client_reference, one without, one through the EventBridge door; and a fal job
    user = f"lister-{uuid.uuid4().hex[:12]}"
    started = datetime.now(UTC) - timedelta(seconds=1)
    posted = [
        api.post("/jobs", json={**T2V, "end_user_id": user, "client_reference": f"{user}-{n}"}).json()
        for n in range(4)
    ]
    fal = api.post("/jobs", json={**FAL, "client_reference": f"{user}-fal"}).json()
    last = api.post("/jobs", json={**T2V, "end_user_id": user}).json()
    posted.append(last)
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.ref("VideoEventsBus"),
                "Source": "com.example.lists",
                "DetailType": "Video Job Requested",
                "Detail": json.dumps({**T2V, "end_user_id": user}),
            }
        ]
    )
    assert all("job_id" in job for job in [*posted, fal]), posted
    finished = {job["job_id"]: wait_for_job(job["job_id"])["status"] for job in [*posted, fal]}
    assert set(finished.values()) == {"succeeded"}, finished
    everyone = until_listed(api, 6, end_user_id=user)

    # When the user's jobs are listed two to a page
    paged, pages = every_page(api, end_user_id=user, limit=2)

    # Then every job comes once, newest first, across three pages
    assert pages == 3
    assert len(paged) == len(set(ids(paged))) == 6
    assert set(ids(posted)) < set(ids(paged))
    assert newest_first(paged)
    assert ids(paged) == ids(everyone)
    by_event = next(job for job in paged if job["origin"]["kind"] == "event")

    # And each filter narrows it as it says
    def listed(**query: Any) -> list[str]:
        return ids(every_page(api, end_user_id=user, **query)[0])

    assert listed(provider="eachlabs") == ids(paged)
    assert listed(provider="fal") == []
    assert ids(every_page(api, client_reference=f"{user}-fal")[0]) == [fal["job_id"]]
    assert ids(every_page(api, client_reference=f"{user}-fal", provider="fal")[0]) == [fal["job_id"]]
    assert ids(every_page(api, client_reference=f"{user}-fal", provider="eachlabs")[0]) == []
    assert ids(every_page(api, client_reference=f"{user}-2")[0]) == [posted[2]["job_id"]]
    assert ids(every_page(api, client_reference=user)[0]) == []
    assert listed(origin="event") == [by_event["job_id"]]
    assert listed(origin="http") == [job for job in ids(paged) if job != by_event["job_id"]]
    assert listed(origin="s3") == []
    assert listed(status="queued") == []
    assert listed(status="succeeded") == ids(paged)
    # The time range, ends excluded, in RFC 3339 with an offset
    assert listed(created_after=started.isoformat()) == ids(paged)
    assert listed(created_before=started.isoformat()) == []
    assert listed(created_after=last["created_at"]) == ids(paged)[: ids(paged).index(last["job_id"])]
    assert (
        listed(created_before=last["created_at"], created_after=started.isoformat()) == ids(posted[:4])[::-1]
    )
    # The combinations, paged too
    assert ids(every_page(api, end_user_id=user, status="succeeded", origin="http", limit=1)[0]) == [
        job for job in ids(paged) if job != by_event["job_id"]
    ]
    # And with no filter but the time range, the index of every job holds them all, newest first
    recent, _ = every_page(api, created_after=started.isoformat(), limit=100)
    assert set(ids(paged)) | {fal["job_id"]} <= set(ids(recent))
    assert [job["created_at"] for job in recent] == sorted(
        (job["created_at"] for job in recent), reverse=True
    )


def test_bad_query_parameters_are_422_naming_the_parameter(api: httpx.Client) -> None:
    cases = {
        "limit=0": ["query", "limit"],
        "limit=1000": ["query", "limit"],
        "status=running": ["query", "status"],
        "origin=ftp": ["query", "origin"],
        "created_after=last-tuesday": ["query", "created_after"],
        "created_before=2026-11-24T12:00:00": ["query", "created_before"],
        "state=queued": ["query", "state"],
    }
    for query, loc in cases.items():
        response = api.get(f"/jobs?{query}")

        assert response.status_code == 422, (query, response.text)
        assert [item["loc"] for item in response.json()["detail"]] == [loc], query


def test_an_edited_or_misapplied_cursor_is_400_never_a_page(api: httpx.Client, wait_for_job: Wait) -> None:
    user = f"lister-{uuid.uuid4().hex[:12]}"
    for _ in range(3):
        api.post("/jobs", json={**T2V, "end_user_id": user}).raise_for_status()
    cursor = api.get("/jobs", params={"end_user_id": user, "limit": 1}).json()["next_cursor"]
    assert cursor
    edited = cursor[:10] + ("x" if cursor[10] != "x" else "y") + cursor[11:]

    tampered = api.get("/jobs", params={"end_user_id": user, "limit": 1, "cursor": edited})
    other_user = api.get("/jobs", params={"end_user_id": "someone-else", "limit": 1, "cursor": cursor})
    no_filter = api.get("/jobs", params={"limit": 1, "cursor": cursor})

    for response in (tampered, other_user, no_filter):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_cursor"
        assert "Traceback" not in response.text


def test_listing_needs_a_signature(stack: LocalStack) -> None:
    assert httpx.get(f"{stack.api_url}/jobs").status_code == 403
