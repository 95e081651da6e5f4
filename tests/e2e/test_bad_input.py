"""Bad input through the local front: each gets a JSON error in the documented shape, nothing is
written, and no answer is a 5xx or an HTML page."""

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
T2V = {"provider": "eachlabs", "prompt": "a gate", "resolution": "480p", "duration": 4}


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed_json"),
        (b'{"prompt": "\xff\xfe bad utf-8"}', {"content-type": "application/json"}, 400, "malformed_json"),
        (
            b'{"provider": "eachlabs", "prompt": "p"}',
            {"content-type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        (b"x" * (5 * 1024 * 1024), {"content-type": "application/json"}, 413, "too_large"),
    ],
    ids=["malformed-json", "not-utf8", "text-plain", "5-MB"],
)
def test_a_bad_body_gets_its_status_in_the_error_shape_and_writes_nothing(
    stack: LocalStack, api: httpx.Client, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    before = stack.job_count()

    response = api.post("/jobs", content=content, headers=headers)

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text
    assert stack.job_count() == before


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE", "OPTIONS"])
def test_a_wrong_method_on_a_known_route_is_405_naming_the_allowed_one(
    api: httpx.Client, method: str
) -> None:
    response = api.request(method, "/jobs")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_wrong_method_on_the_webhook_route_is_405_without_a_signature(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_url}/webhooks/eachlabs/some-job")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_an_unknown_route_is_404_in_the_error_shape(api: httpx.Client) -> None:
    response = api.get("/no/such/route")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "no such route"}}


def test_a_burst_of_concurrent_webhooks_is_each_answered_for_its_own_job(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    """8 jobs whose webhooks are each delivered 5 times at once: 40 concurrent valid webhooks."""
    sim.post("/faults", json={"duplicate_webhooks": 5}).raise_for_status()
    job_ids: list[str] = []

    def submit() -> None:
        job_ids.append(api.post("/jobs", json=T2V).json()["job_id"])

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    jobs = [wait_for_job(job_id, timeout=90) for job_id in job_ids]

    assert [job["status"] for job in jobs] == ["succeeded"] * 8
    for job in jobs:
        record = sim.get(f"/predictions/{job['provider_job_id']}").json()
        answers = [attempt["status_code"] for attempt in record["webhook"]["attempts"]]
        assert len(answers) >= 5
        assert all(code is not None and code < 300 for code in answers), answers
