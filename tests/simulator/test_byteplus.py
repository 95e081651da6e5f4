"""The provider simulator speaks BytePlus ModelArk's video generation API (docs/provider-dialects.md,
"BytePlus ModelArk"; docs.byteplus.com/en/docs/ModelArk/1520757) over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.simulator import JobStatus, ProviderSimulator
from local.simulator.testing import LoopbackPeer, client, poll, quick_simulator, video_facts

API_KEY = "test-ark-key"
TASKS = "/api/v3/contents/generations/tasks"
STANDARD = "dreamina-seedance-2-0-260128"
FAST = "dreamina-seedance-2-0-fast-260128"
MINI = "dreamina-seedance-2-0-mini-260615"
TASK_KEYS = {
    "id",
    "model",
    "status",
    "error",
    "created_at",
    "updated_at",
    "seed",
    "resolution",
    "ratio",
    "duration",
    "framespersecond",
    "generate_audio",
    "service_tier",
    "execution_expires_after",
}
REMOVE = object()


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"byteplus": API_KEY}) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(f"{sim.provider_base_url('byteplus')}/api/v3", bearer=API_KEY) as api_client:
        yield api_client


def text(prompt: str = "A sports car in neon rain") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str, role: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    return item if role is None else {**item, "role": role}


def video(url: str = "https://example.com/ref.mp4") -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio(url: str = "https://example.com/ref.mp3") -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def task(**changes: Any) -> dict[str, Any]:
    """A create body whose fields are changed (or dropped, given REMOVE)."""
    body: dict[str, Any] = {"model": FAST, "content": [text()], "resolution": "480p", "duration": 4}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not REMOVE}


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post("/contents/generations/tasks", json=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


def read(api: httpx.Client, task_id: str) -> dict[str, Any]:
    response = api.get(f"/contents/generations/tasks/{task_id}")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def finished(api: httpx.Client, task_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = poll(
        lambda: read(api, task_id), lambda body: body["status"] in ("succeeded", "failed")
    )
    return answer


def hold(http: httpx.Client, sim: ProviderSimulator, held: bool) -> None:
    http.post(f"{sim.base_url}/_sim/faults", json={"hold_in_queue": held}).raise_for_status()


# -- create, read, output -------------------------------------------------------------------------------
def test_create_answers_only_the_task_id(api: httpx.Client) -> None:
    response = api.post("/contents/generations/tasks", json=task())

    assert response.status_code == 200
    assert set(response.json()) == {"id"}
    assert re.fullmatch(r"cgt-\d{14}-[a-z0-9]{5}", response.json()["id"])


def test_a_task_runs_then_succeeds_with_a_real_mp4_and_its_usage(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    sim.processing_seconds = 0.3
    task_id = create(api, task(ratio="1:1", seed=42))

    first = read(api, task_id)
    final = finished(api, task_id)
    download = http.get(final["content"]["video_url"])

    assert set(first) == TASK_KEYS
    assert (first["id"], first["model"], first["status"], first["error"]) == (task_id, FAST, "running", None)
    assert (first["resolution"], first["ratio"], first["duration"], first["seed"]) == ("480p", "1:1", 4, 42)
    assert (first["framespersecond"], first["generate_audio"], first["service_tier"]) == (24, True, "default")
    assert first["execution_expires_after"] == 172800
    assert set(final) == TASK_KEYS | {"content", "usage"}
    assert final["status"] == "succeeded"
    assert final["content"] == {"video_url": f"{sim.base_url}/byteplus/outputs/{task_id}.mp4"}
    assert final["usage"] == {"completion_tokens": 21600, "total_tokens": 21600}  # 480×480×4×24/1024
    assert final["updated_at"] >= final["created_at"]
    facts = video_facts(download.content)
    assert (facts.brand, facts.width, facts.height) == (b"ftyp", 480, 480)
    assert abs(facts.duration_seconds - 4) <= 1 / 24
    assert facts.codecs == {"h264", "aac"}


def test_return_last_frame_adds_a_png_and_generate_audio_false_leaves_the_clip_silent(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    task_id = create(api, task(return_last_frame=True, generate_audio=False))

    final = finished(api, task_id)
    frame = http.get(final["content"]["last_frame_url"])
    clip = video_facts(http.get(final["content"]["video_url"]).content)

    assert final["content"]["last_frame_url"] == f"{sim.base_url}/byteplus/outputs/{task_id}-last.png"
    assert frame.content.startswith(b"\x89PNG")
    assert clip.codecs == {"h264"}
    assert final["generate_audio"] is False


def test_auto_duration_and_adaptive_ratio_render_five_seconds_at_16_9(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    sim.faults.stall_predictions = 2

    auto = sim.prediction(create(api, task(duration=-1, ratio="adaptive")))
    default = sim.prediction(create(api, task(duration=REMOVE, resolution=REMOVE, model=STANDARD)))

    assert auto is not None
    assert default is not None
    assert auto.to_json()["clip"] == {
        "width": 854,
        "height": 480,
        "duration_seconds": 5,
        "with_audio": True,
        "moov_first": True,
    }
    assert default.to_json()["clip"] == {
        "width": 1280,
        "height": 720,
        "duration_seconds": 5,
        "with_audio": True,
        "moov_first": True,
    }


def test_every_documented_field_and_content_item_is_accepted(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    sim.faults.stall_predictions = 3
    references = task(
        model=STANDARD,
        content=[
            text(),
            *[image(f"https://example.com/ref{n}.png", "reference_image") for n in range(9)],
            video(),
            video(),
            video(),
            audio(),
            audio(),
            audio(),
        ],
        resolution="4k",
        ratio="21:9",
        duration=15,
        seed=-1,
        watermark=True,
        generate_audio=True,
        return_last_frame=True,
        execution_expires_after=3600,
        service_tier="default",
        priority=9,
        safety_identifier="user-1",
        callback_url="https://example.com/callback?token=t",
    )
    frames = task(
        content=[
            text(),
            image("https://example.com/first.png", "first_frame"),
            image("https://example.com/last.png", "last_frame"),
        ]
    )
    lone_image = task(model=MINI, content=[image("https://example.com/first.png", None)])

    records = [sim.prediction(create(api, body)) for body in (references, frames, lone_image)]

    assert [record.request for record in records if record is not None] == [references, frames, lone_image]
    assert (records[0].clip.width, records[0].clip.height) == (5040, 2160)  # type: ignore[union-attr]


def test_an_unknown_task_is_404_in_modelark_s_error_shape(api: httpx.Client) -> None:
    response = api.get("/contents/generations/tasks/cgt-nope")

    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) == {"code", "message", "type"}
    assert response.json()["error"]["type"] == "NotFound"


def test_failed_task_reports_an_error_object(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.fail_predictions = 1

    final = finished(api, create(api, task()))

    assert final["status"] == "failed"
    assert "content" not in final
    assert set(final["error"]) == {"code", "message"}
    assert final["error"]["code"]
    assert final["error"]["message"]


# -- auth and validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"X-API-Key": API_KEY}])
def test_requests_without_the_bearer_key_are_401(
    sim: ProviderSimulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    response = http.post(f"{sim.provider_base_url('byteplus')}{TASKS}", json=task(), headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationError"
    assert sim.predictions() == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (task(prompt="x"), "prompt"),
        (task(model="seedance-2.0"), "model"),
        (task(model=FAST, resolution="1080p"), "resolution"),
        (task(model=MINI, resolution="4k"), "resolution"),
        (task(duration=3), "duration"),
        (task(duration=0), "duration"),
        (task(duration=16), "duration"),
        (task(duration="5"), "duration"),
        (task(ratio="auto"), "ratio"),
        (task(seed=2**32), "seed"),
        (task(service_tier="flex"), "service_tier"),
        (task(execution_expires_after=60), "execution_expires_after"),
        (task(generate_audio="yes"), "generate_audio"),
        (task(safety_identifier="x" * 65), "safety_identifier"),
        (task(callback_url="not a url"), "callback_url"),
        (task(content=[]), "content"),
        (task(content=REMOVE), "content"),
        (task(content=[text(), text()]), "content"),
        (task(content=[{"type": "image", "image_url": {"url": "https://e.com/a.png"}}]), "content[0].type"),
        (task(content=[text(), {**video(), "role": REMOVE}]), "content[1].role"),
        (
            task(content=[text(), {"type": "video_url", "video_url": {"url": "https://e.com/v.mp4"}}]),
            "content[1].role",
        ),
        (task(content=[text(), image("https://e.com/a.png", "reference_video")]), "content[1].role"),
        (task(content=[text(), {"type": "image_url", "role": "first_frame"}]), "content[1].image_url"),
        (task(content=[text(), image("https://e.com/a.png", "last_frame")]), "content"),
        (task(content=[text(), image("https://e.com/a.png", "first_frame"), video()]), "content"),
        (
            task(content=[text(), *[image(f"https://e.com/{n}.png", "reference_image") for n in range(10)]]),
            "content",
        ),
        (task(content=[text(), video(), video(), video(), video()]), "content"),
        (task(content=[text(), audio()]), "content"),
    ],
)
def test_an_invalid_create_is_400_naming_the_field(
    sim: ProviderSimulator, api: httpx.Client, body: dict[str, Any], named: str
) -> None:
    body = {key: value for key, value in body.items() if value is not REMOVE}
    if isinstance(body.get("content"), list):
        body["content"] = [
            {key: value for key, value in item.items() if value is not REMOVE} for item in body["content"]
        ]

    response = api.post("/contents/generations/tasks", json=body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("InvalidParameter", "BadRequest")
    assert f"'{named}'" in error["message"]
    assert sim.predictions() == []


def test_other_methods_and_paths_are_refused(api: httpx.Client) -> None:
    assert api.put("/contents/generations/tasks", json=task()).status_code == 405
    assert api.post("/contents/generations/tasks/cgt-1", json=task()).status_code == 404
    assert api.get("/videos/generations").status_code == 404


# -- callbacks: every status change, unsigned --------------------------------------------------------------
def test_a_callback_goes_out_on_every_status_change_with_the_task_object_unsigned(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    hold(http, sim, True)
    task_id = create(api, task(callback_url=f"{peer.url}/hooks/byteplus?token=abc"))
    (queued,) = peer.wait_for(1)
    queued_read = read(api, task_id)
    hold(http, sim, False)

    calls = peer.wait_for(3)
    record = sim.wait_for_prediction(task_id)
    final = read(api, task_id)

    assert [call.json()["status"] for call in calls] == ["queued", "running", "succeeded"]
    assert queued.json() == queued_read
    assert calls[2].json() == final
    assert {call.path for call in calls} == {"/hooks/byteplus?token=abc"}
    for call in calls:
        assert call.headers["content-type"] == "application/json"
        assert not [name for name in call.headers if "signature" in name or "timestamp" in name]
    assert [sent.status for sent in record.status_webhooks] == [JobStatus.QUEUED, JobStatus.PROCESSING]


def test_a_failed_task_calls_back_failed_and_the_terminal_callback_is_retried(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1
    peer.post_statuses = [200, 500]
    task_id = create(api, task(callback_url=f"{peer.url}/hooks"))

    calls = peer.wait_for(3)
    record = sim.wait_for_prediction(task_id)

    assert [call.json()["status"] for call in calls] == ["running", "failed", "failed"]
    assert calls[2].json()["error"]["message"]
    assert [attempt.status_code for attempt in record.webhook_attempts] == [500, 200]


def test_no_callback_url_means_no_callbacks(sim: ProviderSimulator, api: httpx.Client) -> None:
    record = sim.wait_for_prediction(create(api, task()))

    assert record.webhook_url is None
    assert record.status_webhooks == []


# -- cancel and delete -----------------------------------------------------------------------------------
def test_delete_cancels_a_queued_task_which_then_never_renders_nor_calls_back_cancelled(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    hold(http, sim, True)
    task_id = create(api, task(callback_url=f"{peer.url}/hooks"))
    peer.wait_for(1)

    deleted = api.delete(f"/contents/generations/tasks/{task_id}")
    hold(http, sim, False)
    record = sim.wait_for_prediction(task_id)

    assert (deleted.status_code, deleted.json()) == (200, {})
    assert record.status is JobStatus.CANCELLED
    assert record.output_url is None
    assert read(api, task_id)["status"] == "cancelled"
    assert [call.json()["status"] for call in peer.calls("POST")] == ["queued"]
    again = api.delete(f"/contents/generations/tasks/{task_id}")
    assert (again.status_code, again.json()["error"]["code"]) == (400, "InvalidParameter")
    assert sim.usage()["byteplus"][API_KEY]["active"] == 0


def test_delete_refuses_a_running_task_and_changes_nothing(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    task_id = create(api, task())

    refused = api.delete(f"/contents/generations/tasks/{task_id}")

    assert refused.status_code == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["type"]) == (
        "InvalidParameter",
        "BadRequest",
    )
    assert "running" in refused.json()["error"]["message"]
    assert read(api, task_id)["status"] == "running"


@pytest.mark.parametrize("fail", [False, True])
def test_delete_of_a_finished_task_deletes_its_record(
    sim: ProviderSimulator, api: httpx.Client, fail: bool
) -> None:
    sim.faults.fail_predictions = int(fail)
    task_id = create(api, task())
    finished(api, task_id)

    deleted = api.delete(f"/contents/generations/tasks/{task_id}")
    after = api.get(f"/contents/generations/tasks/{task_id}")
    again = api.delete(f"/contents/generations/tasks/{task_id}")

    assert (deleted.status_code, deleted.json()) == (200, {})
    assert (after.status_code, again.status_code) == (404, 404)


def test_delete_of_an_unknown_task_is_404(api: httpx.Client) -> None:
    assert api.delete("/contents/generations/tasks/cgt-nope").status_code == 404


def test_the_pipeline_is_pointed_at_the_api_prefix(sim: ProviderSimulator) -> None:
    assert sim.pipeline_settings("byteplus") == {
        "BYTEPLUS_BASE_URL": f"{sim.provider_base_url('byteplus')}/api/v3"
    }


def test_the_default_key_is_sim_byteplus_key(clip_cache_dir: Path) -> None:
    with quick_simulator(clip_cache_dir) as sim:
        assert sim.api_keys["byteplus"] == ["sim-byteplus-key"]
