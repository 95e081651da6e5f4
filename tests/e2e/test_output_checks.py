"""What the transfer read from the MP4 the simulator rendered, through the local stack: the metadata on
the job and its event, the checks against the request for each output fault the simulator serves, and
a file cut short behind a right Content-Length that never becomes a succeeded job."""

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.simulator.media import top_level_boxes
from local.stack import LocalStack
from tests.e2e.test_pipeline import downloads_of, events_for, object_keys, prediction, submit

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]


def stored_bytes(stack: LocalStack, video: dict[str, Any]) -> bytes:
    body: bytes = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    return body


def box_order(data: bytes) -> list[bytes]:
    return [box.kind for box in top_level_boxes(io.BytesIO(data))]


def test_a_whole_video_has_its_metadata_on_the_job_and_its_event_and_no_checks(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(submit(api, resolution="720p", duration=5, aspect_ratio="16:9")["job_id"])

    assert job["status"] == "succeeded", job
    clip = prediction(sim, job["provider_job_id"])["clip"]
    assert job["video"]["metadata"] == {
        "duration_seconds": 5.0,
        "width": clip["width"],
        "height": clip["height"],
        "fps": 24.0,
        "video_codec": "avc1",
        "audio_codec": "mp4a",
        "has_audio": True,
    }
    assert (clip["width"], clip["height"]) == (1280, 720)
    assert (job["video"]["checks"], job["warnings"]) == ([], [])
    events = events_for(stack, job["job_id"])
    assert [event["detail-type"] for event in events] == ["Video Job Succeeded"]
    assert events[0]["detail"]["video"]["metadata"] == job["video"]["metadata"]
    assert events[0]["detail"]["warnings"] == []


def test_a_video_at_the_wrong_resolution_is_flagged_and_still_succeeds(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"wrong_resolution_outputs": 1}).raise_for_status()

    job = wait_for_job(submit(api, resolution="720p", aspect_ratio="16:9")["job_id"])

    assert job["status"] == "succeeded", job
    assert (job["video"]["metadata"]["width"], job["video"]["metadata"]["height"]) == (854, 480)
    assert job["video"]["checks"] == [{"check": "resolution", "expected": "720p", "actual": "854x480"}]
    assert job["warnings"] == ["resolution: asked for 720p, received 854x480"]
    events = events_for(stack, job["job_id"])
    assert events[0]["detail"]["warnings"] == job["warnings"]
    assert events[0]["detail"]["video"]["checks"] == job["video"]["checks"]


def test_a_video_without_the_audio_asked_for_is_flagged(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"silent_outputs": 1}).raise_for_status()

    job = wait_for_job(submit(api, generate_audio=True)["job_id"])

    assert job["status"] == "succeeded", job
    metadata = job["video"]["metadata"]
    assert (metadata["has_audio"], metadata["audio_codec"]) == (False, None)
    assert job["video"]["checks"] == [
        {"check": "audio", "expected": "an audio track", "actual": "no audio track"}
    ]
    assert prediction(sim, job["provider_job_id"])["clip"]["with_audio"] is False


def test_a_video_with_moov_after_mdat_is_read_the_same(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"moov_last_outputs": 1}).raise_for_status()

    job = wait_for_job(submit(api, duration=4)["job_id"])

    assert job["status"] == "succeeded", job
    order = box_order(stored_bytes(stack, job["video"]))
    assert order.index(b"mdat") < order.index(b"moov")
    assert job["video"]["metadata"]["duration_seconds"] == 4.0
    assert (job["video"]["metadata"]["width"], job["video"]["metadata"]["height"]) == (854, 480)
    assert job["video"]["checks"] == []


def test_a_cut_mdat_behind_a_right_length_is_retried_and_the_retry_succeeds(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"short_mdat_downloads": 1}).raise_for_status()

    job = wait_for_job(submit(api)["job_id"])

    assert job["status"] == "succeeded", job
    record = prediction(sim, job["provider_job_id"])
    assert job["video"]["sha256"] == record["output_sha256"]
    assert job["video"]["size_bytes"] == record["output_size"]
    assert downloads_of(sim, job["provider_job_id"]) == 2


def test_a_cut_mdat_on_every_try_never_becomes_a_succeeded_job(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"short_mdat_downloads": 3}).raise_for_status()

    job = wait_for_job(submit(api)["job_id"], timeout=90)

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "output_rejected"
    assert job["error"]["message"].startswith(
        "the provider's output is broken: the file ends inside its mdat box"
    )
    assert job["video"] is None
    assert downloads_of(sim, job["provider_job_id"]) == 3
    assert object_keys(stack, f"videos/{job['job_id']}") == []
    uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.ref("VideosBucket"))
    assert uploads.get("Uploads", []) == []
    assert [event["detail-type"] for event in events_for(stack, job["job_id"])] == ["Video Job Failed"]


def test_with_output_mismatch_fail_a_wrong_video_fails_the_job_and_stays_in_s3(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    with stack.environment_overridden(OUTPUT_MISMATCH="fail"):
        sim.post("/faults", json={"wrong_resolution_outputs": 1}).raise_for_status()

        job = wait_for_job(submit(api, resolution="480p", aspect_ratio="16:9")["job_id"])

    assert job["status"] == "failed", job
    key = f"videos/{job['job_id']}.mp4"
    assert job["error"]["code"] == "output_mismatch"
    assert job["error"]["message"] == (
        "the video differs from the request (resolution: asked for 480p, received 1280x720);"
        f" it is kept at s3://{stack.ref('VideosBucket')}/{key}"
    )
    assert object_keys(stack, key) == [key]
    assert job["video"]["checks"] == [{"check": "resolution", "expected": "480p", "actual": "1280x720"}]
    events = events_for(stack, job["job_id"])
    assert [event["detail-type"] for event in events] == ["Video Job Failed"]
    assert events[0]["detail"]["video"]["metadata"]["width"] == 1280


def test_the_last_frame_size_is_recorded(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(
        submit(api, provider="byteplus", resolution="480p", aspect_ratio="16:9", return_last_frame=True)[
            "job_id"
        ]
    )

    assert job["status"] == "succeeded", job
    assert job["last_frame"]["metadata"] == {"width": 854, "height": 480}
    assert job["video"]["metadata"]["width"] == 854
