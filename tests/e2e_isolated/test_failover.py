"""Routing and failover (issue 16) through the local stack, over real HTTP: ``provider: "auto"`` picks
the cheapest provider that serves the request, and ``providers`` narrows the choice; a job moves to its
next candidate only on a definite verdict (503 for its share of creates, a refused key, no answer and
no webhook within the grace, an open breaker); a late webhook of a turn left behind changes and copies
nothing; no capable provider is a 422 at every door; GET /providers shows each provider's state.

One stack of its own (tests/e2e_isolated). DISPATCH_MAX_ATTEMPTS=2: a job with two candidates or more
gives each one create before it moves on after a 429/5xx or an unanswered create. For a 720p, 5 s,
16:9 text-to-video job the estimates are: byteplus 0.756, eachlabs 1.2095, atlascloud 1.2096, fal
1.512 USD; gateway, jobs_api and replicate have none. The simulator's faults are scoped to one
provider with ``faults_provider``, and reset after each test. Jobs are told apart at the simulator by
their id, which each create carries in its webhook URL.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from local.simulator import DEFAULT_API_KEYS
from local.stack import LocalStack
from tests.e2e.conftest import start_stack

# The capacity adapter's rule for the key a job tries first, so that the pool test knows which job
# meets the revoked key.
from videojobs.adapters.capacity import _in_turn as keys_in_turn
from videojobs.settings import Settings, key_id

pytestmark = pytest.mark.e2e
#: The reference job of GET /providers' prices, asked of "auto".
T2V = {
    "provider": "auto",
    "prompt": "a lighthouse at dusk",
    "resolution": "720p",
    "duration": 5,
    "aspect_ratio": "16:9",
}
PRICES = {"byteplus": 0.756, "eachlabs": 1.2095, "atlascloud": 1.2096, "fal": 1.512}
UNPRICED = ["gateway", "jobs_api", "replicate"]
TERMINAL = {"succeeded", "failed", "expired", "canceled"}
GOOD_BYTEPLUS_KEY = DEFAULT_API_KEYS["byteplus"]
#: API keys ModelArk never issued: the simulator answers them 401.
REVOKED_KEY = "ark-revoked-key-0001"
REVOKED_IN_POOL = "ark-revoked-key-0002"
#: Module settings: short backoffs, one create per candidate, room at ModelArk for every job here.
ENVIRONMENT = {
    "DISPATCH_MAX_ATTEMPTS": "2",
    "DISPATCH_BACKOFF_BASE_SECONDS": "1",
    "DISPATCH_BACKOFF_MAX_SECONDS": "2",
    "DISPATCH_CAPACITY_RETRY_SECONDS": "1",
    "DISPATCH_UNCERTAIN_GRACE_SECONDS": "20",
    "BYTEPLUS_MAX_CONCURRENT": "20",
}
#: Short enough for a job to give up on an unanswered create within the test, long enough for the
#: simulator to finish that create's (cached) clip first.
SHORT_GRACE = "5"


@pytest.fixture(scope="module")
def failover_stack() -> Iterator[LocalStack]:
    with start_stack("failover", **ENVIRONMENT) as stack:
        yield stack
        stack.drain_events()  # the events no test read are checked against their schemas too


@pytest.fixture
def api(failover_stack: LocalStack) -> Iterator[httpx.Client]:
    with failover_stack.api_client() as client:
        yield client


@pytest.fixture
def sim(failover_stack: LocalStack) -> Iterator[httpx.Client]:
    """The simulator's control plane; its faults are reset after each test."""
    with httpx.Client(base_url=f"{failover_stack.simulator.base_url}/_sim", timeout=30) as client:
        yield client
        client.delete("/faults").raise_for_status()


# -- helpers ------------------------------------------------------------------------------------------
def submit(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/jobs", json={**T2V, **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def view(api: httpx.Client, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = api.get(f"/jobs/{job_id}").raise_for_status().json()
    return job


def view_when(
    api: httpx.Client, job_id: str, ready: Callable[[dict[str, Any]], bool], *, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = view(api, job_id)
        if ready(job):
            return job
        assert time.monotonic() < deadline, f"job not as expected in {timeout} s: {job}"
        time.sleep(0.2)


def finished(api: httpx.Client, job_id: str, *, timeout: float = 60) -> dict[str, Any]:
    """The job's view once it is terminal; fails the test if it is not within ``timeout`` seconds."""
    return view_when(api, job_id, lambda job: job["status"] in TERMINAL, timeout=timeout)


def fault(sim: httpx.Client, **knobs: Any) -> None:
    sim.post("/faults", json=knobs).raise_for_status()


def predictions_for(sim: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """Every prediction the simulator made for the job (its webhook URL names the job)."""
    records: list[dict[str, Any]] = sim.get("/predictions").raise_for_status().json()
    return [record for record in records if job_id in (record["webhook"]["url"] or "")]


def settled_prediction(
    sim: httpx.Client, job_id: str, provider: str, *, timeout: float = 30
) -> dict[str, Any]:
    """The job's prediction at ``provider`` once it is finished and its webhook sent (or held back)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [record for record in predictions_for(sim, job_id) if record["provider"] == provider]
        if found and found[0]["settled"]:
            return found[0]
        assert time.monotonic() < deadline, f"no settled {provider} prediction in {timeout} s: {found}"
        time.sleep(0.1)


def creates_for(sim: httpx.Client, job_id: str) -> list[tuple[str, int]]:
    """(provider, status) of every create sent for the job, in order: the POSTs naming it."""
    log: list[dict[str, Any]] = sim.get("/requests").raise_for_status().json()
    return [
        (entry["provider"], entry["status"])
        for entry in log
        if entry["method"] == "POST" and entry["provider"] != "outputs" and job_id in json.dumps(entry)
    ]


def downloads_of(sim: httpx.Client, prediction_id: str) -> int:
    log: list[dict[str, Any]] = sim.get("/requests", params={"provider": "outputs"}).raise_for_status().json()
    return sum(1 for entry in log if prediction_id in entry["path"])


def events_until(
    stack: LocalStack,
    wanted: Callable[[dict[str, Any]], bool],
    *,
    until: Callable[[dict[str, Any]], bool],
    timeout: float = 60,
) -> list[dict[str, Any]]:
    """The events off the bus that are ``wanted`` (others are passed over), up to the first one that
    is ``until`` (not included)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        for event in stack.drain_events(wait_seconds=0.2):
            if until(event):
                return found
            if wanted(event):
                found.append(event)
        assert time.monotonic() < deadline, f"not done in {timeout} s; so far: {found}"


def slots_in_use(api: httpx.Client, *, expected: int = 0, timeout: float = 10) -> dict[str, int]:
    """Each provider's slots in use, once they are ``expected`` everywhere (or ``timeout`` passed): a job's
    end shows a moment before the function that ended it lets its slot go."""
    deadline = time.monotonic() + timeout
    while True:
        used = {name: row["slots_in_use"] for name, row in providers_report(api).items()}
        if set(used.values()) == {expected} or time.monotonic() > deadline:
            return used
        time.sleep(0.2)


def spent_today(api: httpx.Client, *, timeout: float = 10) -> float:
    """Today's spend once no reservation is open: a job's end shows a moment before the function that
    ended it closes its reservation."""
    deadline = time.monotonic() + timeout
    while True:
        day: dict[str, Any] = api.get("/spend").raise_for_status().json()["day"]
        if day["reserved"] == 0:
            return float(day["spent"])
        assert time.monotonic() < deadline, f"reservations still open: {day}"
        time.sleep(0.2)


def events_so_far(stack: LocalStack, *, timeout: float = 30) -> list[dict[str, Any]]:
    """Every event the pipeline put on its bus before this call and no one read yet: a marker is put
    on the bus behind them and read back off the events tap, which keeps their order."""
    marker = {"marker": time.time_ns()}
    entry = {
        "EventBusName": stack.ref("VideoEventsBus"),
        "Source": Settings.model_fields["event_source"].default,
        "DetailType": "Test Marker",
        "Detail": json.dumps(marker),
    }
    stack.client("events").put_events(Entries=[entry])
    return events_until(
        stack, lambda event: True, until=lambda event: event["detail"] == marker, timeout=timeout
    )


def providers_report(api: httpx.Client) -> dict[str, dict[str, Any]]:
    response = api.get("/providers")
    assert response.status_code == 200, response.text
    return {row["provider"]: row for row in response.json()["providers"]}


def turns(job: dict[str, Any]) -> list[tuple[str, str | None, str, int]]:
    """(provider, key_id, outcome, creates) of each of the job's turns."""
    return [(turn["provider"], turn["key_id"], turn["outcome"], turn["creates"]) for turn in job["attempts"]]


def assert_video_is(stack: LocalStack, job: dict[str, Any], prediction: dict[str, Any]) -> None:
    """The job's video in S3 is a real MP4, byte for byte the prediction's output."""
    assert job["status"] == "succeeded", job
    video = job["video"]
    data = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    assert data[4:8] == b"ftyp"
    assert hashlib.sha256(data).hexdigest() == video["sha256"] == prediction["output_sha256"]
    assert job["provider_job_id"] == prediction["id"]


# -- tests --------------------------------------------------------------------------------------------
def test_get_providers_answers_every_provider_with_the_job_routes_authorization(
    failover_stack: LocalStack, api: httpx.Client
) -> None:
    unsigned = httpx.get(f"{failover_stack.api_url}/providers", timeout=30)

    report = providers_report(api)

    assert unsigned.status_code == 403
    assert unsigned.json() == {"message": "Forbidden"}
    assert sorted(report) == sorted([*PRICES, *UNPRICED])
    assert {name: row["price_5s_720p_usd"] for name, row in report.items()} == {
        **PRICES,
        **dict.fromkeys(UNPRICED),
    }
    for row in report.values():
        assert row["enabled"] is True, row
        assert row["slots_in_use"] == 0, row
        assert row["breaker"] == {"state": "closed", "consecutive_failures": 0, "open_until": None}, row
        assert row["benched_keys"] == [], row
        assert row["limits"]["keys"] == 1, row
    assert report["byteplus"]["limits"]["max_concurrent_per_key"] == 20
    assert "4k" in report["byteplus"]["capabilities"]["tiers"]["standard"]
    assert "4k" not in report["fal"]["capabilities"]["tiers"]["standard"]


def test_auto_picks_the_cheapest_capable_provider(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    job = finished(api, submit(api))

    assert job["route"] == {"candidates": [*PRICES, *UNPRICED], "chosen": "byteplus"}
    assert job["provider"] == "byteplus"
    assert job["cost_estimate_usd"] == PRICES["byteplus"]
    assert turns(job) == [("byteplus", key_id(GOOD_BYTEPLUS_KEY), "succeeded", 1)]
    assert creates_for(sim, job["job_id"]) == [("byteplus", 200)]
    (prediction,) = predictions_for(sim, job["job_id"])
    assert_video_is(failover_stack, job, prediction)


def test_the_cheapest_answering_503_to_every_create_sends_the_jobs_to_the_next(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    spent_before = spent_today(api)
    fault(sim, faults_provider="byteplus", reject_creates_with_status=503, reject_creates_count=1000)

    job_ids = [submit(api, client_reference=f"503-{n}") for n in range(2)]
    jobs = [finished(api, job_id) for job_id in job_ids]

    for job in jobs:
        assert job["provider"] == "eachlabs", job
        assert job["route"]["chosen"] == "eachlabs"
        assert [turn[::2] for turn in turns(job)] == [("byteplus", "unavailable"), ("eachlabs", "succeeded")]
        assert "503" in job["attempts"][0]["error"]
        assert creates_for(sim, job["job_id"]) == [("byteplus", 503), ("eachlabs", 200)]
        (prediction,) = predictions_for(sim, job["job_id"])  # one video, made at eachlabs
        assert prediction["provider"] == "eachlabs"
        assert_video_is(failover_stack, job, prediction)
        assert job["cost_estimate_usd"] == PRICES["eachlabs"]
    # ModelArk made nothing: its estimates were given back, EachLabs' are spent.
    assert spent_today(api) - spent_before == pytest.approx(2 * PRICES["eachlabs"])


def test_a_key_answered_401_is_benched_and_the_job_goes_on_to_the_next_provider(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    revoked = key_id(REVOKED_KEY)
    with failover_stack.environment_overridden(BYTEPLUS_API_KEYS=REVOKED_KEY):
        first = finished(api, submit(api, client_reference="401-first"))
        benched = providers_report(api)["byteplus"]["benched_keys"]
        # The bench holds: the next job sends ModelArk nothing and goes straight on.
        second = finished(api, submit(api, client_reference="401-second"))

    assert [turn[:3] for turn in turns(first)] == [
        ("byteplus", revoked, "refused"),
        ("eachlabs", key_id(DEFAULT_API_KEYS["eachlabs"]), "succeeded"),
    ]
    assert "401" in first["attempts"][0]["error"]
    assert creates_for(sim, first["job_id"]) == [("byteplus", 401), ("eachlabs", 200)]
    (prediction,) = predictions_for(sim, first["job_id"])
    assert_video_is(failover_stack, first, prediction)
    assert [key["key_id"] for key in benched] == [revoked]
    assert [turn[:3] for turn in turns(second)] == [
        ("byteplus", None, "skipped"),
        ("eachlabs", key_id(DEFAULT_API_KEYS["eachlabs"]), "succeeded"),
    ]
    assert creates_for(sim, second["job_id"]) == [("eachlabs", 200)]


def test_a_key_answered_401_gives_way_to_the_other_key_of_its_pool(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    """A job's id picks the key it tries first: jobs are sent one at a time until one picks the revoked
    key (about every other one). Those before it never meet it; it meets it once, and goes on to the
    good key of the same provider."""
    pool = [REVOKED_IN_POOL, GOOD_BYTEPLUS_KEY]
    revoked, good = key_id(REVOKED_IN_POOL), key_id(GOOD_BYTEPLUS_KEY)
    request = {"providers": ["eachlabs", "byteplus"]}
    with failover_stack.environment_overridden(BYTEPLUS_API_KEYS=",".join(pool)):
        for n in range(20):
            job_id = submit(api, client_reference=f"pool-{n}", **request)
            picks_revoked = keys_in_turn([revoked, good], job_id)[0] == revoked
            job = finished(api, job_id)
            if not picks_revoked:
                assert turns(job) == [("byteplus", good, "succeeded", 1)], job
                continue
            benched = providers_report(api)["byteplus"]["benched_keys"]
            break
        else:
            pytest.fail("20 jobs in a row picked the good key first")

    assert turns(job) == [("byteplus", revoked, "refused", 1), ("byteplus", good, "succeeded", 1)]
    assert job["route"] == {"candidates": ["byteplus", "eachlabs"], "chosen": "byteplus"}
    assert creates_for(sim, job_id) == [("byteplus", 401), ("byteplus", 200)]
    (prediction,) = predictions_for(sim, job_id)
    assert_video_is(failover_stack, job, prediction)
    assert revoked in [key["key_id"] for key in benched]


def test_an_unanswered_create_whose_webhook_comes_within_the_grace_makes_one_video(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    """ModelArk calls back as soon as the task runs: within the 20 s grace."""
    fault(sim, faults_provider="byteplus", ambiguous_creates=1)

    job = finished(api, submit(api, providers=["eachlabs", "byteplus"]))

    # One turn, at ModelArk: its webhook came within the grace (after it, the job would have moved on).
    assert job["route"] == {"candidates": ["byteplus", "eachlabs"], "chosen": "byteplus"}
    assert turns(job) == [("byteplus", key_id(GOOD_BYTEPLUS_KEY), "succeeded", 1)]
    (prediction,) = predictions_for(sim, job["job_id"])  # one provider job, not two
    assert prediction["ambiguous_create"] is True
    assert job["attempts"][0]["provider_job_id"] == prediction["id"]  # learnt from its webhook
    assert_video_is(failover_stack, job, prediction)
    assert creates_for(sim, job["job_id"]) == [("byteplus", 200)]  # the status it would have had


def test_a_late_webhook_of_a_turn_left_behind_changes_nothing_and_copies_nothing(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    """EachLabs takes the create but its answer never comes, and its webhook is held back (the
    simulator keeps it, signed, instead of sending it). After the grace the job moves on to fal, which
    keeps its own prediction queued; only then does the held webhook arrive, exactly as EachLabs signed
    it. Then fal renders."""
    spent_before = spent_today(api)
    fault(sim, faults_provider="eachlabs", ambiguous_creates=1, drop_webhooks=1)
    with failover_stack.environment_overridden(DISPATCH_UNCERTAIN_GRACE_SECONDS=SHORT_GRACE):
        job_id = submit(api, providers=["fal", "eachlabs"])  # the order given is not the order tried
        left_behind = settled_prediction(sim, job_id, "eachlabs")
        fault(sim, hold_in_queue=True)  # fal's prediction waits in its queue, where the test can see it
        assert [p["provider"] for p in predictions_for(sim, job_id)] == ["eachlabs"], "fal was not held"
        # Its first status check finds fal's prediction queued: the job is processing there, and stays.
        at_fal = view_when(api, job_id, lambda job: (job["provider"], job["status"]) == ("fal", "processing"))
        held = left_behind["webhook"]

        late = httpx.post(held["url"], content=held["body"].encode(), headers=held["headers"], timeout=30)
        after_late = view(api, job_id)
        fault(sim, hold_in_queue=False)
        job = finished(api, job_id)

    assert (left_behind["status"], held["state"]) == ("succeeded", "dropped")
    assert late.status_code == 200, late.text
    assert late.json()["effect"] == "ignored"
    assert after_late == at_fal  # the late webhook changed nothing
    assert downloads_of(sim, left_behind["id"]) == 0  # and copied nothing
    made = settled_prediction(sim, job_id, "fal")
    assert_video_is(failover_stack, job, made)
    assert downloads_of(sim, made["id"]) == 1
    assert job["route"] == {"candidates": ["eachlabs", "fal"], "chosen": "fal"}
    assert [turn[::2] for turn in turns(job)] == [("eachlabs", "no_answer"), ("fal", "succeeded")]
    assert job["attempts"][0]["cancel"] is None  # EachLabs had already finished: nothing to cancel
    assert creates_for(sim, job_id) == [("eachlabs", 200), ("fal", 200)]
    outcomes = [e for e in events_so_far(failover_stack) if e["detail"].get("job_id") == job_id]
    assert [(e["detail-type"], e["detail"]["provider"]) for e in outcomes] == [("Video Job Succeeded", "fal")]
    assert slots_in_use(api) == dict.fromkeys([*PRICES, *UNPRICED], 0)
    # EachLabs made a video for the create it never answered: both estimates count as spent.
    assert spent_today(api) - spent_before == pytest.approx(PRICES["eachlabs"] + PRICES["fal"])


def test_providers_restricts_the_choice(api: httpx.Client, sim: httpx.Client) -> None:
    job = finished(api, submit(api, providers=["fal"]))

    assert job["route"] == {"candidates": ["fal"], "chosen": "fal"}
    assert turns(job)[0][::2] == ("fal", "succeeded")
    assert creates_for(sim, job["job_id"]) == [("fal", 200)]
    assert job["cost_estimate_usd"] == PRICES["fal"]


def test_a_named_provider_fails_over_to_the_providers_listed_after_it(
    api: httpx.Client, sim: httpx.Client
) -> None:
    fault(sim, faults_provider="eachlabs", reject_creates_with_status=503, reject_creates_count=1000)

    job = finished(api, submit(api, provider="eachlabs", providers=["fal", "atlascloud"]))

    assert job["route"] == {"candidates": ["eachlabs", "fal", "atlascloud"], "chosen": "fal"}
    assert [turn[::2] for turn in turns(job)] == [("eachlabs", "unavailable"), ("fal", "succeeded")]
    assert creates_for(sim, job["job_id"]) == [("eachlabs", 503), ("fal", 200)]


def test_no_capable_enabled_provider_is_a_422_naming_the_field_at_every_door(
    failover_stack: LocalStack, api: httpx.Client
) -> None:
    request = {**T2V, "resolution": "4k", "providers": ["eachlabs", "fal", "atlascloud"]}
    stack = failover_stack
    before = stack.job_count()

    response = api.post("/jobs", json=request)
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.ref("VideoEventsBus"),
                "Source": "com.example.storyboards",
                "DetailType": "Video Job Requested",
                "Detail": json.dumps({**request, "client_reference": "4k-event"}),
            }
        ]
    )
    stack.client("s3").put_object(
        Bucket=stack.ref("InputsBucket"),
        Key="drops/4k.json",
        Body=json.dumps({**request, "client_reference": "4k-drop"}).encode(),
    )
    references = {"4k-event", "4k-drop"}
    rejections: dict[str, dict[str, Any]] = {}

    def both_rejected(event: dict[str, Any]) -> bool:
        reference = event["detail"].get("client_reference")
        if reference in references:
            rejections[reference] = event
        return set(rejections) == references

    events_until(stack, lambda event: False, until=both_rejected)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [item["loc"] for item in detail] == [["body", "resolution"]]
    assert "no enabled provider serves" in detail[0]["msg"]
    assert sorted(rejections) == ["4k-drop", "4k-event"]
    for event in rejections.values():
        assert event["detail-type"] == "Video Job Rejected"
        assert event["detail"]["detail"] == detail
    assert stack.job_count() == before


def test_a_job_that_runs_out_of_candidates_fails_with_the_last_error_and_every_turn(
    api: httpx.Client, sim: httpx.Client
) -> None:
    fault(sim, reject_creates_with_status=503, reject_creates_count=1000)  # every provider

    job = finished(api, submit(api, providers=["eachlabs", "byteplus"]))

    assert job["status"] == "failed"
    assert [turn[::2] for turn in turns(job)] == [("byteplus", "unavailable"), ("eachlabs", "unavailable")]
    assert job["error"]["code"] == "provider_unavailable"
    assert job["error"]["message"] == job["attempts"][-1]["error"]
    assert creates_for(sim, job["job_id"]) == [("byteplus", 503), ("eachlabs", 503)]
    assert predictions_for(sim, job["job_id"]) == []
    assert job["video"] is None


def test_an_open_breaker_sends_auto_jobs_straight_to_the_next_candidate(
    failover_stack: LocalStack, api: httpx.Client, sim: httpx.Client
) -> None:
    """Atlas Cloud answers 503 to every create: BREAKER_FAILURE_THRESHOLD (5) jobs at once open its
    breaker, each of them going on to fal; the job after them sends Atlas Cloud nothing. Last in the
    module: the breaker stays open for BREAKER_OPEN_SECONDS."""
    fault(sim, faults_provider="atlascloud", reject_creates_with_status=503, reject_creates_count=1000)
    request = {"providers": ["fal", "atlascloud"]}

    storm = [submit(api, client_reference=f"storm-{n}", **request) for n in range(5)]
    stormed = [finished(api, job_id) for job_id in storm]
    breaker = providers_report(api)["atlascloud"]["breaker"]
    after = finished(api, submit(api, client_reference="after-the-storm", **request))

    for job in stormed:
        assert [turn[::2] for turn in turns(job)] == [("atlascloud", "unavailable"), ("fal", "succeeded")]
    assert breaker["state"] == "open"
    assert breaker["consecutive_failures"] >= 5
    assert [turn[:3] for turn in turns(after)] == [
        ("atlascloud", None, "skipped"),
        ("fal", key_id(DEFAULT_API_KEYS["fal"]), "succeeded"),
    ]
    assert creates_for(sim, after["job_id"]) == [("fal", 200)]
    changes = [e for e in events_so_far(failover_stack) if e["detail-type"] == "Provider Health Changed"]
    assert [(e["detail"]["provider"], e["detail"]["state"]) for e in changes] == [("atlascloud", "open")]
    assert slots_in_use(api) == dict.fromkeys([*PRICES, *UNPRICED], 0)
