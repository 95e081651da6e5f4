"""The provider simulator speaks the EachLabs dialect over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from local.simulator import ProviderSimulator
from local.simulator.media import Mp4Box, top_level_boxes

API_KEY = "test-eachlabs-key"
TEXT_TO_VIDEO = "bytedance-seedance-2-0-text-to-video-fast"
IMAGE_TO_VIDEO = "bytedance-seedance-2-0-image-to-video-fast"
FAST_BACKOFF = (0.05, 0.05, 0.05)
TLS = ssl.create_default_context()  # one CA bundle load for every client in this module


# -- a webhook receiver ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes
    arrived_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Records every POST; answers with the queued statuses first, then 200."""

    def __init__(self) -> None:
        self.received: list[ReceivedWebhook] = []
        self.statuses: list[int] = []
        self.handling_seconds = 0.0
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived_at = time.monotonic()
                time.sleep(receiver.handling_seconds)
                with receiver._condition:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.received.append(ReceivedWebhook(self.path, headers, body, arrived_at))
                    receiver._condition.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/eachlabs"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        with self._condition:
            self._condition.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every simulator in this module, so each distinct clip is encoded once."""
    return tmp_path_factory.mktemp("sim-clips")


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with ProviderSimulator(
        api_keys={"eachlabs": API_KEY},
        webhook_backoff_seconds=FAST_BACKOFF,
        webhook_timeout_seconds=5.0,
        media_cache_dir=clip_cache_dir,
    ) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.provider_base_url("eachlabs"), headers={"X-API-Key": API_KEY}, timeout=10.0, verify=TLS
    ) as client:
        yield client


@pytest.fixture
def control(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sim.base_url}/_sim", timeout=10.0, verify=TLS) as client:
        yield client


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """For absolute URLs (outputs) and calls that must not carry the API key."""
    with httpx.Client(timeout=10.0, verify=TLS) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    webhook_receiver = WebhookReceiver()
    yield webhook_receiver
    webhook_receiver.close()


# -- helpers --------------------------------------------------------------------------------------------
def t2v_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": TEXT_TO_VIDEO,
        "version": "0.0.1",
        "input": {
            "prompt": "A lighthouse at dusk, waves below",
            "resolution": "480p",
            "duration": "4",
            "aspect_ratio": "16:9",
            "generate_audio": True,
        },
    }
    body.update(overrides)
    return body


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post("/v1/prediction", json=body)
    assert response.status_code == 200, response.text
    prediction_id: str = response.json()["predictionID"]
    return prediction_id


def poll_until_done(api: httpx.Client, prediction_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(f"/v1/prediction/{prediction_id}").json()
        if body["status"] != "processing":
            return body
        time.sleep(0.05)
    raise AssertionError(f"prediction {prediction_id} still processing after {timeout}s")


def settled_record(control: httpx.Client, prediction_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record: dict[str, Any] = control.get(f"/predictions/{prediction_id}").json()
        if record["settled"]:
            return record
        time.sleep(0.05)
    raise AssertionError(f"prediction {prediction_id} not settled after {timeout}s")


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# -- the happy path -------------------------------------------------------------------------------------
def test_create_answers_like_eachlabs(api: httpx.Client) -> None:
    response = api.post("/v1/prediction", json=t2v_body())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "message", "predictionID"}
    assert body["status"] == "success"
    assert body["message"] == "Prediction created successfully"
    assert uuid.UUID(body["predictionID"]).version == 4


def test_prediction_is_processing_then_succeeds_with_a_downloadable_real_mp4(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client, http: httpx.Client
) -> None:
    sim.processing_seconds = 0.3
    prediction_id = create(api, t2v_body())

    first_poll = api.get(f"/v1/prediction/{prediction_id}").json()
    final = poll_until_done(api, prediction_id)
    download = http.get(final["output"])
    record = control.get(f"/predictions/{prediction_id}").json()

    assert first_poll["status"] == "processing"
    assert first_poll["output"] is None
    assert final["status"] == "success"
    assert final["id"] == prediction_id
    assert final["output"] == f"{sim.base_url}/eachlabs/outputs/{prediction_id}.mp4"
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert int(download.headers["content-length"]) == len(download.content) == record["output_size"]
    assert hashlib.sha256(download.content).hexdigest() == record["output_sha256"]
    with av.open(io.BytesIO(download.content), mode="r") as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (854, 480)
        assert {stream.codec_context.name for stream in container.streams} == {"h264", "aac"}
        assert container.duration is not None
        assert abs(container.duration / av.time_base - 4) <= 1 / 24


def test_image_to_video_accepts_public_https_frames_and_uses_the_requested_shape(
    api: httpx.Client, control: httpx.Client
) -> None:
    body = {
        "model": IMAGE_TO_VIDEO,
        "version": "0.0.1",
        "input": {
            "prompt": "The lion roars",
            "image_url": "https://cdn.example.com/lion.jpg",
            "end_image_url": "https://cdn.example.com/lion-end.webp",
            "resolution": "480p",
            "duration": "4",
            "aspect_ratio": "9:16",
            "generate_audio": False,
            "seed": "42",
            "end_user_id": "user-7",
        },
    }

    prediction_id = create(api, body)
    final = poll_until_done(api, prediction_id)
    record = control.get(f"/predictions/{prediction_id}").json()

    assert final["status"] == "success"
    assert record["clip"] == {
        "width": 480,
        "height": 854,
        "duration_seconds": 4,
        "with_audio": False,
        "moov_first": True,
    }
    assert record["request"] == body


def test_unknown_prediction_is_a_404_with_the_error_body(api: httpx.Client) -> None:
    response = api.get(f"/v1/prediction/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["status"] == "error"
    assert set(response.json()) == {"status", "message", "details"}


def test_model_schema_lists_inputs_per_slug(api: httpx.Client) -> None:
    i2v = api.get("/v1/model", params={"slug": IMAGE_TO_VIDEO}).json()["request_schema"]
    t2v = api.get("/v1/model", params={"slug": TEXT_TO_VIDEO}).json()["request_schema"]
    unknown = api.get("/v1/model", params={"slug": "bytedance-seedance-1-0"})

    assert i2v["required"] == ["prompt", "image_url"]
    assert "image_url" not in t2v["properties"]
    assert t2v["properties"]["duration"]["enum"][:2] == ["auto", "4"]
    assert unknown.status_code == 404


# -- authentication and validation ----------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": f"Bearer {API_KEY}"}])
def test_requests_without_the_right_api_key_are_401(
    sim: ProviderSimulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    url = f"{sim.provider_base_url('eachlabs')}/v1/prediction"

    response = http.post(url, json=t2v_body(), headers=headers)

    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["message"]
    assert "details" in body
    assert sim.predictions() == []


REMOVE = object()


def with_input(**changes: Any) -> dict[str, Any]:
    """The default text-to-video body with input fields changed (or dropped, given REMOVE)."""
    body = t2v_body()
    body["input"] = {key: value for key, value in (body["input"] | changes).items() if value is not REMOVE}
    return body


def i2v_with(image_url: str) -> dict[str, Any]:
    return {
        "model": IMAGE_TO_VIDEO,
        "version": "0.0.1",
        "input": {"prompt": "Animate it", "image_url": image_url},
    }


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        pytest.param(
            t2v_body(callback_url="https://x.example/h"), 400, "callback_url", id="unknown-top-level"
        ),
        pytest.param(
            with_input(webhook_url="https://x.example/h"), 400, "input.webhook_url", id="webhook-in-input"
        ),
        pytest.param(
            t2v_body(model="bytedance-seedance-2-0-pro"), 404, "bytedance-seedance-2-0-pro", id="model"
        ),
        pytest.param(t2v_body(version="1.0.0"), 400, "version", id="version"),
        pytest.param(t2v_body(version=None), 400, "version", id="version-null"),
        pytest.param(t2v_body(input="make a video"), 400, "input", id="input-not-object"),
        pytest.param(with_input(duration=5), 400, "input.duration", id="duration-integer"),
        pytest.param(with_input(duration="3"), 400, "input.duration", id="duration-too-short"),
        pytest.param(with_input(duration="16"), 400, "input.duration", id="duration-too-long"),
        pytest.param(with_input(resolution="1080p"), 400, "input.resolution", id="resolution"),
        pytest.param(with_input(aspect_ratio="2:1"), 400, "input.aspect_ratio", id="aspect-ratio"),
        pytest.param(with_input(generate_audio="true"), 400, "input.generate_audio", id="audio-not-bool"),
        pytest.param(with_input(seed=42), 400, "input.seed", id="seed-integer"),
        pytest.param(with_input(end_user_id=7), 400, "input.end_user_id", id="end-user-integer"),
        pytest.param(with_input(prompt=REMOVE), 400, "input.prompt", id="prompt-missing"),
        pytest.param(with_input(prompt="   "), 400, "input.prompt", id="prompt-blank"),
        pytest.param(
            with_input(image_url="https://cdn.example.com/a.jpg"), 400, "input.image_url", id="t2v-image"
        ),
        pytest.param(
            {"model": IMAGE_TO_VIDEO, "version": "0.0.1", "input": {"prompt": "go"}},
            400,
            "input.image_url",
            id="i2v-without-image",
        ),
        pytest.param(i2v_with("http://cdn.example.com/a.jpg"), 400, "input.image_url", id="image-plain-http"),
        pytest.param(
            i2v_with("data:image/png;base64,iVBORw0KGgo="), 400, "input.image_url", id="image-data-uri"
        ),
        pytest.param(i2v_with("https://localhost/a.jpg"), 400, "input.image_url", id="image-localhost"),
        pytest.param(i2v_with("https://127.0.0.1:9000/a.jpg"), 400, "input.image_url", id="image-loopback"),
        pytest.param(i2v_with("https://10.1.2.3/a.jpg"), 400, "input.image_url", id="image-private-ip"),
        pytest.param(t2v_body(webhook_url="/hooks/eachlabs"), 400, "webhook_url", id="webhook-relative"),
        pytest.param(t2v_body(webhook_url="ftp://x.example/h"), 400, "webhook_url", id="webhook-ftp"),
        pytest.param(t2v_body(webhook_secret=123), 400, "webhook_secret", id="secret-not-string"),
        pytest.param([t2v_body()], 400, "object", id="body-array"),
    ],
)
def test_create_rejects_what_the_doc_forbids(
    sim: ProviderSimulator, api: httpx.Client, body: Any, status: int, named: str
) -> None:
    response = api.post("/v1/prediction", json=body)

    assert response.status_code == status, response.text
    error = response.json()
    assert error["status"] == "error"
    assert named in error["message"]
    assert isinstance(error["details"], str)
    assert sim.predictions() == []


def test_create_rejects_a_body_that_is_not_json(api: httpx.Client) -> None:
    response = api.post("/v1/prediction", content=b"model=seedance", headers={"Content-Type": "text/plain"})

    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_defaults_apply_when_optional_inputs_are_omitted(api: httpx.Client, control: httpx.Client) -> None:
    prediction_id = create(api, {"model": TEXT_TO_VIDEO, "version": "0.0.1", "input": {"prompt": "a cat"}})

    record = control.get(f"/predictions/{prediction_id}").json()

    # 720p, auto ratio (16:9), auto duration (5 s), audio on.
    assert record["clip"] == {
        "width": 1280,
        "height": 720,
        "duration_seconds": 5,
        "with_audio": True,
        "moov_first": True,
    }


# -- webhooks -------------------------------------------------------------------------------------------
def test_webhook_is_signed_when_a_secret_was_given(
    api: httpx.Client, control: httpx.Client, receiver: WebhookReceiver
) -> None:
    secret = "whsec-test"
    prediction_id = create(api, t2v_body(webhook_url=receiver.url, webhook_secret=secret))

    record = settled_record(control, prediction_id)
    (webhook,) = receiver.wait_for(1)

    assert webhook.path == "/hooks/eachlabs"
    assert webhook.headers["content-type"] == "application/json"
    assert webhook.json() == {
        "exec_id": prediction_id,
        "status": "succeeded",
        "output": record["output_url"],
        "error": "",
    }
    timestamp = webhook.headers["x-webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert webhook.headers["x-webhook-signature"] == expected_signature(secret, timestamp, webhook.body)
    assert webhook.headers["x-webhook-signature"] != expected_signature(
        "other-secret", timestamp, webhook.body
    )
    assert record["webhook"]["state"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in record["webhook"]["attempts"]] == [(1, 200)]


def test_webhook_carries_no_signature_without_a_secret(
    api: httpx.Client, control: httpx.Client, receiver: WebhookReceiver
) -> None:
    prediction_id = create(api, t2v_body(webhook_url=receiver.url))

    settled_record(control, prediction_id)
    (webhook,) = receiver.wait_for(1)

    assert webhook.json()["status"] == "succeeded"
    assert "x-webhook-signature" not in webhook.headers
    assert "x-webhook-timestamp" not in webhook.headers


def test_webhook_is_retried_after_errors_until_answered_with_2xx(
    api: httpx.Client, control: httpx.Client, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 503]
    prediction_id = create(api, t2v_body(webhook_url=receiver.url, webhook_secret="s"))

    record = settled_record(control, prediction_id)
    received = receiver.wait_for(3)

    assert [(a["attempt"], a["status_code"]) for a in record["webhook"]["attempts"]] == [
        (1, 500),
        (2, 503),
        (3, 200),
    ]
    assert record["webhook"]["state"] == "delivered"
    assert len({(w.body, w.headers["x-webhook-signature"]) for w in received}) == 1


def test_webhook_delivery_gives_up_after_four_failed_connections(
    api: httpx.Client, control: httpx.Client
) -> None:
    unreachable = WebhookReceiver()
    unreachable.close()  # the port is now closed: every attempt is refused
    prediction_id = create(api, t2v_body(webhook_url=unreachable.url))

    record = settled_record(control, prediction_id)

    attempts = record["webhook"]["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all(a["status_code"] is None and a["error"] for a in attempts)
    assert record["webhook"]["state"] == "gave_up"
    assert api.get(f"/v1/prediction/{prediction_id}").json()["status"] == "success"


# -- faults ---------------------------------------------------------------------------------------------
def test_fail_predictions_fails_the_next_one_only(
    sim: ProviderSimulator,
    api: httpx.Client,
    control: httpx.Client,
    http: httpx.Client,
    receiver: WebhookReceiver,
) -> None:
    sim.faults.fail_predictions = 1

    failed_id = create(api, t2v_body(webhook_url=receiver.url))
    healthy_id = create(api, t2v_body(webhook_url=receiver.url))
    failed = poll_until_done(api, failed_id)
    healthy = poll_until_done(api, healthy_id)
    settled_record(control, failed_id)
    settled_record(control, healthy_id)
    webhooks = {w.json()["exec_id"]: w.json() for w in receiver.wait_for(2)}

    assert failed["status"] == "error"
    assert failed["output"] is None
    assert failed["details"]
    assert webhooks[failed_id]["status"] == "failed"
    assert webhooks[failed_id]["output"] == ""
    assert webhooks[failed_id]["error"]
    assert healthy["status"] == "success"
    assert webhooks[healthy_id]["status"] == "succeeded"
    assert http.get(f"{sim.base_url}/eachlabs/outputs/{failed_id}.mp4").status_code == 404
    assert control.get("/faults").json()["fail_predictions"] == 0


def test_drop_webhooks_completes_the_prediction_silently(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client, receiver: WebhookReceiver
) -> None:
    sim.faults.drop_webhooks = 1

    dropped_id = create(api, t2v_body(webhook_url=receiver.url))
    dropped = settled_record(control, dropped_id)
    delivered_id = create(api, t2v_body(webhook_url=receiver.url))
    settled_record(control, delivered_id)
    received = receiver.wait_for(1)

    assert dropped["status"] == "succeeded"
    assert dropped["webhook"]["state"] == "dropped"
    assert dropped["webhook"]["attempts"] == []
    assert [w.json()["exec_id"] for w in received] == [delivered_id]


def test_duplicate_webhooks_arrive_concurrently_and_identically(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client, receiver: WebhookReceiver
) -> None:
    sim.faults.duplicate_webhooks = 3
    receiver.handling_seconds = 0.5  # sequential delivery would spread arrivals over at least a second

    prediction_id = create(api, t2v_body(webhook_url=receiver.url, webhook_secret="dup"))
    record = settled_record(control, prediction_id)
    received = receiver.wait_for(3)

    assert len(received) == 3
    assert (
        len({(w.body, w.headers["x-webhook-signature"], w.headers["x-webhook-timestamp"]) for w in received})
        == 1
    )
    arrivals = sorted(w.arrived_at for w in received)
    assert arrivals[-1] - arrivals[0] < 0.4
    assert sorted(a["copy"] for a in record["webhook"]["attempts"]) == [1, 2, 3]


def test_webhook_delay_holds_the_notification_back(
    sim: ProviderSimulator, api: httpx.Client, receiver: WebhookReceiver
) -> None:
    sim.faults.webhook_delay_seconds = 0.6

    prediction_id = create(api, t2v_body(webhook_url=receiver.url))
    completed = sim.wait_for_prediction(prediction_id, timeout=20, settled=False)
    receiver.wait_for(1)
    settled = sim.wait_for_prediction(prediction_id, timeout=20)

    assert completed.completed_at is not None
    assert settled.webhook_attempts[0].sent_at - completed.completed_at >= 0.6


def test_reject_creates_with_status_answers_the_next_create_only(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client
) -> None:
    control.post("/faults", json={"reject_creates_with_status": 429})

    rejected = api.post("/v1/prediction", json=t2v_body())
    accepted = api.post("/v1/prediction", json=t2v_body())

    assert rejected.status_code == 429
    assert rejected.json()["status"] == "error"
    assert accepted.status_code == 200
    assert len(sim.predictions()) == 1
    assert control.get("/faults").json()["reject_creates_with_status"] is None


def test_cut_download_breaks_the_body_then_the_next_download_is_whole(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client, http: httpx.Client
) -> None:
    prediction_id = create(api, t2v_body())
    output_url = poll_until_done(api, prediction_id)["output"]
    expected_sha = control.get(f"/predictions/{prediction_id}").json()["output_sha256"]
    sim.faults.cut_downloads = 1

    with pytest.raises(httpx.RemoteProtocolError, match="incomplete|complete message body"):
        http.get(output_url)
    whole = http.get(output_url)

    assert hashlib.sha256(whole.content).hexdigest() == expected_sha
    assert sim.faults.cut_downloads == 0


def boxes_of(content: bytes) -> dict[bytes, Mp4Box]:
    """The top-level boxes of a whole MP4, by type."""
    return {box.kind: box for box in top_level_boxes(io.BytesIO(content))}


def declared_size(content: bytes, box: Mp4Box) -> int:
    """The size the header at `box`'s offset in `content` declares (its 64-bit size if it has one)."""
    (size,) = struct.unpack(">I", content[box.offset : box.offset + 4])
    if size == 1:
        (size,) = struct.unpack(">Q", content[box.offset + 8 : box.offset + 16])
    return size


def test_short_mdat_download_is_a_healthy_response_for_a_broken_file_then_the_next_is_whole(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    output_url = poll_until_done(api, create(api, t2v_body()))["output"]
    full = http.get(output_url).content
    sim.faults.short_mdat_downloads = 1

    short = http.get(output_url)
    whole = http.get(output_url)

    boxes = boxes_of(full)
    ftyp, moov, mdat = boxes[b"ftyp"], boxes[b"moov"], boxes[b"mdat"]
    assert ftyp.offset < moov.offset < mdat.offset  # faststart: ftyp and moov come first
    assert short.status_code == 200
    assert int(short.headers["content-length"]) == len(short.content) < len(full)
    assert short.headers.get("connection") != "close"
    assert short.content[: moov.offset + moov.size] == full[: moov.offset + moov.size]
    assert (
        short.content[mdat.offset : mdat.offset + mdat.header_size]
        == full[mdat.offset : mdat.offset + mdat.header_size]
    )
    assert declared_size(short.content, mdat) == mdat.size > len(short.content) - mdat.offset
    assert whole.content == full
    assert sim.faults.short_mdat_downloads == 0


def test_short_mdat_download_of_a_moov_last_clip_ends_with_the_intact_moov(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    sim.faults.moov_last_outputs = 1
    output_url = poll_until_done(api, create(api, t2v_body()))["output"]
    full = http.get(output_url).content
    sim.faults.short_mdat_downloads = 1

    short = http.get(output_url)

    boxes = boxes_of(full)
    ftyp, mdat, moov = boxes[b"ftyp"], boxes[b"mdat"], boxes[b"moov"]
    assert ftyp.offset < mdat.offset < moov.offset
    assert int(short.headers["content-length"]) == len(short.content) < len(full)
    assert short.content[: mdat.offset + mdat.header_size] == full[: mdat.offset + mdat.header_size]
    assert declared_size(short.content, mdat) == mdat.size > len(short.content) - mdat.offset
    assert short.content.endswith(full[moov.offset : moov.offset + moov.size])
    assert short.content[-moov.size + 4 : -moov.size + 8] == b"moov"


def test_short_mdat_download_answers_ranges_against_the_short_body(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    output_url = poll_until_done(api, create(api, t2v_body()))["output"]
    full = http.get(output_url).content
    sim.faults.short_mdat_downloads = 3

    short = http.get(output_url).content
    part = http.get(output_url, headers={"Range": "bytes=100-1099"})
    tail = http.get(output_url, headers={"Range": "bytes=-10"})

    assert len(short) < len(full)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(short)}"
    assert part.content == short[100:1100]
    assert tail.headers["content-range"] == f"bytes {len(short) - 10}-{len(short) - 1}/{len(short)}"
    assert tail.content == short[-10:] != full[-10:]
    assert sim.faults.short_mdat_downloads == 0


def test_short_mdat_downloads_are_not_scoped_by_faults_provider(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client, http: httpx.Client
) -> None:
    output_url = poll_until_done(api, create(api, t2v_body()))["output"]
    full_size = int(http.head(output_url).headers["content-length"])
    control.post("/faults", json={"faults_provider": "fal", "short_mdat_downloads": 1}).raise_for_status()

    short = http.get(output_url)

    assert len(short.content) < full_size
    assert control.get("/faults").json()["short_mdat_downloads"] == 0


def test_output_honours_byte_ranges(api: httpx.Client, http: httpx.Client) -> None:
    prediction_id = create(api, t2v_body())
    output_url = poll_until_done(api, prediction_id)["output"]
    whole = http.get(output_url).content

    part = http.get(output_url, headers={"Range": "bytes=100-1099"})
    tail = http.get(output_url, headers={"Range": f"bytes={len(whole) - 10}-"})

    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    assert part.content == whole[100:1100]
    assert tail.content == whole[-10:]


# -- control plane --------------------------------------------------------------------------------------
def test_request_log_records_provider_calls_but_not_control_plane_calls(
    sim: ProviderSimulator, api: httpx.Client, control: httpx.Client
) -> None:
    api.post("/v1/prediction", json=t2v_body(version="9"))
    control.get("/faults")

    logged = control.get("/requests").json()

    assert logged == sim.requests
    (entry,) = logged
    assert entry["provider"] == "eachlabs"
    assert entry["method"] == "POST"
    assert entry["path"] == "/eachlabs/v1/prediction"
    assert entry["headers"]["x-api-key"] == API_KEY
    assert entry["json"]["version"] == "9"
    assert entry["status"] == 400
    assert control.delete("/requests").json() == {"cleared": 1}
    assert control.get("/requests").json() == []


def test_request_log_marks_output_downloads(
    api: httpx.Client, control: httpx.Client, http: httpx.Client
) -> None:
    prediction_id = create(api, t2v_body())
    output_url = poll_until_done(api, prediction_id)["output"]

    http.get(output_url)

    downloads = control.get("/requests", params={"provider": "outputs"}).json()
    assert [(d["method"], d["status"]) for d in downloads] == [("GET", 200)]
    assert all(
        r["provider"] == "eachlabs" for r in control.get("/requests", params={"provider": "eachlabs"}).json()
    )


def test_faults_merge_over_http_and_refuse_bad_values(sim: ProviderSimulator, control: httpx.Client) -> None:
    merged = control.post("/faults", json={"cut_downloads": 2, "webhook_delay_seconds": 0.5})
    bad_value = control.post("/faults", json={"drop_webhooks": -1, "cut_downloads": 7})
    unknown = control.post("/faults", json={"explode": True})

    assert merged.status_code == 200
    assert merged.json()["cut_downloads"] == 2
    assert sim.faults.webhook_delay_seconds == 0.5
    assert bad_value.status_code == 400
    assert "drop_webhooks" in bad_value.json()["error"]
    assert sim.faults.cut_downloads == 2, "a rejected patch must not apply partially"
    assert unknown.status_code == 400
    assert control.delete("/faults").json()["cut_downloads"] == 0


def test_unknown_simulator_prediction_is_404(control: httpx.Client) -> None:
    assert control.get(f"/predictions/{uuid.uuid4()}").status_code == 404


# -- lifecycle ------------------------------------------------------------------------------------------
def test_stop_closes_the_port_and_ends_worker_threads(clip_cache_dir: Path) -> None:
    # Other simulators (the session's fixtures) may be running: only this one's threads count.
    threads_before = set(threading.enumerate())
    simulator = ProviderSimulator(api_keys={"eachlabs": API_KEY}, media_cache_dir=clip_cache_dir).start()
    client = httpx.Client(
        base_url=simulator.provider_base_url("eachlabs"), headers={"X-API-Key": API_KEY}, verify=TLS
    )
    prediction_id = create(client, t2v_body())
    simulator.wait_for_prediction(prediction_id, timeout=20)

    simulator.stop()

    with pytest.raises(httpx.TransportError):
        client.get(f"/v1/prediction/{prediction_id}")
    client.close()
    with pytest.raises(RuntimeError, match="cannot be restarted"):
        simulator.start()

    def own_threads() -> list[str]:
        return [t.name for t in set(threading.enumerate()) - threads_before if t.name.startswith("sim-")]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and own_threads():
        time.sleep(0.05)
    assert own_threads() == []


# -- cancel ---------------------------------------------------------------------------------------------
def test_cancel_stops_a_processing_prediction_and_its_webhook_and_status_say_cancelled(
    sim: ProviderSimulator, api: httpx.Client, receiver: WebhookReceiver
) -> None:
    sim.faults.stall_predictions = 1
    prediction_id = create(api, t2v_body(webhook_url=receiver.url))

    response = api.post(f"/v1/prediction/{prediction_id}/cancel")

    assert response.status_code == 200
    assert response.json() == {
        "status": "cancelled",
        "message": "Prediction canceled successfully",
        "predictionID": prediction_id,
    }
    assert api.get(f"/v1/prediction/{prediction_id}").json()["status"] == "cancelled"
    (webhook,) = receiver.wait_for(1)
    assert webhook.json()["status"] == "cancelled"


def test_cancelling_a_finished_or_unknown_prediction_is_refused(api: httpx.Client) -> None:
    prediction_id = create(api, t2v_body())
    poll_until_done(api, prediction_id)

    finished = api.post(f"/v1/prediction/{prediction_id}/cancel")
    unknown = api.post("/v1/prediction/nope/cancel")

    assert (finished.status_code, finished.json()["status"]) == (400, "error")
    assert unknown.status_code == 404
