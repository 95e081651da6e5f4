"""Simulator core additions, across dialects: default keys, the stall fault, loopback media, signing keys,
uploads listing, the request size cap, the multipart parser and the command line."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.simulator import DEFAULT_API_KEYS, ProviderSimulator
from local.simulator.__main__ import _parse_args
from local.simulator.dialects import BUILTIN_DIALECTS
from local.simulator.multipart import MultipartError, parse_form_data
from local.simulator.protocol import MediaFetch
from local.simulator.testing import LoopbackPeer, quick_simulator
from videojobs.providers import UNITS

FRAME = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    """Default keys, loopback media refused."""
    with quick_simulator(clip_cache_dir) as simulator:
        yield simulator


@pytest.fixture
def loopback_sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, allow_loopback_media=True) as simulator:
        yield simulator


@pytest.fixture
def peer() -> Iterator[LoopbackPeer]:
    with LoopbackPeer() as loopback_peer:
        loopback_peer.files["/media/frame.png"] = FRAME
        yield loopback_peer


def bearer(provider: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DEFAULT_API_KEYS[provider]}"}


@dataclass(frozen=True)
class Dialect:
    """How to create a job with one media URL in each dialect, and which field the URL sits in."""

    provider: str
    create_path: str
    status_path: str
    headers: dict[str, str]
    body: Callable[[str], dict[str, Any]]
    field: str


DIALECTS = [
    Dialect(
        "eachlabs",
        "/v1/prediction",
        "/v1/prediction/unknown",
        {"X-API-Key": DEFAULT_API_KEYS["eachlabs"]},
        lambda url: {
            "model": "bytedance-seedance-2-0-image-to-video-fast",
            "version": "0.0.1",
            "input": {"prompt": "p", "image_url": url, "resolution": "480p", "duration": "4"},
        },
        "input.image_url",
    ),
    Dialect(
        "atlascloud",
        "/api/v1/model/generateVideo",
        "/api/v1/model/prediction/unknown",
        bearer("atlascloud"),
        lambda url: {"model": "bytedance/seedance-2.0/image-to-video", "prompt": "p", "image": url},
        "image",
    ),
    Dialect(
        "gateway",
        "/v1/video/generations",
        "/v1/videos/unknown",
        bearer("gateway"),
        lambda url: {"model": "seedance2.0-480p", "prompt": "p", "images": ["https://c.example/a.png", url]},
        "images[1]",
    ),
    Dialect(
        "jobs_api",
        "/v1/jobs",
        "/v1/jobs/unknown",
        bearer("jobs_api"),
        lambda url: {"model": "seedance-2.0/text-to-video", "input": {"prompt": "p", "first_frame_url": url}},
        "input.first_frame_url",
    ),
    Dialect(
        "byteplus",
        "/api/v3/contents/generations/tasks",
        "/api/v3/contents/generations/tasks/unknown",
        bearer("byteplus"),
        lambda url: {
            "model": "dreamina-seedance-2-0-260128",
            "content": [
                {"type": "text", "text": "p"},
                {"type": "image_url", "image_url": {"url": url}, "role": "first_frame"},
            ],
        },
        "content[1].image_url.url",
    ),
]
BY_PROVIDER = pytest.mark.parametrize("dialect", DIALECTS, ids=[dialect.provider for dialect in DIALECTS])


def post_create(
    http: httpx.Client, sim: ProviderSimulator, dialect: Dialect, media_url: str
) -> httpx.Response:
    url = f"{sim.provider_base_url(dialect.provider)}{dialect.create_path}"
    return http.post(url, json=dialect.body(media_url), headers=dialect.headers)


def created_id(response: httpx.Response) -> str:
    body = response.json()
    found = body.get("predictionID") or body.get("id") or body.get("data", {}).get("id")
    assert isinstance(found, str), body
    return found


# -- default keys ---------------------------------------------------------------------------------------
def test_the_simulator_has_a_dialect_for_every_provider_of_the_pipeline_with_a_default_key() -> None:
    providers = [dialect.provider for dialect in BUILTIN_DIALECTS]

    assert providers == list(UNITS)
    assert list(DEFAULT_API_KEYS) == providers
    assert (DEFAULT_API_KEYS["eachlabs"], DEFAULT_API_KEYS["jobs_api"]) == (
        "sim-eachlabs-key",
        "sim-jobs-api-key",
    )


def test_every_provider_is_mounted_by_default(sim: ProviderSimulator, http: httpx.Client) -> None:
    health = http.get(f"{sim.base_url}/_sim/health").json()

    assert health == {"status": "ok", "providers": sorted(DEFAULT_API_KEYS)}
    assert sim.providers == health["providers"]


@BY_PROVIDER
def test_each_provider_takes_its_default_key_and_no_other(
    sim: ProviderSimulator, http: httpx.Client, dialect: Dialect
) -> None:
    url = f"{sim.provider_base_url(dialect.provider)}{dialect.status_path}"
    other = "gateway" if dialect.provider != "gateway" else "jobs_api"

    own = http.get(url, headers=dialect.headers)
    foreign = http.get(url, headers={**bearer(other), "X-API-Key": DEFAULT_API_KEYS[other]})

    assert own.status_code == 404, own.text
    assert foreign.status_code == 401


# -- stall_predictions ----------------------------------------------------------------------------------
def test_stall_predictions_keeps_the_next_job_processing_forever_without_a_webhook(
    sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer
) -> None:
    faults = http.post(f"{sim.base_url}/_sim/faults", json={"stall_predictions": 1, "fail_predictions": 1})
    dialect = DIALECTS[0]

    def create(hook: str) -> str:
        body = {**dialect.body("https://c.example/a.png"), "webhook_url": f"{peer.url}/{hook}"}
        url = f"{sim.provider_base_url('eachlabs')}{dialect.create_path}"
        return created_id(http.post(url, json=body, headers=dialect.headers))

    stalled, failed, healthy = create("stalled"), create("failed"), create("healthy")
    received = peer.wait_for(2)
    sim.wait_for_prediction(healthy, timeout=20)
    with pytest.raises(TimeoutError):
        sim.wait_for_prediction(stalled, timeout=0.5, settled=False)
    poll = http.get(f"{sim.provider_base_url('eachlabs')}/v1/prediction/{stalled}", headers=dialect.headers)
    record = http.get(f"{sim.base_url}/_sim/predictions/{stalled}").json()

    assert faults.json()["stall_predictions"] == 1
    assert sorted(call.path for call in received) == ["/failed", "/healthy"]
    assert {call.json()["exec_id"]: call.json()["status"] for call in received} == {
        failed: "failed",
        healthy: "succeeded",
    }
    assert poll.json()["status"] == "processing"
    assert (record["status"], record["stalled"], record["settled"]) == ("processing", True, False)
    assert record["webhook"]["attempts"] == []
    assert http.get(f"{sim.base_url}/_sim/faults").json()["stall_predictions"] == 0
    assert len(peer.calls("POST")) == 2


def test_stall_predictions_must_be_a_non_negative_integer(sim: ProviderSimulator, http: httpx.Client) -> None:
    refused = http.post(f"{sim.base_url}/_sim/faults", json={"stall_predictions": -1})

    assert refused.status_code == 400
    assert "stall_predictions" in refused.json()["error"]
    assert http.delete(f"{sim.base_url}/_sim/faults").json()["stall_predictions"] == 0


# -- loopback media -------------------------------------------------------------------------------------
@BY_PROVIDER
def test_loopback_media_is_fetched_once_at_create_time_when_allowed(
    loopback_sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer, dialect: Dialect
) -> None:
    loopback_sim.faults.stall_predictions = 1
    media_url = f"{peer.url}/media/frame.png"

    response = post_create(http, loopback_sim, dialect, media_url)

    assert response.status_code == 200, response.text
    assert [(call.method, call.path) for call in peer.calls()] == [("GET", "/media/frame.png")]
    record = loopback_sim.prediction(created_id(response))
    assert record is not None
    assert record.media_fetches == [
        MediaFetch(field=dialect.field, url=media_url, status_code=200, size=len(FRAME))
    ]


def test_localhost_by_name_counts_as_loopback(
    loopback_sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer
) -> None:
    loopback_sim.faults.stall_predictions = 1

    response = post_create(
        http, loopback_sim, DIALECTS[3], peer.url.replace("127.0.0.1", "localhost") + "/media/frame.png"
    )

    assert response.status_code == 200, response.text
    assert len(peer.calls("GET")) == 1


@BY_PROVIDER
def test_a_loopback_fetch_that_is_not_2xx_refuses_the_create_naming_the_field(
    loopback_sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer, dialect: Dialect
) -> None:
    response = post_create(http, loopback_sim, dialect, f"{peer.url}/media/missing.png")

    assert response.status_code == 400
    assert f"'{dialect.field}'" in response.text
    assert "404" in response.text
    assert [call.path for call in peer.calls("GET")] == ["/media/missing.png"]
    assert loopback_sim.predictions() == []


@BY_PROVIDER
def test_a_loopback_fetch_that_cannot_connect_refuses_the_create_naming_the_field(
    loopback_sim: ProviderSimulator, http: httpx.Client, dialect: Dialect
) -> None:
    closed = LoopbackPeer()
    closed.close()

    response = post_create(http, loopback_sim, dialect, f"{closed.url}/media/frame.png")

    assert response.status_code == 400
    assert f"'{dialect.field}'" in response.text
    assert loopback_sim.predictions() == []


@BY_PROVIDER
def test_without_the_flag_loopback_media_is_refused_and_never_fetched(
    sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer, dialect: Dialect
) -> None:
    response = post_create(http, sim, dialect, f"{peer.url}/media/frame.png")

    assert response.status_code == 400
    assert f"'{dialect.field}'" in response.text
    assert peer.calls() == []
    assert sim.predictions() == []


@BY_PROVIDER
@pytest.mark.parametrize("media_url", ["https://cdn.example.com/frame.png", "https://8.8.8.8/frame.png"])
def test_public_media_is_accepted_but_never_fetched(
    loopback_sim: ProviderSimulator, http: httpx.Client, dialect: Dialect, media_url: str
) -> None:
    loopback_sim.faults.stall_predictions = 1

    response = post_create(http, loopback_sim, dialect, media_url)

    assert response.status_code == 200, response.text
    record = loopback_sim.prediction(created_id(response))
    assert record is not None
    assert record.media_fetches == []


@pytest.mark.parametrize(
    "media_url",
    ["http://10.1.2.3/frame.png", "http://cdn.example.com/frame.png", "ftp://127.0.0.1/frame.png", "data:,x"],
)
def test_the_flag_admits_only_loopback_http(
    loopback_sim: ProviderSimulator, http: httpx.Client, peer: LoopbackPeer, media_url: str
) -> None:
    response = post_create(http, loopback_sim, DIALECTS[0], media_url)

    assert response.status_code == 400
    assert "'input.image_url'" in response.text
    assert peer.calls() == []


# -- signing keys and uploads through the control plane -------------------------------------------------
def test_key_rotation_route_returns_the_new_kid_which_then_signs(
    sim: ProviderSimulator, http: httpx.Client
) -> None:
    first_kid = sim.signing_keys.current_kid

    rotated = http.post(f"{sim.base_url}/_sim/keys/rotate")
    again = sim.rotate_signing_key()

    assert rotated.status_code == 200
    assert rotated.json() == {"kid": sim.signing_keys.jwks()["keys"][1]["kid"]}
    assert [key["kid"] for key in sim.signing_keys.jwks()["keys"]] == [
        again,
        rotated.json()["kid"],
        first_kid,
    ]
    assert sim.signing_keys.sign(b"message")[0] == again == sim.signing_keys.current_kid
    assert http.get(f"{sim.base_url}/_sim/keys/rotate").status_code == 404


def test_uploads_are_listed_on_the_control_plane(sim: ProviderSimulator, http: httpx.Client) -> None:
    uploaded = http.post(
        f"{sim.provider_base_url('jobs_api')}/v1/files/upload",
        headers=bearer("jobs_api"),
        data={"kind": "audio", "purpose": "reference"},
        files={"file": ("voice.mp3", b"ID3...", "audio/mpeg")},
    ).json()

    (listed,) = http.get(f"{sim.base_url}/_sim/uploads").json()

    assert listed["id"] == uploaded["id"]
    assert (listed["provider"], listed["filename"], listed["size"]) == ("jobs_api", "voice.mp3", 6)
    assert listed["url"] == uploaded["url"]
    served = http.get(listed["url"])
    assert served.content == b"ID3..."
    assert served.headers["content-type"] == "audio/mpeg"
    assert [entry["provider"] for entry in sim.requests_for("uploads")] == ["uploads"]


def test_an_oversized_body_is_refused_with_413_unread(sim: ProviderSimulator) -> None:
    host, port = sim.base_url.removeprefix("http://").split(":")
    request = (
        "POST /atlascloud/api/v1/model/uploadMedia HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Length: {200 * 1024 * 1024}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )

    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"413"
    assert json.loads(body)["code"] == 413


# -- the multipart parser -------------------------------------------------------------------------------
def test_multipart_parts_come_back_byte_for_byte() -> None:
    content = bytes(range(256)) + b"\r\n--not-the-boundary\r\n\r\n" + bytes(range(255, -1, -1))
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"kind": "video"},
        files={"file": ("ré sumé.bin", content, "application/x-test")},
    )

    parts = parse_form_data(request.headers["content-type"], request.read())

    assert list(parts) == ["kind", "file"]
    assert (parts["kind"].data, parts["kind"].filename, parts["kind"].content_type) == (b"video", None, None)
    assert parts["file"].data == content
    assert parts["file"].filename == "ré sumé.bin"
    assert parts["file"].content_type == "application/x-test"


def test_multipart_reads_rfc_2231_file_names() -> None:
    body = (
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''na%C3%AFve.txt\r\n\r\n"
        b"x\r\n--b--"
    )

    assert parse_form_data("multipart/form-data; boundary=b", body)["file"].filename == "naïve.txt"


GOOD_PART = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        pytest.param("application/json", GOOD_PART + b"--b--", "multipart/form-data", id="not-multipart"),
        pytest.param(None, GOOD_PART + b"--b--", "multipart/form-data", id="no-content-type"),
        pytest.param("multipart/form-data", GOOD_PART + b"--b--", "boundary", id="no-boundary"),
        pytest.param("multipart/form-data; boundary=" + "x" * 71, b"", "boundary", id="long-boundary"),
        pytest.param(
            "multipart/form-data; boundary=b", b"preamble\r\n" + GOOD_PART + b"--b--", "start", id="preamble"
        ),
        pytest.param("multipart/form-data; boundary=b", GOOD_PART, "closing", id="unclosed"),
        pytest.param(
            "multipart/form-data; boundary=b", GOOD_PART + b"--b--\r\ntrailing", "closing", id="epilogue"
        ),
        pytest.param(
            "multipart/form-data; boundary=b", GOOD_PART + GOOD_PART + b"--b--", "more than once", id="dup"
        ),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: attachment; name="a"\r\n\r\n1\r\n--b--',
            "form-data",
            id="not-form-data",
        ),
        pytest.param(
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--",
            "name",
            id="no-name",
        ),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nMQ==\r\n--b--",
            "Content-Transfer-Encoding",
            id="base64",
        ),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\nbroken header\r\n\r\n1\r\n--b--',
            "header",
            id="bad-header-line",
        ),
    ],
)
def test_multipart_refuses_what_is_not_well_formed(
    content_type: str | None, body: bytes, problem: str
) -> None:
    with pytest.raises(MultipartError, match=problem):
        parse_form_data(content_type, body)


# -- command line ---------------------------------------------------------------------------------------
def test_the_command_line_takes_a_key_for_every_provider() -> None:
    defaults = _parse_args([])
    custom = _parse_args(["--jobs-api-key", "j", "--atlascloud-key", "a", "--allow-loopback-media"])

    assert {
        provider: getattr(defaults, f"{provider}_key") for provider in DEFAULT_API_KEYS
    } == DEFAULT_API_KEYS
    assert (custom.jobs_api_key, custom.atlascloud_key, custom.gateway_key) == ("j", "a", "sim-gateway-key")
    assert custom.allow_loopback_media is True
    assert defaults.allow_loopback_media is False
