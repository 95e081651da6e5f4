"""The spending ceiling through the local stack: never passed by jobs submitted at once, a job over it
failed with its figures, and a refused create's reservation given back, as GET /spend shows.

One stack of its own (tests/e2e_isolated), with a daily ceiling of 2.00 USD and 0.50 USD per end user
a day. The storm fills the day, so it runs last; it reads the day's figures first and counts on what is
left.
"""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e
#: EachLabs' price for this request: 0.4516 USD.
T2V = {"provider": "eachlabs", "prompt": "a lighthouse", "resolution": "480p", "duration": 4}
ESTIMATE = 0.4516
DAILY_CEILING = 2.0
END_USER_CEILING = 0.5
TERMINAL = {"succeeded", "failed", "expired"}


@pytest.fixture(scope="module")
def budget_stack() -> Iterator[LocalStack]:
    with start_stack(
        "budget",
        BUDGET_DAILY_USD=str(DAILY_CEILING),
        BUDGET_PER_END_USER_DAILY_USD=str(END_USER_CEILING),
    ) as stack:
        yield stack


@pytest.fixture
def api(budget_stack: LocalStack) -> Iterator[httpx.Client]:
    with budget_stack.api_client() as client:
        yield client


def spend(api: httpx.Client, **params: str) -> dict[str, Any]:
    response = api.get("/spend", params=params)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def spend_once_closed(api: httpx.Client, **params: str) -> dict[str, Any]:
    """GET /spend once no reservation is open: a job's end is visible a moment before the function
    that ended it closes its reservation (after the terminal write and its event)."""
    deadline = time.monotonic() + 30
    while True:
        report = spend(api, **params)
        closed = [report["day"], *([report["end_user"]] if report["end_user"] else [])]
        if all(figures["reserved"] == 0 for figures in closed):
            return report
        assert time.monotonic() < deadline, f"reservations still open: {report}"
        time.sleep(0.2)


def wait_all(api: httpx.Client, job_ids: list[str], *, timeout: float = 180) -> list[dict[str, Any]]:
    """The jobs once all are finished; meanwhile GET /spend must never show the day past its ceiling."""
    deadline = time.monotonic() + timeout
    while True:
        day = spend(api)["day"]
        assert day["spent"] + day["reserved"] <= DAILY_CEILING + 1e-9, day
        jobs = [api.get(f"/jobs/{job_id}").json() for job_id in job_ids]
        if all(job["status"] in TERMINAL for job in jobs):
            return jobs
        assert time.monotonic() < deadline, f"not finished in {timeout} s: {jobs}"
        time.sleep(0.2)


def test_a_job_over_an_end_users_ceiling_fails_with_the_figures_and_reaches_no_provider(
    budget_stack: LocalStack, api: httpx.Client
) -> None:
    request = {**T2V, "resolution": "720p", "duration": 5, "end_user_id": "big-spender"}  # 1.2095 USD

    job_id = api.post("/jobs", json=request).json()["job_id"]
    (job,) = wait_all(api, [job_id], timeout=90)

    assert job["status"] == "failed"
    assert job["error"] == {
        "code": "budget_exceeded",
        "message": (
            "the job's estimate of 1.2095 USD would pass the daily ceiling of end user big-spender"
            f" ({spend(api)['day']['date']}) of 0.50 USD: 0.00 USD spent and 0.00 USD reserved"
        ),
    }
    creates = httpx.get(
        f"{budget_stack.simulator.base_url}/_sim/requests", params={"provider": "eachlabs"}
    ).json()
    assert not [entry for entry in creates if entry["method"] == "POST" and job_id in str(entry["json"])]


def test_a_refused_create_gives_its_reservation_back(budget_stack: LocalStack, api: httpx.Client) -> None:
    end_user = "refused-once"
    sim = budget_stack.simulator.base_url
    httpx.post(f"{sim}/_sim/faults", json={"reject_creates_with_status": 400}, timeout=10).raise_for_status()

    refused_id = api.post("/jobs", json={**T2V, "end_user_id": end_user}).json()["job_id"]
    (refused,) = wait_all(api, [refused_id], timeout=90)

    assert refused["error"]["code"] == "provider_rejected", refused
    given_back = spend_once_closed(api, end_user_id=end_user)["end_user"]
    assert given_back == {
        "end_user_id": end_user,
        "date": given_back["date"],
        "limit": END_USER_CEILING,
        "spent": 0.0,
        "reserved": 0.0,
    }
    # The room is there again: the same end user's next job (0.4516 of 0.50) is sent and succeeds.
    again_id = api.post("/jobs", json={**T2V, "end_user_id": end_user}).json()["job_id"]
    (again,) = wait_all(api, [again_id], timeout=120)
    assert again["status"] == "succeeded", again
    assert spend_once_closed(api, end_user_id=end_user)["end_user"]["spent"] == ESTIMATE


def test_jobs_submitted_at_once_never_pass_the_daily_ceiling(
    budget_stack: LocalStack, api: httpx.Client
) -> None:
    before = spend_once_closed(api)["day"]
    room = DAILY_CEILING - before["spent"] - before["reserved"]
    fits = int(round(room, 6) // ESTIMATE)
    count = fits + 3

    responses = [api.post("/jobs", json={**T2V, "client_reference": f"storm-{n}"}) for n in range(count)]
    jobs = wait_all(api, [response.json()["job_id"] for response in responses])

    statuses = sorted(job["status"] for job in jobs)
    assert statuses == ["failed"] * 3 + ["succeeded"] * fits
    refused = [job for job in jobs if job["status"] == "failed"]
    assert {job["error"]["code"] for job in refused} == {"budget_exceeded"}
    message = refused[0]["error"]["message"]
    assert f"estimate of {ESTIMATE} USD would pass the daily ceiling" in message
    assert "of 2.00 USD:" in message
    assert "USD spent and" in message
    assert "USD reserved" in message
    after = spend_once_closed(api)["day"]
    assert after["limit"] == DAILY_CEILING
    assert after["spent"] == pytest.approx(before["spent"] + fits * ESTIMATE)
    assert after["spent"] + after["reserved"] <= DAILY_CEILING
    failed_events = [
        event
        for event in budget_stack.drain_events(wait_seconds=1)
        if event["detail-type"] == "Video Job Failed"
        and event["detail"]["error"]["code"] == "budget_exceeded"
    ]
    assert len(failed_events) >= 3
    print(  # noqa: T201 - the figures of the run, for the record (pytest -s)
        f"\nbudget e2e: {count} jobs at once, {fits} sent, 3 refused;"
        f" day spent {after['spent']} of {DAILY_CEILING}"
    )
