"""The provider simulator speaks the gateway dialect (docs/provider-dialects.md) over real HTTP."""

from __future__ import annotations

import io
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from local.simulator import ProviderSimulator
from local.simulator.media import PNG_SIGNATURE
from local.simulator.testing import client, poll, quick_simulator, video_facts

API_KEY = "test-gateway-key"
CREATE = "/v1/video/generations"
TASK_KEYS = {"id", "task_id", "object", "model", "status", "progress"}
MODELS = {
    "seedance2.0-480p": (854, 480),
    "seedance2.0-720p": (1280, 720),
    "seedance2.0-1080p": (1920, 1080),
    "seedance2.0-4k": (3840, 2160),
    "seedance2.0-fast-480p": (854, 480),
    "seedance2.0-fast-720p": (1280, 720),
    "seedance2.0-mini-480p": (854, 480),
    "seedance2.0-mini-720p": (1280, 720),
}
REMOVE = object()


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"gateway": API_KEY}) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(sim.provider_base_url("gateway"), bearer=API_KEY) as api_client:
        yield api_client


def task(**changes: Any) -> dict[str, Any]:
    """A text-to-video body with fields changed (or dropped, given REMOVE)."""
    body: dict[str, Any] = {"model": "seedance2.0-480p", "prompt": "A product shot", "duration": 5}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not REMOVE}


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post(CREATE, json=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def read(api: httpx.Client, task_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/videos/{task_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def settled(api: httpx.Client, task_id: str) -> dict[str, Any]:
    return poll(lambda: read(api, task_id), lambda body: body["status"] in ("completed", "failed"))


def last_decoded_frame(mp4: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(mp4), mode="r") as container:
        frames = list(container.decode(video=0))
    return frames[-1]


def packed_rgb(frame: av.VideoFrame) -> bytes:
    """The frame's rgb24 pixels without the planes' row padding."""
    rgb = frame.reformat(format="rgb24")
    plane, row = rgb.planes[0], rgb.width * 3
    data = bytes(plane)
    return b"".join(data[y * plane.line_size : y * plane.line_size + row] for y in range(rgb.height))


# -- create and progression -----------------------------------------------------------------------------
def test_create_answers_a_queued_task(api: httpx.Client) -> None:
    response = api.post(CREATE, json=task())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == TASK_KEYS | {"created_at"}
    assert re.fullmatch(r"task_[0-9a-f]{32}", body["id"])
    assert body["task_id"] == body["id"]
    assert body["object"] == "video.generation.job"
    assert body["model"] == "seedance2.0-480p"
    assert (body["status"], body["progress"]) == ("queued", 0)
    assert isinstance(body["created_at"], int)


def test_task_goes_queued_then_processing_with_rising_progress_then_completed(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    sim.processing_seconds = 0.6
    task_id = create(api, task(aspect_ratio="9:16"))

    seen = [read(api, task_id)]
    while seen[-1]["status"] != "completed":
        assert len(seen) < 1000, "the task never completed"
        time.sleep(0.02)
        seen.append(read(api, task_id))

    statuses = [body["status"] for body in seen]
    processing = [body["progress"] for body in seen if body["status"] == "processing"]
    assert statuses[0] == "queued"
    assert seen[0]["progress"] == 0
    assert "processing" in statuses
    assert statuses == sorted(statuses, key=["queued", "processing", "completed"].index)
    below_cap = [progress for progress in processing if progress < 99]
    assert below_cap == sorted(set(below_cap)), "progress must rise on every read until it reaches 99"
    assert processing == sorted(processing)
    assert len(below_cap) >= 2
    assert all(0 < progress < 100 for progress in processing)
    final = seen[-1]
    assert set(final) == TASK_KEYS | {"video_url"}
    assert final["progress"] == 100
    assert final["video_url"] == f"{sim.base_url}/gateway/outputs/{task_id}.mp4"
    facts = video_facts(http.get(final["video_url"]).content)
    assert facts.brand == b"ftyp"
    assert (facts.width, facts.height) == (480, 854)
    assert abs(facts.duration_seconds - 5) <= 1 / 24


def test_a_finished_task_still_answers_queued_to_its_first_read(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    task_id = create(api, task())
    sim.wait_for_prediction(task_id, timeout=20)

    first = read(api, task_id)
    second = read(api, task_id)

    assert (first["status"], first["progress"]) == ("queued", 0)
    assert "video_url" not in first
    assert (second["status"], second["progress"]) == ("completed", 100)


def test_failed_task_reports_an_error_object(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.fail_predictions = 1

    final = settled(api, create(api, task()))

    assert set(final) == TASK_KEYS | {"error"}
    assert final["status"] == "failed"
    assert set(final["error"]) == {"message", "code"}
    assert final["error"]["message"]


def test_stalled_task_stays_processing_below_100(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    task_id = create(api, task())

    reads = [read(api, task_id) for _ in range(5)]

    assert [body["status"] for body in reads] == ["queued"] + ["processing"] * 4
    assert all(body["progress"] < 100 for body in reads)


@pytest.mark.parametrize("return_last_frame", [True, "true", "TRUE"])
def test_last_frame_url_points_at_a_real_png_of_the_last_frame(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, return_last_frame: object
) -> None:
    body = task(
        aspect_ratio="1:1", extra_body={"return_last_frame": return_last_frame, "generate_audio": False}
    )
    task_id = create(api, body)

    final = settled(api, task_id)
    png = http.get(final["last_frame_url"])
    mp4 = http.get(final["video_url"]).content

    assert set(final) == TASK_KEYS | {"video_url", "last_frame_url"}
    assert final["last_frame_url"] == f"{sim.base_url}/gateway/outputs/{task_id}-last.png"
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG_SIGNATURE)
    assert struct.unpack(">II", png.content[16:24]) == (480, 480)
    with av.open(io.BytesIO(png.content), mode="r") as container:
        decoded = next(container.decode(video=0))
    expected = last_decoded_frame(mp4)
    assert (decoded.width, decoded.height) == (expected.width, expected.height)
    assert packed_rgb(decoded) == packed_rgb(expected)


@pytest.mark.parametrize("extra_body", [None, {"return_last_frame": False}, {"return_last_frame": "false"}])
def test_no_last_frame_unless_asked(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, extra_body: dict[str, Any] | None
) -> None:
    task_id = create(api, task(extra_body=extra_body) if extra_body else task())

    final = settled(api, task_id)

    assert "last_frame_url" not in final
    assert http.get(f"{sim.base_url}/gateway/outputs/{task_id}-last.png").status_code == 404


def test_every_model_is_accepted_with_its_resolution(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = len(MODELS)  # only the clip's shape matters: no 4k render

    sizes = {model: sim.prediction(create(api, task(model=model))) for model in MODELS}

    assert {model: (job.clip.width, job.clip.height) for model, job in sizes.items() if job} == MODELS


@pytest.mark.parametrize(("duration", "seconds"), [(None, 5), ("8", 8), (15, 15), ("5", 5)])
def test_duration_is_an_integer_or_a_string_of_digits(
    sim: ProviderSimulator, api: httpx.Client, duration: object, seconds: int
) -> None:
    sim.faults.stall_predictions = 1

    job = sim.prediction(create(api, task(duration=REMOVE if duration is None else duration)))

    assert job is not None
    assert job.clip.duration_seconds == seconds


@pytest.mark.parametrize(
    "media",
    [
        pytest.param(
            {"image": "https://c.example/a.png", "last_image": "https://c.example/b.png"}, id="first-last"
        ),
        pytest.param(
            {
                "images": [f"https://c.example/{n}.png" for n in range(9)],
                "videos": ["https://c.example/v.mp4"] * 3,
                "audios": ["https://c.example/a.mp3"] * 3,
            },
            id="references",
        ),
    ],
)
def test_media_inputs_without_operation_are_accepted(
    sim: ProviderSimulator, api: httpx.Client, media: dict[str, Any]
) -> None:
    sim.faults.stall_predictions = 1

    response = api.post(CREATE, json=task(**media))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("operation", "media"),
    [
        ("first_last_frame", {"image": "https://c.example/a.png", "last_image": "https://c.example/b.png"}),
        ("reference_to_video", {"images": ["https://c.example/a.png"]}),
        (
            "reference_to_video",
            {"videos": ["https://c.example/v.mp4"], "audios": ["https://c.example/a.mp3"]},
        ),
        ("edit_video", {"videos": ["https://c.example/v.mp4"]}),
        ("edit_video", {"videos": ["https://c.example/v.mp4"], "images": ["https://c.example/a.png"]}),
        ("extend_video", {"videos": ["https://c.example/v.mp4"]}),
    ],
)
def test_operations_matching_their_inputs_are_accepted(
    sim: ProviderSimulator, api: httpx.Client, operation: str, media: dict[str, Any]
) -> None:
    sim.faults.stall_predictions = 1

    response = api.post(CREATE, json=task(extra_body={"operation": operation}, **media))

    assert response.status_code == 200, response.text


# -- errors ---------------------------------------------------------------------------------------------
def assert_gateway_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    assert isinstance(body["error"]["code"], str)
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": API_KEY}, {"X-API-Key": API_KEY}]
)
def test_requests_without_the_bearer_key_are_401(
    sim: ProviderSimulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    response = http.post(f"{sim.provider_base_url('gateway')}{CREATE}", json=task(), headers=headers)

    assert_gateway_error(response, 401)
    assert sim.predictions() == []


def test_the_deprecated_create_route_is_404(sim: ProviderSimulator, api: httpx.Client) -> None:
    response = api.post("/v1/videos/generations", json=task())

    error = assert_gateway_error(response, 404)
    assert "/v1/video/generations" in error["message"]
    assert sim.predictions() == []


def test_unknown_task_is_404(api: httpx.Client) -> None:
    assert_gateway_error(api.get("/v1/videos/task_nope"), 404)


def op(operation: str, **media: Any) -> dict[str, Any]:
    return task(extra_body={"operation": operation}, **media)


IMG, VID, AUD = "https://c.example/a.png", "https://c.example/v.mp4", "https://c.example/a.mp3"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param(task(webhook_url="https://x.example/h"), "webhook_url", id="webhook-url"),
        pytest.param(task(callback_url="https://x.example/h"), "callback_url", id="callback-url"),
        pytest.param(task(resolution="720p"), "resolution", id="unknown-field"),
        pytest.param(task(model="seedance2.0-fast-1080p"), "model", id="fast-1080p"),
        pytest.param(task(model="seedance2.0-mini-4k"), "model", id="mini-4k"),
        pytest.param(task(model=REMOVE), "model", id="model-missing"),
        pytest.param(task(prompt=REMOVE), "prompt", id="prompt-missing"),
        pytest.param(task(prompt=""), "prompt", id="prompt-empty"),
        pytest.param(task(duration=4), "duration", id="duration-short"),
        pytest.param(task(duration=16), "duration", id="duration-long"),
        pytest.param(task(duration="16"), "duration", id="duration-string-long"),
        pytest.param(task(duration="5.5"), "duration", id="duration-decimal-string"),
        pytest.param(task(duration="five"), "duration", id="duration-word"),
        pytest.param(task(duration=5.0), "duration", id="duration-float"),
        pytest.param(task(duration=True), "duration", id="duration-bool"),
        pytest.param(task(aspect_ratio="4:3"), "aspect_ratio", id="aspect-ratio"),
        pytest.param(task(last_image=IMG), "last_image", id="last-image-alone"),
        pytest.param(task(images=[IMG] * 10), "images", id="ten-images"),
        pytest.param(task(videos=[VID] * 4), "videos", id="four-videos"),
        pytest.param(task(audios=[AUD] * 4), "audios", id="four-audios"),
        pytest.param(task(images=[IMG, 3]), "images[1]", id="image-item"),
        pytest.param(task(image=["https://c.example/a.png"]), "image", id="image-list"),
        pytest.param(task(extra_body=[]), "extra_body", id="extra-body-list"),
        pytest.param(task(extra_body={"fps": 24}), "extra_body.fps", id="extra-body-unknown"),
        pytest.param(task(extra_body={"generate_audio": "yes"}), "extra_body.generate_audio", id="audio"),
        pytest.param(task(extra_body={"seed": "42"}), "extra_body.seed", id="seed"),
        pytest.param(task(extra_body={"watermark": "maybe"}), "extra_body.watermark", id="watermark"),
        pytest.param(task(extra_body={"camera_fixed": 1}), "extra_body.camera_fixed", id="camera-fixed"),
        pytest.param(
            task(extra_body={"return_last_frame": 1}), "extra_body.return_last_frame", id="last-frame"
        ),
        pytest.param(
            task(extra_body={"operation": "upscale"}), "extra_body.operation", id="operation-unknown"
        ),
        pytest.param(op("first_last_frame", image=IMG), "extra_body.operation", id="flf-no-last"),
        pytest.param(
            op("first_last_frame", image=IMG, last_image=IMG, images=[IMG]),
            "extra_body.operation",
            id="flf-extra",
        ),
        pytest.param(op("reference_to_video"), "extra_body.operation", id="r2v-nothing"),
        pytest.param(op("reference_to_video", audios=[AUD]), "extra_body.operation", id="r2v-audio-only"),
        pytest.param(
            op("reference_to_video", image=IMG, images=[IMG]), "extra_body.operation", id="r2v-image"
        ),
        pytest.param(op("edit_video", videos=[VID, VID]), "extra_body.operation", id="edit-two-videos"),
        pytest.param(op("edit_video", images=[IMG]), "extra_body.operation", id="edit-no-video"),
        pytest.param(op("edit_video", videos=[VID], audios=[AUD]), "extra_body.operation", id="edit-audio"),
        pytest.param(
            op("extend_video", videos=[VID], images=[IMG]), "extra_body.operation", id="extend-images"
        ),
        pytest.param(op("extend_video", image=IMG), "extra_body.operation", id="extend-no-video"),
        pytest.param(task(image="http://c.example/a.png"), "image", id="image-plain-http"),
        pytest.param(task(videos=["https://192.168.1.2/v.mp4"]), "videos[0]", id="video-private"),
        pytest.param(task(audios=["http://127.0.0.1:9/a.mp3"]), "audios[0]", id="audio-loopback"),
    ],
)
def test_create_refuses_with_400_naming_the_field(
    sim: ProviderSimulator, api: httpx.Client, body: dict[str, Any], named: str
) -> None:
    response = api.post(CREATE, json=body)

    error = assert_gateway_error(response, 400)
    assert f"'{named}'" in error["message"]
    assert sim.predictions() == []


def test_the_gateway_never_calls_back(sim: ProviderSimulator, api: httpx.Client) -> None:
    task_id = create(api, task())
    job = sim.wait_for_prediction(task_id, timeout=20)

    assert job.webhook_url is None
    assert job.webhook_state.value == "none"
    assert job.webhook_attempts == []
