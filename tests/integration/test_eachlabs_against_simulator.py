"""The EachLabs adapter and the download source against the simulator, over real HTTP."""

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from local.simulator import DEFAULT_API_KEYS, ProviderSimulator
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.download_policy import HostAllowlist
from videojobs.errors import CancelRefused, OutputRejected, ProviderError, TransferFailed
from videojobs.models import JobRequest, ProviderState, WebhookTarget, utc_now
from videojobs.providers.eachlabs.adapter import EachLabsProvider


class WebhookInbox:
    """A loopback HTTP server that records what providers post to it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                inbox.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                inbox.arrived.set()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook?token=abc"


@pytest.fixture
def inbox() -> Iterator[WebhookInbox]:
    box = WebhookInbox()
    yield box
    box.server.shutdown()


@pytest.fixture
def eachlabs(simulator: ProviderSimulator) -> EachLabsProvider:
    return EachLabsProvider(
        httpx.Client(timeout=10),
        base_url=simulator.provider_base_url("eachlabs"),
        api_key=SecretStr(DEFAULT_API_KEYS["eachlabs"]),
        clock=utc_now,
        max_webhook_age=timedelta(minutes=5),
    )


def test_text_to_video_is_accepted_and_its_signed_webhook_verifies(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox
) -> None:
    webhook = WebhookTarget(url=inbox.url, signing_secret="per-job-secret")
    request = JobRequest(provider="eachlabs", prompt="a lighthouse", resolution="480p", duration=4, seed=3)

    receipt = eachlabs.create_prediction(request, webhook)

    assert inbox.arrived.wait(30)
    headers, body = inbox.received[0]
    update = eachlabs.parse_webhook(headers, body, signing_secret="per-job-secret")
    record = simulator.wait_for_prediction(receipt.provider_job_id)
    assert update.provider_job_id == receipt.provider_job_id
    assert update.state is ProviderState.SUCCEEDED
    assert update.output_url == record.output_url
    assert (record.clip.width, record.clip.height, record.clip.duration_seconds) == (854, 480, 4)
    assert eachlabs.get_prediction(receipt.provider_job_id).state is ProviderState.SUCCEEDED


def test_image_to_video_with_both_frames_is_accepted(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox
) -> None:
    request = JobRequest(
        provider="eachlabs",
        prompt="lion roars",
        first_frame_url="https://cdn.example.com/start.jpg",
        last_frame_url="https://cdn.example.com/end.jpg",
        resolution="480p",
        duration=4,
    )

    receipt = eachlabs.create_prediction(request, WebhookTarget(url=inbox.url, signing_secret="s"))

    sent = simulator.wait_for_prediction(receipt.provider_job_id).request
    assert sent["model"] == "bytedance-seedance-2-0-image-to-video-fast"
    assert isinstance(sent["input"], dict)
    assert sent["input"]["end_image_url"] == "https://cdn.example.com/end.jpg"


def test_a_wrong_api_key_is_a_non_retryable_provider_error(simulator: ProviderSimulator) -> None:
    provider = EachLabsProvider(
        httpx.Client(timeout=10),
        base_url=simulator.provider_base_url("eachlabs"),
        api_key=SecretStr("wrong"),
        clock=utc_now,
        max_webhook_age=timedelta(minutes=5),
    )

    with pytest.raises(ProviderError) as raised:
        provider.create_prediction(
            JobRequest(provider="eachlabs", prompt="p"), WebhookTarget(url="http://x", signing_secret="s")
        )

    assert raised.value.status_code == 401
    assert raised.value.retryable is False


def test_a_rate_limited_create_is_retryable(eachlabs: EachLabsProvider, simulator: ProviderSimulator) -> None:
    httpx.post(
        f"{simulator.base_url}/_sim/faults", json={"reject_creates_with_status": 429}
    ).raise_for_status()

    with pytest.raises(ProviderError) as raised:
        eachlabs.create_prediction(
            JobRequest(provider="eachlabs", prompt="p"), WebhookTarget(url="http://x", signing_secret="s")
        )

    assert raised.value.retryable is True


def finished_output(eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox) -> Any:
    request = JobRequest(provider="eachlabs", prompt="p", resolution="480p", duration=4)
    receipt = eachlabs.create_prediction(request, WebhookTarget(url=inbox.url, signing_secret="s"))
    return simulator.wait_for_prediction(receipt.provider_job_id)


def test_the_source_streams_the_output_in_chunks(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox
) -> None:
    record = finished_output(eachlabs, simulator, inbox)
    source = HttpVideoSource(httpx.Client(timeout=10))

    with source.open(record.output_url, HostAllowlist([], allow_loopback=True)) as download:
        data = b"".join(download.chunks)

    assert download.content_length == record.output_size == len(data)
    assert hashlib.sha256(data).hexdigest() == record.output_sha256


def test_a_cut_download_raises_a_retryable_transfer_failure(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox
) -> None:
    record = finished_output(eachlabs, simulator, inbox)
    simulator.faults.apply({"cut_downloads": 1})
    source = HttpVideoSource(httpx.Client(timeout=10))

    with (
        pytest.raises(TransferFailed),
        source.open(record.output_url, HostAllowlist([], allow_loopback=True)) as download,
    ):
        b"".join(download.chunks)


def test_outputs_are_refused_outside_local_mode(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox
) -> None:
    record = finished_output(eachlabs, simulator, inbox)
    source = HttpVideoSource(httpx.Client(timeout=10))
    downloads_before = len(simulator.requests_for("outputs"))

    with pytest.raises(OutputRejected), source.open(record.output_url, HostAllowlist(["*.eachlabs.ai"])):
        pass

    assert len(simulator.requests_for("outputs")) == downloads_before


def test_a_missing_output_is_final(simulator: ProviderSimulator) -> None:
    source = HttpVideoSource(httpx.Client(timeout=10))
    url = f"{simulator.provider_base_url('eachlabs')}/outputs/nope.mp4"

    with pytest.raises(OutputRejected, match="404"), source.open(url, HostAllowlist([], allow_loopback=True)):
        pass


def test_the_simulator_log_shows_the_exact_documented_request(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator
) -> None:
    simulator.clear_requests()
    request = JobRequest(provider="eachlabs", prompt="p", resolution="720p", duration=8, aspect_ratio="9:16")

    eachlabs.create_prediction(request, WebhookTarget(url="http://127.0.0.1:1/h", signing_secret="s"))

    (logged,) = simulator.requests_for("eachlabs")
    assert (logged["method"], logged["path"], logged["status"]) == ("POST", "/eachlabs/v1/prediction", 200)
    assert logged["headers"]["x-api-key"] == DEFAULT_API_KEYS["eachlabs"]
    body = logged["json"]
    assert isinstance(body, dict)
    assert body["webhook_url"] == "http://127.0.0.1:1/h"
    assert json.dumps(body["input"], sort_keys=True) == json.dumps(
        {
            "aspect_ratio": "9:16",
            "duration": "8",
            "generate_audio": True,
            "prompt": "p",
            "resolution": "720p",
        },
        sort_keys=True,
    )


def test_cancel_uses_eachlabs_own_post_and_the_prediction_ends_cancelled(
    eachlabs: EachLabsProvider, simulator: ProviderSimulator, inbox: WebhookInbox
) -> None:
    simulator.faults.hold_in_queue = True
    receipt = eachlabs.create_prediction(
        JobRequest(provider="eachlabs", prompt="p"), WebhookTarget(url=inbox.url, signing_secret="s")
    )

    eachlabs.cancel(receipt.provider_job_id)
    simulator.faults.hold_in_queue = False

    cancel_path = f"/v1/prediction/{receipt.provider_job_id}/cancel"
    assert [
        (r["method"], r["status"])
        for r in simulator.requests_for("eachlabs")
        if r["path"].endswith(cancel_path)
    ] == [("POST", 200)]
    assert eachlabs.get_prediction(receipt.provider_job_id).state is ProviderState.FAILED
    with pytest.raises(CancelRefused):
        eachlabs.cancel(receipt.provider_job_id)  # cancelled already: nothing more to stop
