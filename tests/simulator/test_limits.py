"""The simulator's API keys, per-key usage and concurrency limit, and the create faults a paced dispatcher
meets: repeated rejections with Retry-After, and ambiguous creates (accepted, then disconnected); all of
them at every provider, or at the one ``faults_provider`` names (what failover tests need). The output
faults decided at create time (wrong resolution, no sound track, ``moov`` last), the same way."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.simulator import DEFAULT_API_KEYS, ClipSpec, ProviderSimulator, SimulatedJob, SimulatorFaults
from local.simulator.fal import FalDialect
from local.simulator.faults import JobFaults
from local.simulator.jobs_api import JobsApiDialect
from local.simulator.media import dimensions_for, top_level_boxes
from local.simulator.testing import LoopbackPeer, client, poll, quick_simulator, video_facts

KEYS: dict[str, list[str]] = {
    "eachlabs": ["each-one", "each-two"],
    "atlascloud": ["atlas-one", "atlas-two"],
    "gateway": ["gateway-one", "gateway-two"],
    "jobs_api": ["jobs-one", "jobs-two"],
    "fal": ["fal-one", "fal-two"],
    "replicate": ["replicate-one", "replicate-two"],
    "byteplus": ["ark-one", "ark-two"],
}


@dataclass(frozen=True)
class Provider:
    """How to reach one dialect: its create and status routes, its auth header, a small create body (with a
    webhook when given one and the dialect has them), where its error body names the error (`error_code`)
    and what it says there for 401, 429 and 503 (`codes`)."""

    name: str
    create_path: str
    unknown_status_path: str
    auth: Callable[[str], dict[str, str]]
    body: Callable[[str | None], dict[str, Any]]
    error_code: Callable[[Any], object]
    codes: Mapping[int, object]

    def created_id(self, response: httpx.Response) -> str:
        body = response.json()
        found = (
            body.get("predictionID")
            or body.get("id")
            or body.get("request_id")
            or body.get("data", {}).get("id")
        )
        assert isinstance(found, str), body
        return found


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _eachlabs_body(webhook: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "bytedance-seedance-2-0-text-to-video-fast",
        "version": "0.0.1",
        "input": {"prompt": "p", "resolution": "480p", "duration": "4"},
    }
    if webhook is not None:
        body["webhook_url"] = webhook
    return body


def _atlascloud_body(webhook: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "bytedance/seedance-2.0/text-to-video",
        "prompt": "p",
        "resolution": "480p",
        "duration": 4,
    }
    if webhook is not None:
        body["webhook_url"] = webhook
    return body


def _jobs_api_body(webhook: str | None) -> dict[str, Any]:
    job_input: dict[str, Any] = {"prompt": "p", "resolution": "480p", "duration": 4}
    if webhook is not None:
        job_input["callback_url"] = webhook
    return {"model": "seedance-2.0/text-to-video", "input": job_input}


def _byteplus_body(webhook: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "dreamina-seedance-2-0-fast-260128",
        "content": [{"type": "text", "text": "p"}],
        "resolution": "480p",
        "duration": 4,
    }
    if webhook is not None:
        body["callback_url"] = webhook
    return body


EACHLABS = Provider(
    "eachlabs",
    "/v1/prediction",
    "/v1/prediction/unknown",
    lambda key: {"X-API-Key": key},
    _eachlabs_body,
    lambda body: (body["status"], bool(body["message"]), "details" in body),
    {status: ("error", True, True) for status in (401, 429, 503)},
)
ATLASCLOUD = Provider(
    "atlascloud",
    "/api/v1/model/generateVideo",
    "/api/v1/model/prediction/unknown",
    _bearer,
    _atlascloud_body,
    lambda body: body["code"],
    {401: 401, 429: 429, 503: 503},
)
GATEWAY = Provider(
    "gateway",
    "/v1/video/generations",
    "/v1/videos/unknown",
    _bearer,
    lambda webhook: {"model": "seedance2.0-480p", "prompt": "p", "duration": 5},
    lambda body: (body["error"]["code"], body["error"]["type"]),
    {
        401: ("invalid_api_key", "invalid_request_error"),
        429: ("rate_limit_exceeded", "invalid_request_error"),
        503: ("server_error", "invalid_request_error"),
    },
)
JOBS_API = Provider(
    "jobs_api",
    "/v1/jobs",
    "/v1/jobs/unknown",
    _bearer,
    _jobs_api_body,
    lambda body: body["error"]["code"],
    {401: "unauthorized", 429: "rate_limited", 503: "internal_error"},
)
BYTEPLUS = Provider(
    "byteplus",
    "/api/v3/contents/generations/tasks",
    "/api/v3/contents/generations/tasks/unknown",
    _bearer,
    _byteplus_body,
    lambda body: (body["error"]["code"], body["error"]["type"]),
    {
        401: ("AuthenticationError", "Unauthorized"),
        429: ("RateLimitExceeded", "TooManyRequests"),
        503: ("ServiceUnavailable", "ServiceUnavailable"),
    },
)
# fal takes its webhook in the query, not the body: these creates carry none.
FAL = Provider(
    "fal",
    "/bytedance/seedance-2.0/text-to-video",
    "/bytedance/seedance-2.0/requests/unknown/status",
    lambda key: {"Authorization": f"Key {key}"},
    lambda webhook: {"prompt": "p", "resolution": "480p"},
    lambda body: body["detail"].partition(" (")[0],
    {401: "Unauthorized", 429: "Rate limit exceeded", 503: "Service unavailable"},
)
ALL = [EACHLABS, ATLASCLOUD, GATEWAY, JOBS_API, BYTEPLUS]
EVERY_PROVIDER = pytest.mark.parametrize("provider", ALL, ids=[p.name for p in ALL])
# EachLabs authenticates with X-API-Key, the jobs API with a Bearer token.
HEADER_AND_BEARER = pytest.mark.parametrize("provider", [EACHLABS, JOBS_API], ids=["eachlabs", "jobs_api"])


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    """Two keys per provider; jobs take 0.2 s."""
    with quick_simulator(
        clip_cache_dir, host="127.0.0.1", port=0, api_keys=KEYS, processing_seconds=0.2
    ) as simulator:
        yield simulator


def create(
    http: httpx.Client, sim: ProviderSimulator, provider: Provider, key: str, webhook: str | None = None
) -> httpx.Response:
    url = f"{sim.provider_base_url(provider.name)}{provider.create_path}"
    return http.post(url, json=provider.body(webhook), headers=provider.auth(key))


def faults(http: httpx.Client, sim: ProviderSimulator, **knobs: Any) -> httpx.Response:
    response = http.post(f"{sim.base_url}/_sim/faults", json=knobs)
    assert response.status_code == 200, response.text
    return response


def usage_of(http: httpx.Client, sim: ProviderSimulator, provider: str, key: str) -> dict[str, int]:
    found: dict[str, int] = http.get(f"{sim.base_url}/_sim/usage").json()[provider][key]
    return found


# -- several keys per provider ----------------------------------------------------------------------------
@EVERY_PROVIDER
def test_every_configured_key_is_accepted_and_a_wrong_key_is_still_401(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    url = f"{sim.provider_base_url(provider.name)}{provider.unknown_status_path}"
    foreign = KEYS["gateway" if provider.name != "gateway" else "jobs_api"][0]

    answers = {key: http.get(url, headers=provider.auth(key)).status_code for key in KEYS[provider.name]}
    wrong = http.get(url, headers=provider.auth("not-a-key"))
    other_providers_key = http.get(url, headers=provider.auth(foreign))
    default_key = http.get(url, headers=provider.auth(DEFAULT_API_KEYS[provider.name]))

    assert answers == dict.fromkeys(KEYS[provider.name], 404)
    assert (wrong.status_code, other_providers_key.status_code) == (401, 401)
    assert provider.error_code(wrong.json()) == provider.codes[401]
    assert default_key.status_code == 401  # api_keys replaces the defaults as a whole


@HEADER_AND_BEARER
def test_a_job_records_the_key_that_created_it(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    sim.faults.stall_predictions = 2
    first, second = KEYS[provider.name]

    by_first = provider.created_id(create(http, sim, provider, first))
    by_second = provider.created_id(create(http, sim, provider, second))

    record = http.get(f"{sim.base_url}/_sim/predictions/{by_second}").json()
    assert record["api_key"] == second
    assert record["ambiguous_create"] is False
    snapshot = sim.prediction(by_first)
    assert snapshot is not None
    assert snapshot.api_key == first


def test_the_default_keys_are_still_the_only_ones_without_api_keys(
    clip_cache_dir: Path, http: httpx.Client
) -> None:
    with quick_simulator(clip_cache_dir, host="127.0.0.1", port=0) as simulator:
        listed = http.get(f"{simulator.base_url}/_sim/api-keys").json()
        accepted = http.get(
            f"{simulator.provider_base_url('eachlabs')}/v1/prediction/unknown",
            headers={"X-API-Key": DEFAULT_API_KEYS["eachlabs"]},
        )

    assert listed == {provider: [key] for provider, key in DEFAULT_API_KEYS.items()}
    assert simulator.api_keys == listed
    assert accepted.status_code == 404


def test_one_key_or_a_sequence_of_keys_per_provider(clip_cache_dir: Path) -> None:
    with quick_simulator(
        clip_cache_dir, api_keys={"eachlabs": "solo", "jobs_api": ("j1", "j2", "j1"), "gateway": []}
    ) as simulator:
        listed = simulator.api_keys

    assert listed == {
        "atlascloud": [],
        "byteplus": [],
        "eachlabs": ["solo"],
        "gateway": [],
        "jobs_api": ["j1", "j2"],
        "fal": [],
        "replicate": [],
    }
    with pytest.raises(ValueError, match="non-empty"):
        quick_simulator(clip_cache_dir, api_keys={"eachlabs": ["ok", ""]})


@HEADER_AND_BEARER
def test_a_key_added_at_run_time_is_accepted_from_then_on(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    url = f"{sim.provider_base_url(provider.name)}{provider.unknown_status_path}"
    before = http.get(url, headers=provider.auth("late-key"))

    added = http.post(f"{sim.base_url}/_sim/api-keys", json={"provider": provider.name, "key": "late-key"})
    again = http.post(f"{sim.base_url}/_sim/api-keys", json={"provider": provider.name, "key": "late-key"})
    after = http.get(url, headers=provider.auth("late-key"))
    old = http.get(url, headers=provider.auth(KEYS[provider.name][0]))
    elsewhere = http.get(
        f"{sim.provider_base_url('gateway')}{GATEWAY.unknown_status_path}", headers=_bearer("late-key")
    )

    assert before.status_code == 401
    assert added.status_code == 200
    assert added.json() == {"provider": provider.name, "keys": [*KEYS[provider.name], "late-key"]}
    assert again.json() == added.json()
    assert (after.status_code, old.status_code, elsewhere.status_code) == (404, 404, 401)
    assert http.get(f"{sim.base_url}/_sim/api-keys").json()[provider.name] == added.json()["keys"]
    assert sim.api_keys[provider.name] == added.json()["keys"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param({"provider": "nope", "key": "k"}, "unknown provider", id="unknown-provider"),
        pytest.param({"provider": "eachlabs", "key": ""}, "non-empty", id="empty-key"),
        pytest.param({"provider": "eachlabs", "key": 7}, "non-empty", id="key-not-a-string"),
        pytest.param({"provider": "eachlabs", "key": "a b"}, "without spaces", id="key-with-a-space"),
        pytest.param({"provider": "eachlabs"}, "takes a JSON object", id="no-key"),
        pytest.param(["eachlabs", "k"], "takes a JSON object", id="not-an-object"),
    ],
)
def test_adding_a_key_refuses_what_cannot_work(
    sim: ProviderSimulator, http: httpx.Client, body: Any, problem: str
) -> None:
    response = http.post(f"{sim.base_url}/_sim/api-keys", json=body)

    assert response.status_code == 400
    assert problem in response.json()["error"]
    assert sim.api_keys == {provider: list(keys) for provider, keys in sorted(KEYS.items())}


def test_add_api_key_in_python(sim: ProviderSimulator) -> None:
    assert sim.add_api_key("gateway", "py-key") == [*KEYS["gateway"], "py-key"]
    with pytest.raises(ValueError, match="no simulated provider"):
        sim.add_api_key("no-such-provider", "k")
    with pytest.raises(ValueError, match="non-empty"):
        sim.add_api_key("gateway", "")


# -- usage ------------------------------------------------------------------------------------------------
@HEADER_AND_BEARER
def test_usage_counts_active_peak_and_creates_per_key(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    first, second = KEYS[provider.name]
    sim.processing_seconds = 1.0  # the reads "while running" take milliseconds
    faults(http, sim, stall_predictions=1)
    stalled = provider.created_id(create(http, sim, provider, first))
    finishing = provider.created_id(create(http, sim, provider, first))
    other = provider.created_id(create(http, sim, provider, second))

    while_running = http.get(f"{sim.base_url}/_sim/usage").json()
    sim.wait_for_prediction(finishing, timeout=20)
    sim.wait_for_prediction(other, timeout=20)
    finished = http.get(f"{sim.base_url}/_sim/usage").json()
    reset = http.delete(f"{sim.base_url}/_sim/usage")

    assert while_running[provider.name][first]["creates"] == 2
    assert while_running[provider.name][first]["peak"] == 2
    assert while_running[provider.name][second] == {"active": 1, "peak": 1, "creates": 1}
    assert finished[provider.name] == {
        first: {"active": 1, "peak": 2, "creates": 2},
        second: {"active": 0, "peak": 1, "creates": 1},
    }
    assert sim.prediction(stalled) is not None
    assert reset.status_code == 200
    assert reset.json()[provider.name] == {
        first: {"active": 1, "peak": 1, "creates": 0},
        second: {"active": 0, "peak": 0, "creates": 0},
    }
    assert sim.usage() == reset.json()
    untouched = "atlascloud" if provider.name != "atlascloud" else "gateway"
    assert sim.usage()[untouched] == {key: {"active": 0, "peak": 0, "creates": 0} for key in KEYS[untouched]}


def test_reset_usage_in_python_matches_the_route(sim: ProviderSimulator, http: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    create(http, sim, EACHLABS, KEYS["eachlabs"][1])

    assert sim.usage()["eachlabs"][KEYS["eachlabs"][1]] == {"active": 1, "peak": 1, "creates": 1}
    assert sim.reset_usage()["eachlabs"][KEYS["eachlabs"][1]] == {"active": 1, "peak": 1, "creates": 0}
    assert usage_of(http, sim, "eachlabs", KEYS["eachlabs"][1]) == {"active": 1, "peak": 1, "creates": 0}


# -- max_active_per_key -----------------------------------------------------------------------------------
@EVERY_PROVIDER
def test_a_create_past_the_per_key_limit_is_a_429_with_retry_after_and_creates_nothing(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    first, second = KEYS[provider.name]
    faults(http, sim, max_active_per_key=1, stall_predictions=2)
    held = create(http, sim, provider, first)
    faults(http, sim, fail_predictions=1)

    refused = create(http, sim, provider, first)
    other_key = create(http, sim, provider, second)

    assert held.status_code == 200, held.text
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert provider.error_code(refused.json()) == provider.codes[429]
    assert "concurrent predictions" in json.dumps(refused.json()).lower()
    assert other_key.status_code == 200, other_key.text  # the limit is per key, not per provider
    assert [job.api_key for job in sim.predictions()] == [first, second]
    assert http.get(f"{sim.base_url}/_sim/faults").json()["fail_predictions"] == 1  # not taken by the 429
    assert [entry["status"] for entry in sim.requests_for(provider.name)] == [200, 429, 200]
    assert usage_of(http, sim, provider.name, first) == {"active": 1, "peak": 1, "creates": 1}


@HEADER_AND_BEARER
def test_concurrent_creates_past_the_limit_are_refused_exactly(
    sim: ProviderSimulator, provider: Provider
) -> None:
    key = KEYS[provider.name][0]
    sim.processing_seconds = 1.5  # the burst below takes milliseconds; no job may finish during it
    sim.faults.apply({"max_active_per_key": 2})
    start_line = threading.Barrier(6)
    answers: list[httpx.Response] = []
    answers_lock = threading.Lock()

    def send() -> None:
        with client() as own_connection:
            start_line.wait(timeout=5)
            response = create(own_connection, sim, provider, key)
        with answers_lock:
            answers.append(response)

    senders = [threading.Thread(target=send, daemon=True) for _ in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=15)
    during = sim.usage()[provider.name][key]

    assert len(answers) == 6
    accepted = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert (len(accepted), len(refused)) == (2, 4), [answer.text for answer in answers]
    assert all(answer.headers.get("retry-after") == "1" for answer in refused)
    assert during == {"active": 2, "peak": 2, "creates": 2}
    assert len(sim.predictions()) == 2
    for answer in accepted:
        sim.wait_for_prediction(provider.created_id(answer), timeout=30)
    assert sim.usage()[provider.name][key] == {"active": 0, "peak": 2, "creates": 2}
    with client() as http:
        assert create(http, sim, provider, key).status_code == 200  # room again once they finished
    assert sim.usage()[provider.name][key]["creates"] == 3


def test_lifting_the_limit_lets_creates_through_again(sim: ProviderSimulator, http: httpx.Client) -> None:
    key = KEYS["jobs_api"][1]
    faults(http, sim, max_active_per_key=1, stall_predictions=2)
    create(http, sim, JOBS_API, key)
    refused = create(http, sim, JOBS_API, key)

    faults(http, sim, max_active_per_key=None)
    lifted = create(http, sim, JOBS_API, key)

    assert (refused.status_code, lifted.status_code) == (429, 200)
    assert usage_of(http, sim, "jobs_api", key) == {"active": 2, "peak": 2, "creates": 2}


# -- reject_creates_count / reject_creates_retry_after ----------------------------------------------------
@HEADER_AND_BEARER
def test_reject_creates_count_rejects_that_many_creates_then_accepts(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    sim.faults.stall_predictions = 1
    set_to = faults(http, sim, reject_creates_with_status=503, reject_creates_count=3).json()

    answers = [create(http, sim, provider, KEYS[provider.name][0]) for _ in range(4)]

    assert (set_to["reject_creates_with_status"], set_to["reject_creates_count"]) == (503, 3)
    assert [answer.status_code for answer in answers] == [503, 503, 503, 200]
    assert all("retry-after" not in answer.headers for answer in answers)
    assert provider.error_code(answers[0].json()) == provider.codes[503]
    knobs = http.get(f"{sim.base_url}/_sim/faults").json()
    assert (knobs["reject_creates_with_status"], knobs["reject_creates_count"]) == (None, 0)
    assert len(sim.predictions()) == 1
    assert usage_of(http, sim, provider.name, KEYS[provider.name][0])["creates"] == 1


def test_a_status_without_a_count_rejects_one_create(sim: ProviderSimulator, http: httpx.Client) -> None:
    sim.faults.stall_predictions = 2
    faults(http, sim, reject_creates_count=5)
    set_to = faults(http, sim, reject_creates_with_status=500).json()

    answers = [create(http, sim, EACHLABS, KEYS["eachlabs"][0]).status_code for _ in range(2)]

    assert set_to["reject_creates_count"] == 1
    assert answers == [500, 200]


def test_a_count_of_zero_clears_the_status(sim: ProviderSimulator, http: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    faults(http, sim, reject_creates_with_status=503, reject_creates_count=4)

    cleared = faults(http, sim, reject_creates_count=0).json()

    assert cleared["reject_creates_with_status"] is None
    assert create(http, sim, JOBS_API, KEYS["jobs_api"][0]).status_code == 200


@HEADER_AND_BEARER
def test_reject_creates_retry_after_sets_the_header_on_rejected_creates(
    sim: ProviderSimulator, http: httpx.Client, provider: Provider
) -> None:
    key = KEYS[provider.name][0]
    sim.faults.stall_predictions = 1
    faults(http, sim, reject_creates_with_status=429, reject_creates_count=2, reject_creates_retry_after=2.5)

    limited = [create(http, sim, provider, key) for _ in range(2)]
    faults(http, sim, reject_creates_with_status=503)
    unavailable = create(http, sim, provider, key)
    faults(http, sim, reject_creates_with_status=503, reject_creates_retry_after=0)
    immediate = create(http, sim, provider, key)
    faults(http, sim, reject_creates_with_status=503, reject_creates_retry_after=None)
    plain = create(http, sim, provider, key)
    accepted = create(http, sim, provider, key)

    assert [answer.status_code for answer in limited] == [429, 429]
    assert [answer.headers.get("retry-after") for answer in limited] == ["3", "3"]  # rounded up
    assert provider.error_code(limited[0].json()) == provider.codes[429]
    assert (unavailable.status_code, unavailable.headers.get("retry-after")) == (503, "3")  # it persists
    assert (immediate.status_code, immediate.headers.get("retry-after")) == (503, "0")
    assert (plain.status_code, plain.headers.get("retry-after")) == (503, None)
    assert accepted.status_code == 200, accepted.text
    assert http.get(f"{sim.base_url}/_sim/faults").json()["reject_creates_retry_after"] is None


# -- ambiguous_creates ------------------------------------------------------------------------------------
@HEADER_AND_BEARER
def test_an_ambiguous_create_is_accepted_runs_and_calls_back_but_the_client_gets_no_answer(
    sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer, provider: Provider
) -> None:
    key = KEYS[provider.name][1]
    faults(http, sim, ambiguous_creates=1)

    with pytest.raises(httpx.RemoteProtocolError):
        create(http, sim, provider, key, webhook=f"{peer.url}/ambiguous")
    (record,) = http.get(f"{sim.base_url}/_sim/predictions").json()
    job = sim.wait_for_prediction(record["id"], timeout=30)
    (callback,) = peer.wait_for(1)
    normal = create(http, sim, provider, key, webhook=f"{peer.url}/normal")

    assert (record["ambiguous_create"], record["api_key"]) == (True, key)
    assert (job.status.value, job.webhook_state.value) == ("succeeded", "delivered")
    assert callback.path == "/ambiguous"
    assert callback.json().get("exec_id", callback.json().get("id")) == record["id"]
    assert normal.status_code == 200, normal.text
    assert provider.created_id(normal) != record["id"]
    assert http.get(f"{sim.base_url}/_sim/faults").json()["ambiguous_creates"] == 0
    assert [entry["status"] for entry in sim.requests_for(provider.name)] == [200, 200]
    assert usage_of(http, sim, provider.name, key)["creates"] == 2


def test_only_accepted_creates_are_made_ambiguous(sim: ProviderSimulator, http: httpx.Client) -> None:
    url = f"{sim.provider_base_url('eachlabs')}{EACHLABS.create_path}"
    headers = EACHLABS.auth(KEYS["eachlabs"][0])
    faults(http, sim, stall_predictions=2, max_active_per_key=1)
    holding = http.post(url, json=_eachlabs_body(None), headers=headers)
    faults(http, sim, ambiguous_creates=2)

    invalid = http.post(url, json={**_eachlabs_body(None), "version": "9"}, headers=headers)
    unauthorized = http.post(url, json=_eachlabs_body(None), headers=EACHLABS.auth("wrong"))
    polled = http.get(f"{sim.provider_base_url('eachlabs')}/v1/prediction/unknown", headers=headers)
    limited = http.post(url, json=_eachlabs_body(None), headers=headers)
    remaining = http.get(f"{sim.base_url}/_sim/faults").json()["ambiguous_creates"]
    faults(http, sim, max_active_per_key=None)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(url, json=_eachlabs_body(None), headers=headers)

    assert holding.status_code == 200
    assert (invalid.status_code, unauthorized.status_code, polled.status_code) == (400, 401, 404)
    assert limited.status_code == 429
    assert remaining == 2
    jobs = poll(sim.predictions, lambda found: len(found) == 2, timeout=5)
    assert sorted(job.ambiguous_create for job in jobs) == [False, True]
    assert sim.faults.ambiguous_creates == 1


def test_an_ambiguous_create_sends_no_bytes_at_all(sim: ProviderSimulator, http: httpx.Client) -> None:
    """Over a raw socket: the request is read whole, then the connection ends with nothing written."""
    faults(http, sim, ambiguous_creates=1)
    payload = json.dumps(_eachlabs_body(None)).encode()
    host, port = sim.base_url.removeprefix("http://").split(":")
    request = (
        f"POST /eachlabs/v1/prediction HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEYS['eachlabs'][0]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload

    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        received = connection.recv(65536)

    assert received == b""
    assert [job.ambiguous_create for job in sim.predictions()] == [True]


# -- faults_provider: the create faults at one provider only --------------------------------------------
def knobs_now(http: httpx.Client, sim: ProviderSimulator) -> dict[str, Any]:
    found: dict[str, Any] = http.get(f"{sim.base_url}/_sim/faults").json()
    return found


def test_scoped_rejections_answer_only_that_providers_creates_and_are_consumed_only_there(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, faults_provider="fal", reject_creates_with_status=503, reject_creates_count=3)

    first_at_fal = create(http, sim, FAL, KEYS["fal"][0])
    elsewhere = create(http, sim, EACHLABS, KEYS["eachlabs"][0])
    knobs_after_elsewhere = knobs_now(http, sim)
    rest_at_fal = [create(http, sim, FAL, KEYS["fal"][0]) for _ in range(3)]
    jobs_api_after = create(http, sim, JOBS_API, KEYS["jobs_api"][0])

    assert first_at_fal.status_code == 503
    assert FAL.error_code(first_at_fal.json()) == FAL.codes[503]
    assert elsewhere.status_code == 200, elsewhere.text
    assert (
        knobs_after_elsewhere["reject_creates_with_status"],
        knobs_after_elsewhere["reject_creates_count"],
    ) == (
        503,
        2,
    )
    assert [answer.status_code for answer in rest_at_fal] == [503, 503, 200]
    assert jobs_api_after.status_code == 200, jobs_api_after.text
    knobs = knobs_now(http, sim)
    assert (knobs["reject_creates_with_status"], knobs["reject_creates_count"]) == (None, 0)
    assert knobs["faults_provider"] == "fal"  # the scope persists
    assert [entry["status"] for entry in sim.requests_for("fal")] == [503, 503, 503, 200]
    assert sorted(job.provider for job in sim.predictions()) == ["eachlabs", "fal", "jobs_api"]


def test_a_large_scoped_count_refuses_every_create_there_and_none_elsewhere(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, faults_provider="fal", reject_creates_with_status=503, reject_creates_count=1000)

    at_fal = [create(http, sim, FAL, KEYS["fal"][1]).status_code for _ in range(5)]
    elsewhere = [create(http, sim, provider, KEYS[provider.name][1]).status_code for provider in ALL]

    assert at_fal == [503] * 5
    assert elsewhere == [200] * len(ALL)
    knobs = knobs_now(http, sim)
    assert (knobs["reject_creates_with_status"], knobs["reject_creates_count"]) == (503, 995)


def test_scoped_ambiguous_creates_disconnect_only_that_providers_creates(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, faults_provider="fal", ambiguous_creates=1)

    elsewhere = create(http, sim, EACHLABS, KEYS["eachlabs"][0])
    left_after_elsewhere = knobs_now(http, sim)["ambiguous_creates"]
    with pytest.raises(httpx.RemoteProtocolError):
        create(http, sim, FAL, KEYS["fal"][0])
    answered_at_fal = create(http, sim, FAL, KEYS["fal"][0])

    assert elsewhere.status_code == 200, elsewhere.text
    assert left_after_elsewhere == 1
    assert answered_at_fal.status_code == 200, answered_at_fal.text
    assert knobs_now(http, sim)["ambiguous_creates"] == 0
    ambiguous = {(job.provider, job.ambiguous_create) for job in sim.predictions()}
    assert ambiguous == {("eachlabs", False), ("fal", True), ("fal", False)}


def test_the_scoped_limit_refuses_only_that_providers_creates(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, faults_provider="jobs_api", max_active_per_key=1)
    sim.processing_seconds = 2.0  # every job below is still active when the next create comes

    at_eachlabs = [create(http, sim, EACHLABS, KEYS["eachlabs"][0]).status_code for _ in range(2)]
    at_jobs_api = [create(http, sim, JOBS_API, KEYS["jobs_api"][0]) for _ in range(2)]

    assert at_eachlabs == [200, 200]
    assert [answer.status_code for answer in at_jobs_api] == [200, 429]
    assert JOBS_API.error_code(at_jobs_api[1].json()) == JOBS_API.codes[429]
    assert usage_of(http, sim, "eachlabs", KEYS["eachlabs"][0])["active"] == 2


def test_the_per_job_counters_follow_the_scope(
    sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer
) -> None:
    faults(http, sim, faults_provider="jobs_api", stall_predictions=1, fail_predictions=1, drop_webhooks=1)

    elsewhere = EACHLABS.created_id(create(http, sim, EACHLABS, KEYS["eachlabs"][0], f"{peer.url}/each"))
    finished_elsewhere = sim.wait_for_prediction(elsewhere, timeout=20)
    left_after_elsewhere = knobs_now(http, sim)
    stalled = JOBS_API.created_id(create(http, sim, JOBS_API, KEYS["jobs_api"][0], f"{peer.url}/stalled"))
    failing = JOBS_API.created_id(create(http, sim, JOBS_API, KEYS["jobs_api"][0], f"{peer.url}/failing"))
    failed = sim.wait_for_prediction(failing, timeout=20)

    assert (finished_elsewhere.status.value, finished_elsewhere.webhook_state.value) == (
        "succeeded",
        "delivered",
    )
    assert {
        knob: left_after_elsewhere[knob]
        for knob in ("stall_predictions", "fail_predictions", "drop_webhooks")
    } == {
        "stall_predictions": 1,
        "fail_predictions": 1,
        "drop_webhooks": 1,
    }
    stalled_job = sim.prediction(stalled)
    assert stalled_job is not None
    assert (stalled_job.stall_planned, stalled_job.fail_planned, stalled_job.drop_webhook) == (
        True,
        False,
        False,
    )
    assert (failed.status.value, failed.webhook_state.value) == ("failed", "dropped")
    knobs = knobs_now(http, sim)
    assert (knobs["stall_predictions"], knobs["fail_predictions"], knobs["drop_webhooks"]) == (0, 0, 0)


def test_a_null_scope_puts_the_create_faults_on_every_provider(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    initial = knobs_now(http, sim)["faults_provider"]
    faults(http, sim, faults_provider="fal")
    faults(http, sim, faults_provider=None, reject_creates_with_status=503, reject_creates_count=2)

    refused = [create(http, sim, EACHLABS, KEYS["eachlabs"][0]), create(http, sim, FAL, KEYS["fal"][0])]
    accepted = [create(http, sim, FAL, KEYS["fal"][0]), create(http, sim, EACHLABS, KEYS["eachlabs"][0])]

    assert initial is None
    assert [answer.status_code for answer in refused] == [503, 503]
    assert [answer.status_code for answer in accepted] == [200, 200]
    assert knobs_now(http, sim)["faults_provider"] is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("no-such-provider", id="unknown"),
        pytest.param("FAL", id="wrong-case"),
        pytest.param("", id="empty"),
        pytest.param(7, id="number"),
        pytest.param(True, id="bool"),
        pytest.param(["fal"], id="list"),
    ],
)
def test_a_scope_that_names_no_simulated_provider_is_refused_and_changes_nothing(
    sim: ProviderSimulator, http: httpx.Client, value: Any
) -> None:
    before = faults(http, sim, faults_provider="fal").json()

    refused = http.post(f"{sim.base_url}/_sim/faults", json={"fail_predictions": 3, "faults_provider": value})

    assert refused.status_code == 400
    assert "faults_provider" in refused.json()["error"]
    assert knobs_now(http, sim) == before
    with pytest.raises(ValueError, match="faults_provider"):
        sim.faults.apply({"faults_provider": value})
    assert sim.faults.faults_provider == "fal"


def test_the_scope_may_name_only_the_providers_the_simulator_serves(clip_cache_dir: Path) -> None:
    with quick_simulator(clip_cache_dir, dialects=[FalDialect, JobsApiDialect]) as simulator:
        simulator.faults.apply({"faults_provider": "jobs_api"})
        with pytest.raises(ValueError, match="faults_provider"):
            simulator.faults.apply({"faults_provider": "eachlabs"})
        scope = simulator.faults.faults_provider

    assert scope == "jobs_api"
    with pytest.raises(ValueError, match="faults_provider"):
        SimulatorFaults().apply({"faults_provider": "fal"})  # a bare SimulatorFaults knows no provider


# -- the output faults: a job renders another clip than it asked for ----------------------------------
OUTPUT_KNOBS = ("wrong_resolution_outputs", "silent_outputs", "moov_last_outputs")


def finished_output(
    http: httpx.Client, sim: ProviderSimulator, provider: Provider, key: str
) -> tuple[SimulatedJob, bytes]:
    """A finished job created at `provider` (its record) and the MP4 it serves."""
    job = sim.wait_for_prediction(provider.created_id(create(http, sim, provider, key)), timeout=20)
    assert job.output_url is not None, job.to_json()
    download = http.get(job.output_url)
    assert download.status_code == 200
    return job, download.content


def box_kinds(content: bytes) -> list[bytes]:
    return [box.kind for box in top_level_boxes(io.BytesIO(content))]


def moov_first(content: bytes) -> bool:
    kinds = box_kinds(content)
    return kinds.index(b"moov") < kinds.index(b"mdat")


@pytest.mark.parametrize("aspect_ratio", ["16:9", "9:16", "21:9", "4:3", "1:1"])
@pytest.mark.parametrize(
    ("asked", "rendered"), [("4k", "1080p"), ("1080p", "720p"), ("720p", "480p"), ("480p", "720p")]
)
def test_a_wrong_resolution_clip_is_the_other_tier_at_the_same_aspect_ratio(
    asked: str, rendered: str, aspect_ratio: str
) -> None:
    clip = ClipSpec(*dimensions_for(asked, aspect_ratio), duration_seconds=4, with_audio=True)

    wrong = JobFaults(wrong_resolution=True).clip_for(clip)

    assert wrong == ClipSpec(*dimensions_for(rendered, aspect_ratio), duration_seconds=4, with_audio=True)


def test_the_silent_and_moov_last_faults_change_only_their_own_part_of_the_clip() -> None:
    clip = ClipSpec(width=854, height=480, duration_seconds=4, with_audio=True)

    assert JobFaults().clip_for(clip) == clip
    assert JobFaults(silent=True).clip_for(clip) == ClipSpec(854, 480, 4, with_audio=False)
    assert JobFaults(moov_last=True).clip_for(clip) == ClipSpec(
        854, 480, 4, with_audio=True, moov_first=False
    )


def test_wrong_resolution_outputs_render_the_next_job_a_tier_off_then_stop(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, wrong_resolution_outputs=1)

    wrong_job, wrong = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])
    _, right = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])

    assert (video_facts(wrong).width, video_facts(wrong).height) == dimensions_for("720p", "16:9")
    assert (wrong_job.clip.width, wrong_job.clip.height) == dimensions_for("720p", "16:9")
    assert (video_facts(right).width, video_facts(right).height) == dimensions_for("480p", "16:9")
    assert knobs_now(http, sim)["wrong_resolution_outputs"] == 0


def test_silent_outputs_render_the_next_job_without_audio_then_stop(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, silent_outputs=1)

    silent_job, silent = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])
    _, with_audio = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])

    assert video_facts(silent).codecs == {"h264"}
    assert silent_job.clip.with_audio is False
    assert video_facts(with_audio).codecs == {"h264", "aac"}
    assert knobs_now(http, sim)["silent_outputs"] == 0


def test_moov_last_outputs_render_the_next_job_with_moov_after_mdat_then_stop(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    faults(http, sim, moov_last_outputs=1)

    moov_last_job, moov_last = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])
    faststart_job, faststart = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])

    assert box_kinds(moov_last)[0] == b"ftyp"
    assert not moov_first(moov_last)
    assert video_facts(moov_last).codecs == {"h264", "aac"}  # still a whole, playable clip
    assert box_kinds(faststart)[0] == b"ftyp"
    assert moov_first(faststart)
    records = [
        http.get(f"{sim.base_url}/_sim/predictions/{job.id}").json() for job in (moov_last_job, faststart_job)
    ]
    assert [record["clip"]["moov_first"] for record in records] == [False, True]
    assert knobs_now(http, sim)["moov_last_outputs"] == 0


def test_a_stalled_or_failing_job_takes_no_output_fault(sim: ProviderSimulator, http: httpx.Client) -> None:
    faults(http, sim, stall_predictions=1, fail_predictions=1, **dict.fromkeys(OUTPUT_KNOBS, 1))

    stalled = JOBS_API.created_id(create(http, sim, JOBS_API, KEYS["jobs_api"][0]))
    failed = sim.wait_for_prediction(
        JOBS_API.created_id(create(http, sim, JOBS_API, KEYS["jobs_api"][0])), timeout=20
    )
    left_after_both = knobs_now(http, sim)
    faulted_job, faulted = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])

    stalled_job = sim.prediction(stalled)
    assert stalled_job is not None
    assert stalled_job.stall_planned
    assert stalled_job.clip == ClipSpec(854, 480, 4, with_audio=True)
    assert failed.status.value == "failed"
    assert failed.clip == ClipSpec(854, 480, 4, with_audio=True)
    assert {knob: left_after_both[knob] for knob in OUTPUT_KNOBS} == dict.fromkeys(OUTPUT_KNOBS, 1)
    assert faulted_job.clip == ClipSpec(1280, 720, 4, with_audio=False, moov_first=False)
    facts = video_facts(faulted)
    assert (facts.width, facts.height, facts.codecs) == (1280, 720, {"h264"})
    assert not moov_first(faulted)
    assert {knob: knobs_now(http, sim)[knob] for knob in OUTPUT_KNOBS} == dict.fromkeys(OUTPUT_KNOBS, 0)


def test_the_output_faults_follow_the_scope(sim: ProviderSimulator, http: httpx.Client) -> None:
    faults(http, sim, faults_provider="jobs_api", **dict.fromkeys(OUTPUT_KNOBS, 1))

    _, elsewhere = finished_output(http, sim, ATLASCLOUD, KEYS["atlascloud"][0])
    left_after_elsewhere = knobs_now(http, sim)
    _, at_jobs_api = finished_output(http, sim, JOBS_API, KEYS["jobs_api"][0])

    facts_elsewhere = video_facts(elsewhere)
    assert (facts_elsewhere.width, facts_elsewhere.height, facts_elsewhere.codecs) == (
        854,
        480,
        {"h264", "aac"},
    )
    assert moov_first(elsewhere)
    assert {knob: left_after_elsewhere[knob] for knob in OUTPUT_KNOBS} == dict.fromkeys(OUTPUT_KNOBS, 1)
    facts_at_jobs_api = video_facts(at_jobs_api)
    assert (facts_at_jobs_api.width, facts_at_jobs_api.height, facts_at_jobs_api.codecs) == (
        1280,
        720,
        {"h264"},
    )
    assert not moov_first(at_jobs_api)
    assert {knob: knobs_now(http, sim)[knob] for knob in OUTPUT_KNOBS} == dict.fromkeys(OUTPUT_KNOBS, 0)


def test_short_mdat_downloads_leave_last_frames_uploads_and_heads_alone(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    url = f"{sim.provider_base_url('byteplus')}{BYTEPLUS.create_path}"
    body = {**BYTEPLUS.body(None), "return_last_frame": True}
    created = http.post(url, json=body, headers=BYTEPLUS.auth(KEYS["byteplus"][0]))
    job = sim.wait_for_prediction(BYTEPLUS.created_id(created), timeout=20)
    assert job.output_url is not None, job.to_json()
    assert job.last_frame_url is not None, job.to_json()
    video, frame = http.get(job.output_url).content, http.get(job.last_frame_url).content
    faults(http, sim, short_mdat_downloads=1)

    uploaded = http.post(
        f"{sim.provider_base_url('jobs_api')}/v1/files/upload",
        data={"kind": "video", "purpose": "reference"},
        files={"file": ("clip.mp4", video, "video/mp4")},
        headers=JOBS_API.auth(KEYS["jobs_api"][0]),
    )
    upload_download = http.get(uploaded.json()["url"])
    frame_download = http.get(job.last_frame_url)
    head = http.head(job.output_url)
    left = knobs_now(http, sim)["short_mdat_downloads"]
    video_download = http.get(job.output_url)

    assert uploaded.status_code == 200, uploaded.text
    assert upload_download.content == video
    assert frame_download.content == frame
    assert int(head.headers["content-length"]) == len(video)
    assert left == 1
    assert len(video_download.content) < len(video)
    assert knobs_now(http, sim)["short_mdat_downloads"] == 0


# -- the knobs themselves ---------------------------------------------------------------------------------
NEW_KNOB_DEFAULTS = {
    "ambiguous_creates": 0,
    "reject_creates_count": 0,
    "reject_creates_retry_after": None,
    "max_active_per_key": None,
    "faults_provider": None,
    "wrong_resolution_outputs": 0,
    "silent_outputs": 0,
    "moov_last_outputs": 0,
    "short_mdat_downloads": 0,
}


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        pytest.param("max_active_per_key", 0, id="limit-zero"),
        pytest.param("max_active_per_key", -2, id="limit-negative"),
        pytest.param("max_active_per_key", 1.5, id="limit-fraction"),
        pytest.param("max_active_per_key", True, id="limit-bool"),
        pytest.param("max_active_per_key", "2", id="limit-string"),
        pytest.param("reject_creates_count", -1, id="count-negative"),
        pytest.param("reject_creates_count", 2.0, id="count-float"),
        pytest.param("reject_creates_count", None, id="count-null"),
        pytest.param("reject_creates_retry_after", -0.5, id="retry-after-negative"),
        pytest.param("reject_creates_retry_after", "1", id="retry-after-string"),
        pytest.param("reject_creates_retry_after", False, id="retry-after-bool"),
        pytest.param("ambiguous_creates", -1, id="ambiguous-negative"),
        pytest.param("ambiguous_creates", None, id="ambiguous-null"),
        pytest.param("ambiguous_creates", 0.5, id="ambiguous-fraction"),
        pytest.param("wrong_resolution_outputs", -1, id="wrong-resolution-negative"),
        pytest.param("wrong_resolution_outputs", True, id="wrong-resolution-bool"),
        pytest.param("silent_outputs", 1.5, id="silent-fraction"),
        pytest.param("silent_outputs", "1", id="silent-string"),
        pytest.param("moov_last_outputs", None, id="moov-last-null"),
        pytest.param("moov_last_outputs", -3, id="moov-last-negative"),
        pytest.param("short_mdat_downloads", -1, id="short-mdat-negative"),
        pytest.param("short_mdat_downloads", 2.0, id="short-mdat-float"),
    ],
)
def test_bad_values_for_the_new_knobs_are_refused_naming_the_knob(
    sim: ProviderSimulator, http: httpx.Client, knob: str, value: Any
) -> None:
    refused = http.post(f"{sim.base_url}/_sim/faults", json={"fail_predictions": 3, knob: value})

    assert refused.status_code == 400
    assert knob in refused.json()["error"]
    assert http.get(f"{sim.base_url}/_sim/faults").json()["fail_predictions"] == 0  # nothing applied
    with pytest.raises(ValueError, match=knob):
        SimulatorFaults().apply({knob: value})


def test_the_new_knobs_are_listed_set_and_reset(sim: ProviderSimulator, http: httpx.Client) -> None:
    initial = http.get(f"{sim.base_url}/_sim/faults").json()
    changed = faults(
        http,
        sim,
        ambiguous_creates=2,
        reject_creates_with_status=502,
        reject_creates_count=4,
        reject_creates_retry_after=7,
        max_active_per_key=3,
        faults_provider="gateway",
        wrong_resolution_outputs=5,
        silent_outputs=6,
        moov_last_outputs=7,
        short_mdat_downloads=8,
    ).json()
    reset = http.delete(f"{sim.base_url}/_sim/faults").json()

    assert {knob: initial[knob] for knob in NEW_KNOB_DEFAULTS} == NEW_KNOB_DEFAULTS
    assert {knob: changed[knob] for knob in NEW_KNOB_DEFAULTS} == {
        "ambiguous_creates": 2,
        "reject_creates_count": 4,
        "reject_creates_retry_after": 7,
        "max_active_per_key": 3,
        "faults_provider": "gateway",
        "wrong_resolution_outputs": 5,
        "silent_outputs": 6,
        "moov_last_outputs": 7,
        "short_mdat_downloads": 8,
    }
    assert reset == initial
    assert reset["reject_creates_with_status"] is None
    assert sim.faults.max_active_per_key is None
