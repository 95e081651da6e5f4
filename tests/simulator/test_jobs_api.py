"""The provider simulator speaks the jobs API dialect (docs/provider-dialects.md) over real HTTP."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.simulator import ProviderSimulator
from local.simulator.testing import LoopbackPeer, client, poll, quick_simulator, video_facts

API_KEY = "test-jobs-api-key"
MODEL = "seedance-2.0/text-to-video"
UPLOAD = "/v1/files/upload"
HEAD_KEYS = {"id", "object", "status", "model", "created", "request_id"}
REMOVE = object()


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"jobs_api": API_KEY}) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(sim.provider_base_url("jobs_api"), bearer=API_KEY) as api_client:
        yield api_client


def job(**input_changes: Any) -> dict[str, Any]:
    """A create body whose input fields are changed (or dropped, given REMOVE)."""
    job_input: dict[str, Any] = {"prompt": "A sports car in neon rain", "resolution": "480p", "duration": 4}
    job_input.update(input_changes)
    return {"model": MODEL, "input": {key: value for key, value in job_input.items() if value is not REMOVE}}


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["id"]
    return job_id


def finished(api: httpx.Client, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = poll(
        lambda: api.get(f"/v1/jobs/{job_id}").json(), lambda body: body["status"] in ("succeeded", "failed")
    )
    return body


# -- create, status, callbacks --------------------------------------------------------------------------
def test_create_answers_the_job(api: httpx.Client) -> None:
    response = api.post("/v1/jobs", json=job())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == HEAD_KEYS
    assert re.fullmatch(r"job_[0-9a-f]{32}", body["id"])
    assert re.fullmatch(r"req_[0-9a-f]{32}", body["request_id"])
    assert (body["object"], body["status"], body["model"]) == ("job", "processing", MODEL)
    assert isinstance(body["created"], int)


def test_job_is_processing_then_succeeded_with_a_real_mp4(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    sim.processing_seconds = 0.3
    created = api.post("/v1/jobs", json=job(aspect_ratio="1:1")).json()

    first = api.get(f"/v1/jobs/{created['id']}").json()
    final = finished(api, created["id"])
    download = http.get(final["output"]["videos"][0]["url"])

    assert set(first) == HEAD_KEYS | {"output", "error"}
    assert {key: first[key] for key in HEAD_KEYS} == created
    assert first["output"]["status"] == "processing"
    assert first["output"]["videos"] == []
    assert first["error"] is None
    assert final["status"] == "succeeded"
    assert final["request_id"] == created["request_id"]
    assert set(final["output"]) == {"task_id", "status", "videos"}
    assert final["output"]["status"] == "succeeded"
    assert final["output"]["task_id"] == first["output"]["task_id"]
    assert final["output"]["videos"] == [
        {"url": f"{sim.base_url}/jobs_api/outputs/{created['id']}.mp4", "content_type": "video/mp4"}
    ]
    assert final["error"] is None
    facts = video_facts(download.content)
    assert facts.brand == b"ftyp"
    assert (facts.width, facts.height) == (480, 480)
    assert abs(facts.duration_seconds - 4) <= 1 / 24
    assert facts.codecs == {"h264", "aac"}


def test_failed_job_reports_an_error_object(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.fail_predictions = 1

    final = finished(api, create(api, job()))

    assert final["status"] == "failed"
    assert final["output"]["videos"] == []
    assert set(final["error"]) == {"code", "message"}
    assert final["error"]["message"]


def test_callback_posts_the_status_object_unsigned_and_is_retried(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    peer.post_statuses = [500]
    job_id = create(api, job(callback_url=f"{peer.url}/hooks/jobs?token=abc"))

    first, second = peer.wait_for(2)
    record = sim.wait_for_prediction(job_id, timeout=20)
    status = api.get(f"/v1/jobs/{job_id}").json()

    assert first.path == "/hooks/jobs?token=abc"
    assert first.body == second.body
    assert first.json() == status
    assert first.headers["content-type"] == "application/json"
    assert not [name for name in first.headers if "signature" in name or "timestamp" in name]
    assert [attempt.status_code for attempt in record.webhook_attempts] == [500, 200]


def test_failed_job_callback_says_failed(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1
    create(api, job(callback_url=f"{peer.url}/hooks"))

    (callback,) = peer.wait_for(1)

    assert callback.json()["status"] == "failed"
    assert callback.json()["error"]["message"]


def test_defaults_and_fractional_durations(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 2

    default = sim.prediction(create(api, {"model": MODEL, "input": {"prompt": "a cat"}}))
    fractional = sim.prediction(create(api, job(duration=4.5)))

    assert default is not None
    assert fractional is not None
    assert default.to_json()["clip"] == {
        "width": 1280,
        "height": 720,
        "duration_seconds": 5,
        "with_audio": True,
        "moov_first": True,
    }
    assert fractional.clip.duration_seconds == 5


def test_every_documented_input_is_accepted(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    body = job(
        first_frame_url="https://example.com/first.png",
        last_frame_url="https://example.com/last.png",
        reference_image_urls=[f"https://example.com/ref{n}.png" for n in range(9)],
        reference_video_urls=["https://example.com/ref.mp4"] * 3,
        resolution="1080p",
        duration=15,
        aspect_ratio="21:9",
        seed=12345,
        callback_url="https://example.com/webhook",
        channel="byte2.0",
    )

    record = sim.prediction(create(api, body))

    assert record is not None
    assert record.request == body
    assert (record.clip.width, record.clip.height, record.clip.duration_seconds) == (2520, 1080, 15)


def test_unknown_job_is_404(api: httpx.Client) -> None:
    response = api.get("/v1/jobs/job_nope")

    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) == {"code", "message"}


# -- auth and validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"X-API-Key": API_KEY}])
@pytest.mark.parametrize("path", ["/v1/jobs", UPLOAD])
def test_requests_without_the_bearer_key_are_401(
    sim: ProviderSimulator, http: httpx.Client, headers: dict[str, str], path: str
) -> None:
    response = http.post(f"{sim.provider_base_url('jobs_api')}{path}", json=job(), headers=headers)

    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) == {"code", "message"}
    assert sim.predictions() == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param(
            {**job(), "callback_url": "https://x.example/h"}, "callback_url", id="top-level-unknown"
        ),
        pytest.param({**job(), "model": "seedance-2.0/image-to-video"}, "model", id="model"),
        pytest.param({"input": job()["input"]}, "model", id="model-missing"),
        pytest.param({"model": MODEL}, "input", id="input-missing"),
        pytest.param({"model": MODEL, "input": "a video"}, "input", id="input-not-object"),
        pytest.param(job(generate_audio=True), "input.generate_audio", id="no-audio-switch"),
        pytest.param(
            job(reference_audio_urls=["https://e.com/a.mp3"]), "input.reference_audio_urls", id="ref-audio"
        ),
        pytest.param(job(prompt=REMOVE), "input.prompt", id="prompt-missing"),
        pytest.param(job(prompt=" "), "input.prompt", id="prompt-blank"),
        pytest.param(job(first_frame_url=5), "input.first_frame_url", id="first-frame-type"),
        pytest.param(
            job(first_frame_url="http://e.com/a.png"), "input.first_frame_url", id="first-frame-http"
        ),
        pytest.param(
            job(last_frame_url="https://localhost/a.png"), "input.last_frame_url", id="last-frame-localhost"
        ),
        pytest.param(
            job(reference_image_urls=["https://e.com/a.png"] * 10),
            "input.reference_image_urls",
            id="ten-images",
        ),
        pytest.param(
            job(reference_video_urls=["https://e.com/a.mp4"] * 4),
            "input.reference_video_urls",
            id="four-videos",
        ),
        pytest.param(
            job(reference_video_urls=["https://e.com/a.mp4", "ftp://e.com/b.mp4"]),
            "input.reference_video_urls[1]",
            id="video-ftp",
        ),
        pytest.param(job(resolution="4k"), "input.resolution", id="resolution"),
        pytest.param(job(duration=3), "input.duration", id="duration-short"),
        pytest.param(job(duration=15.5), "input.duration", id="duration-long"),
        pytest.param(job(duration="5"), "input.duration", id="duration-string"),
        pytest.param(job(duration=True), "input.duration", id="duration-bool"),
        pytest.param(job(aspect_ratio="auto"), "input.aspect_ratio", id="aspect-auto"),
        pytest.param(job(seed=1.5), "input.seed", id="seed-fraction"),
        pytest.param(job(callback_url="hooks/jobs"), "input.callback_url", id="callback-relative"),
        pytest.param(job(channel=2), "input.channel", id="channel"),
    ],
)
def test_create_refuses_with_400_naming_the_field(
    sim: ProviderSimulator, api: httpx.Client, body: dict[str, Any], named: str
) -> None:
    response = api.post("/v1/jobs", json=body)

    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert f"'{named}'" in error["message"]
    assert sim.predictions() == []


# -- uploads --------------------------------------------------------------------------------------------
def test_upload_is_stored_and_served_back_byte_for_byte(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    content = os.urandom(300_000) + b"\r\n\r\n--\r\n"

    response = api.post(
        UPLOAD,
        data={"kind": "video", "purpose": "reference"},
        files={"file": ("demo.mp4", content, "video/mp4")},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "object", "kind", "purpose", "filename", "bytes", "url"}
    assert re.fullmatch(r"file_[0-9a-f]{32}", body["id"])
    assert (body["object"], body["kind"], body["purpose"]) == ("file", "video", "reference")
    assert (body["filename"], body["bytes"]) == ("demo.mp4", len(content))
    assert body["url"] == f"{sim.base_url}/jobs_api/files/{body['id']}/demo.mp4"
    download = http.get(body["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert download.content == content
    assert http.get(body["url"].replace("demo.mp4", "other.mp4")).status_code == 404


def test_an_uploaded_file_can_be_a_reference(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    uploaded = api.post(
        UPLOAD,
        data={"kind": "image", "purpose": "reference"},
        files={"file": ("ref.png", b"\x89PNG", "image/png")},
    ).json()

    response = api.post("/v1/jobs", json=job(reference_image_urls=[uploaded["url"]]))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("data", "files", "named"),
    [
        pytest.param({"purpose": "reference"}, {"file": ("a.mp4", b"x")}, "kind", id="kind-missing"),
        pytest.param(
            {"kind": "document", "purpose": "reference"}, {"file": ("a.mp4", b"x")}, "kind", id="kind-value"
        ),
        pytest.param({"kind": "video"}, {"file": ("a.mp4", b"x")}, "purpose", id="purpose-missing"),
        pytest.param(
            {"kind": "video", "purpose": "output"}, {"file": ("a.mp4", b"x")}, "purpose", id="purpose-value"
        ),
        pytest.param(
            {"kind": "video", "purpose": "reference"}, {"file": ("a.mp4", b"")}, "file", id="file-empty"
        ),
        pytest.param(
            {"purpose": "reference"},
            {"kind": ("kind.txt", b"video"), "file": ("a.mp4", b"x")},
            "kind",
            id="kind-file",
        ),
        pytest.param(
            {"kind": "video", "purpose": "reference", "channel": "x"},
            {"file": ("a.mp4", b"x")},
            "channel",
            id="extra",
        ),
    ],
)
def test_upload_refuses_bad_forms_with_400_naming_the_part(
    sim: ProviderSimulator, api: httpx.Client, data: dict[str, str], files: dict[str, Any], named: str
) -> None:
    response = api.post(UPLOAD, data=data, files=files)

    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"code", "message"}
    assert f"'{named}'" in response.json()["error"]["message"]
    assert sim.uploads() == []


def test_upload_without_a_file_part_is_400(sim: ProviderSimulator, api: httpx.Client) -> None:
    form = (
        b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\nvideo\r\n'
        b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nreference\r\n--b--\r\n'
    )

    response = api.post(UPLOAD, content=form, headers={"Content-Type": "multipart/form-data; boundary=b"})

    assert response.status_code == 400
    assert "'file'" in response.json()["error"]["message"]
    assert sim.uploads() == []


def test_upload_refuses_a_body_that_is_not_multipart(api: httpx.Client) -> None:
    response = api.post(UPLOAD, data={"kind": "video", "purpose": "reference"})

    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"]["message"]
