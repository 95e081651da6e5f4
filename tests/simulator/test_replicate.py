"""The provider simulator speaks Replicate's dialect (docs/provider-dialects.md, "Replicate") over real HTTP:
the official models' create, the prediction object, the provider's own cancel, and webhooks signed per
Standard Webhooks with the account secret, checked here by an HMAC written in the test from Replicate's
verify-webhook page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.simulator import ProviderSimulator
from local.simulator.testing import LoopbackPeer, ReceivedCall, client, poll, quick_simulator, video_facts

API_KEY = "test-replicate-key"
STANDARD = "/v1/models/bytedance/seedance-2.0/predictions"
FAST = "/v1/models/bytedance/seedance-2.0-fast/predictions"
ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PREDICTION_KEYS = {
    "id",
    "model",
    "version",
    "input",
    "logs",
    "output",
    "error",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "data_removed",
    "source",
    "metrics",
    "urls",
}


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"replicate": API_KEY}) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(sim.provider_base_url("replicate"), bearer=API_KEY) as api_client:
        yield api_client


def t2v(**changes: Any) -> dict[str, Any]:
    """A create body; keyword arguments change (or, given None, drop) ``input`` fields."""
    payload: dict[str, Any] = {"prompt": "A lighthouse at dusk", "resolution": "480p", "duration": 4}
    payload.update(changes)
    return {"input": {key: value for key, value in payload.items() if value is not None}}


def create(api: httpx.Client, body: dict[str, Any], path: str = STANDARD) -> dict[str, Any]:
    response = api.post(path, json=body)
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


def finished(api: httpx.Client, prediction_id: str) -> dict[str, Any]:
    prediction: dict[str, Any] = poll(
        lambda: api.get(f"/v1/predictions/{prediction_id}").json(),
        lambda answer: answer["status"] in {"succeeded", "failed", "canceled"},
    )
    return prediction


def secret(api: httpx.Client) -> str:
    key: str = api.get("/v1/webhooks/default/secret").raise_for_status().json()["key"]
    return key


def signature_matches(account_secret: str, webhook: ReceivedCall) -> bool:
    """replicate.com/docs/topics/webhooks/verify-webhook, step by step."""
    signed = (
        f"{webhook.headers['webhook-id']}.{webhook.headers['webhook-timestamp']}.".encode() + webhook.body
    )
    key = base64.b64decode(account_secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(entry.split(",", 1)[1], expected)
        for entry in webhook.headers["webhook-signature"].split()
    )


# -- create and status ----------------------------------------------------------------------------------
def test_create_answers_201_with_the_prediction_starting(sim: ProviderSimulator, api: httpx.Client) -> None:
    prediction = create(api, t2v())

    assert set(prediction) == PREDICTION_KEYS
    assert re.fullmatch(r"[a-z0-9]{26}", prediction["id"])
    assert prediction["status"] in {"starting", "processing"}
    assert prediction["model"] == "bytedance/seedance-2.0"
    assert prediction["input"] == t2v()["input"]
    assert (prediction["output"], prediction["error"], prediction["completed_at"]) == (None, None, None)
    assert ISO_8601.fullmatch(prediction["created_at"])
    base = sim.provider_base_url("replicate")
    assert prediction["urls"] == {
        "get": f"{base}/v1/predictions/{prediction['id']}",
        "cancel": f"{base}/v1/predictions/{prediction['id']}/cancel",
    }


def test_a_prediction_succeeds_with_its_output_a_url_to_a_real_mp4(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    sim.processing_seconds = 0.3
    prediction_id = create(api, t2v(aspect_ratio="16:9"))["id"]

    final = finished(api, prediction_id)

    assert final["status"] == "succeeded"
    assert final["output"] == f"{sim.base_url}/replicate/outputs/{prediction_id}.mp4"
    assert final["error"] is None
    assert final["metrics"]["predict_time"] >= 0.3
    assert ISO_8601.fullmatch(final["completed_at"])
    facts = video_facts(http.get(final["output"]).content)
    assert (facts.width, facts.height) == (854, 480)
    assert abs(facts.duration_seconds - 4) <= 1 / 24
    assert facts.codecs == {"h264", "aac"}


def test_defaults_are_720p_16_9_five_seconds_with_audio_and_auto_words_render_the_same(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    sim.faults.stall_predictions = 2  # only the clip's shape matters
    defaults = create(api, {"input": {"prompt": "a cat"}})["id"]
    chosen = create(api, {"input": {"prompt": "a cat", "duration": -1, "aspect_ratio": "adaptive"}})["id"]

    for prediction_id in (defaults, chosen):
        record = sim.prediction(prediction_id)
        assert record is not None
        assert record.to_json()["clip"] == {
            "width": 1280,
            "height": 720,
            "duration_seconds": 5,
            "with_audio": True,
            "moov_first": True,
        }


def test_the_fast_model_stops_at_720p_and_the_standard_one_goes_to_4k(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    sim.faults.stall_predictions = 2
    refused = api.post(FAST, json=t2v(resolution="1080p"))

    assert refused.status_code == 422
    assert "input.resolution" in refused.json()["detail"]
    assert create(api, t2v(resolution="720p"), FAST)["model"] == "bytedance/seedance-2.0-fast"
    assert create(api, t2v(resolution="4k"))["model"] == "bytedance/seedance-2.0"


def test_first_and_last_frames_and_references_are_taken(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 2
    frames = t2v(image="https://cdn.example.com/a.png", last_frame_image="https://cdn.example.com/b.png")
    references = t2v(
        reference_images=[f"https://cdn.example.com/{n}.png" for n in range(9)],
        reference_videos=["https://cdn.example.com/v.mp4"] * 3,
        reference_audios=["https://cdn.example.com/a.mp3"] * 3,
        aspect_ratio="9:21",
        seed=7,
        generate_audio=False,
    )

    create(api, frames)
    create(api, references)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**t2v(), "version": "abc"}, "version"),
        ({**t2v(), "webhook_url": "https://x.example.com"}, "webhook_url"),
        ({}, "input"),
        (t2v(prompt=None), "input.prompt"),
        (t2v(prompt="x" * 4001), "input.prompt"),
        (t2v(negative_prompt="blur"), "input.negative_prompt"),
        (t2v(last_frame_image="https://cdn.example.com/b.png"), "input.last_frame_image"),
        (
            t2v(image="https://cdn.example.com/a.png", reference_images=["https://cdn.example.com/r.png"]),
            "input.reference_images",
        ),
        (t2v(reference_audios=["https://cdn.example.com/a.mp3"]), "input.reference_audios"),
        (t2v(reference_images=["https://cdn.example.com/r.png"] * 10), "input.reference_images"),
        (t2v(duration=3), "input.duration"),
        (t2v(duration=16), "input.duration"),
        (t2v(duration="5"), "input.duration"),
        (t2v(aspect_ratio="auto"), "input.aspect_ratio"),
        (t2v(resolution="2k"), "input.resolution"),
        (t2v(generate_audio="yes"), "input.generate_audio"),
        ({**t2v(), "webhook": "not a url"}, "webhook"),
        ({**t2v(), "webhook_events_filter": ["finished"]}, "webhook_events_filter[0]"),
        (t2v(image="http://example.com/a.png"), "input.image"),
    ],
)
def test_invalid_input_is_a_422_problem_naming_the_field(
    api: httpx.Client, body: dict[str, Any], named: str
) -> None:
    response = api.post(STANDARD, json=body)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert set(problem) == {"title", "detail", "status"}
    assert (problem["title"], problem["status"]) == ("Input validation failed", 422)
    assert f"'{named}'" in problem["detail"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": f"Token {API_KEY}"}, 401)],
)
def test_every_route_wants_a_bearer_token(
    sim: ProviderSimulator, headers: dict[str, str], status: int
) -> None:
    base = sim.provider_base_url("replicate")
    for method, path in (
        ("POST", STANDARD),
        ("GET", "/v1/predictions/x"),
        ("GET", "/v1/webhooks/default/secret"),
    ):
        response = httpx.request(method, f"{base}{path}", headers=headers, json=t2v())
        assert response.status_code == status
        assert response.json()["title"] == "Unauthenticated"


def test_unknown_models_and_predictions_are_404_problems(api: httpx.Client) -> None:
    model = api.post("/v1/models/bytedance/seedance-2.0-mini/predictions", json=t2v())
    prediction = api.get("/v1/predictions/nope")
    cancel = api.post("/v1/predictions/nope/cancel")

    assert [r.status_code for r in (model, prediction, cancel)] == [404, 404, 404]
    assert all(r.json()["title"] == "Not found" for r in (model, prediction, cancel))


def test_a_throttled_create_is_a_429_with_the_documented_detail(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    sim.faults.max_active_per_key = 1
    sim.faults.stall_predictions = 1
    create(api, t2v())

    response = api.post(STANDARD, json=t2v())

    assert response.status_code == 429
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"].startswith("Request was throttled.")
    assert response.headers["retry-after"] == "1"


# -- the account secret and webhooks ----------------------------------------------------------------------
def test_the_account_secret_is_a_stable_whsec_key(api: httpx.Client) -> None:
    first, second = secret(api), secret(api)

    assert first == second
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+=*", first)
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_completed_webhook_is_the_prediction_signed_with_the_account_secret(
    api: httpx.Client, peer: LoopbackPeer
) -> None:
    prediction_id = create(
        api, {**t2v(), "webhook": f"{peer.url}/hook?token=t", "webhook_events_filter": ["completed"]}
    )["id"]

    (webhook,) = peer.wait_for(1)
    finished(api, prediction_id)
    # Nothing else follows: a marker made after it finished has its webhook in first.
    marker = create(api, {**t2v(), "webhook": f"{peer.url}/marker", "webhook_events_filter": ["completed"]})
    peer.wait_for(2)

    assert [call.json()["id"] for call in peer.calls("POST")] == [prediction_id, marker["id"]]
    assert webhook.path == "/hook?token=t"
    assert webhook.headers["content-type"] == "application/json"
    assert re.fullmatch(r"msg_[A-Za-z0-9_-]+", webhook.headers["webhook-id"])
    assert abs(int(webhook.headers["webhook-timestamp"]) - time.time()) < 30
    assert webhook.headers["webhook-signature"].startswith("v1,")
    assert signature_matches(secret(api), webhook)
    body = webhook.json()
    assert body == api.get(f"/v1/predictions/{prediction_id}").json()
    assert body["status"] == "succeeded"
    assert body["output"].endswith(f"/replicate/outputs/{prediction_id}.mp4")


def test_start_and_completed_webhooks_come_in_order_when_asked_for(
    api: httpx.Client, peer: LoopbackPeer
) -> None:
    create(api, {**t2v(), "webhook": f"{peer.url}/hook", "webhook_events_filter": ["start", "completed"]})

    start, completed = peer.wait_for(2)

    assert start.json()["status"] in {"starting", "processing"}
    assert completed.json()["status"] == "succeeded"
    assert start.headers["webhook-id"] != completed.headers["webhook-id"]
    assert all(signature_matches(secret(api), call) for call in (start, completed))


def test_without_a_filter_the_webhook_comes_at_completion_and_without_a_url_none(
    api: httpx.Client, peer: LoopbackPeer
) -> None:
    with_url = create(api, {**t2v(), "webhook": f"{peer.url}/hook"})["id"]
    without = create(api, t2v())["id"]

    (webhook,) = peer.wait_for(1)
    finished(api, with_url)
    finished(api, without)
    # A marker made after both finished: once its webhook is in, theirs would have been too.
    marker = create(api, {**t2v(), "webhook": f"{peer.url}/marker", "webhook_events_filter": ["completed"]})
    peer.wait_for(2)

    assert webhook.json()["id"] == with_url
    assert [call.json()["id"] for call in peer.calls("POST")] == [with_url, marker["id"]]


def test_a_retried_webhook_keeps_its_id_and_signature(api: httpx.Client, peer: LoopbackPeer) -> None:
    peer.post_statuses = [500]
    create(api, {**t2v(), "webhook": f"{peer.url}/hook", "webhook_events_filter": ["completed"]})

    first, retry = peer.wait_for(2)

    assert first.body == retry.body
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert first.headers["webhook-signature"] == retry.headers["webhook-signature"]


def test_a_failed_prediction_says_so_with_its_error(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1
    create(api, {**t2v(), "webhook": f"{peer.url}/hook", "webhook_events_filter": ["completed"]})

    (webhook,) = peer.wait_for(1)

    body = webhook.json()
    assert body["status"] == "failed"
    assert body["output"] is None
    assert body["error"]


# -- cancel -------------------------------------------------------------------------------------------------
def test_cancel_stops_a_starting_prediction_and_its_webhook_says_canceled(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.hold_in_queue = True
    prediction = create(api, {**t2v(), "webhook": f"{peer.url}/hook", "webhook_events_filter": ["completed"]})
    assert prediction["status"] == "starting"

    response = api.post(f"/v1/predictions/{prediction['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    (webhook,) = peer.wait_for(1)
    assert webhook.json()["status"] == "canceled"
    assert api.get(f"/v1/predictions/{prediction['id']}").json()["status"] == "canceled"


def test_cancel_stops_a_processing_prediction_too(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    prediction_id = create(api, t2v())["id"]
    poll(lambda: api.get(f"/v1/predictions/{prediction_id}").json()["status"], lambda s: s == "processing")

    response = api.post(f"/v1/predictions/{prediction_id}/cancel")

    assert (response.status_code, response.json()["status"]) == (200, "canceled")


def test_cancelling_a_finished_prediction_answers_it_unchanged(api: httpx.Client) -> None:
    prediction_id = create(api, t2v())["id"]
    finished(api, prediction_id)

    response = api.post(f"/v1/predictions/{prediction_id}/cancel")

    assert (response.status_code, response.json()["status"]) == (200, "succeeded")


def test_the_request_log_records_each_call_under_replicate(sim: ProviderSimulator, api: httpx.Client) -> None:
    secret(api)
    secret(api)

    logged = [(r["method"], r["path"], r["status"]) for r in sim.requests_for("replicate")]

    assert logged == [("GET", "/replicate/v1/webhooks/default/secret", 200)] * 2
