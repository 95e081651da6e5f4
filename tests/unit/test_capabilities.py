"""The capability table decides, before anything is written, what each provider can serve."""

from typing import Any

import pytest

from videojobs.catalog.capabilities import CAPABILITIES, check_request, effective_tier
from videojobs.errors import RequestRejected
from videojobs.models import JobRequest

IMAGE = "https://cdn.example.com/a.png"
VIDEO = "https://cdn.example.com/a.mp4"
AUDIO = "https://cdn.example.com/a.mp3"


def gateway(**fields: Any) -> JobRequest:
    return JobRequest.model_validate({"provider": "gateway", "prompt": "p", **fields})


def rejected_field(request: JobRequest) -> tuple[str, str]:
    with pytest.raises(RequestRejected) as rejected:
        check_request(request)
    return rejected.value.field, rejected.value.reason


@pytest.mark.parametrize(
    "fields",
    [
        {"operation": "first_last_frame", "first_frame_url": IMAGE, "last_frame_url": IMAGE},
        {"operation": "reference_to_video", "reference_image_urls": [IMAGE], "reference_audio_urls": [AUDIO]},
        {"operation": "reference_to_video", "reference_video_urls": [VIDEO, VIDEO]},
        {"operation": "edit_video", "reference_video_urls": [VIDEO], "reference_image_urls": [IMAGE]},
        {"operation": "extend_video", "reference_video_urls": [VIDEO]},
        {
            "tier": "mini",
            "resolution": "480p",
            "duration": 5,
            "aspect_ratio": "9:16",
            "return_last_frame": True,
        },
        {"tier": "standard", "resolution": "4k", "watermark": False, "camera_fixed": True, "seed": 7},
    ],
)
def test_the_gateway_accepts_each_operation_with_its_own_inputs(fields: dict[str, Any]) -> None:
    check_request(gateway(**fields))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"operation": "edit_video", "first_frame_url": IMAGE}, "edit_video cannot take first_frame_url"),
        ({"operation": "edit_video"}, "edit_video takes exactly 1 reference_video_urls"),
        ({"operation": "extend_video", "reference_video_urls": [VIDEO, VIDEO]}, "takes exactly 1"),
        (
            {"operation": "extend_video", "reference_video_urls": [VIDEO], "reference_image_urls": [IMAGE]},
            "extend_video cannot take reference_image_urls",
        ),
        ({"operation": "first_last_frame", "first_frame_url": IMAGE}, "needs last_frame_url"),
        ({"operation": "reference_to_video"}, "needs reference_image_urls or reference_video_urls"),
        (
            {"operation": "reference_to_video", "first_frame_url": IMAGE, "reference_video_urls": [VIDEO]},
            "reference_to_video cannot take first_frame_url",
        ),
    ],
)
def test_an_operation_mixed_with_inputs_it_does_not_take_is_refused(
    fields: dict[str, Any], reason: str
) -> None:
    field, message = rejected_field(gateway(**fields))

    assert field == "operation"
    assert reason in message


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        (
            {"provider": "eachlabs", "resolution": "1080p"},
            "resolution",
            "eachlabs (fast) supports 480p, 720p",
        ),
        ({"provider": "eachlabs", "tier": "standard"}, "tier", "eachlabs offers fast"),
        (
            {"provider": "gateway", "tier": "fast", "resolution": "4k"},
            "resolution",
            "gateway (fast) supports",
        ),
        ({"provider": "gateway", "duration": 4}, "duration", "gateway supports 5 to 15 seconds"),
        ({"provider": "gateway", "aspect_ratio": "auto"}, "aspect_ratio", "16:9, 1:1, 9:16"),
        ({"provider": "gateway", "end_user_id": "u1"}, "end_user_id", "no such parameter"),
        ({"provider": "atlascloud", "watermark": True}, "watermark", "no such parameter"),
        ({"provider": "atlascloud", "operation": "edit_video"}, "operation", "no compat operations"),
        ({"provider": "jobs_api", "generate_audio": False}, "generate_audio", "always generated"),
        ({"provider": "jobs_api", "aspect_ratio": "auto"}, "aspect_ratio", "jobs_api supports"),
        ({"provider": "eachlabs", "reference_video_urls": [VIDEO]}, "reference_video_urls", "accepts none"),
        ({"provider": "eachlabs", "last_frame_url": IMAGE}, "last_frame_url", "needs first_frame_url"),
        (
            {"provider": "atlascloud", "first_frame_url": IMAGE, "reference_image_urls": [IMAGE]},
            "reference_image_urls",
            "atlascloud takes first_frame_url or references, not both",
        ),
        (
            {"provider": "atlascloud", "first_frame_url": IMAGE, "reference_audio_urls": [AUDIO]},
            "reference_audio_urls",
            "not both",
        ),
        (
            {"provider": "gateway", "reference_audio_urls": [AUDIO]},
            "reference_audio_urls",
            "needs reference_image_urls or reference_video_urls too",
        ),
    ],
)
def test_a_request_beyond_a_providers_limits_names_the_field_and_the_limit(
    request_fields: dict[str, Any], field: str, reason: str
) -> None:
    request = JobRequest.model_validate({"prompt": "p", **request_fields})
    named, message = rejected_field(request)

    assert named == field
    assert reason in message


def test_the_jobs_api_takes_frames_and_references_together_as_its_document_shows() -> None:
    request = JobRequest.model_validate(
        {
            "provider": "jobs_api",
            "prompt": "p",
            "first_frame_url": IMAGE,
            "last_frame_url": IMAGE,
            "reference_image_urls": [IMAGE],
            "reference_video_urls": [VIDEO],
        }
    )

    check_request(request)


def test_each_provider_has_a_default_tier_that_serves_the_default_resolution() -> None:
    for name, caps in CAPABILITIES.items():
        request = JobRequest.model_validate({"provider": name, "prompt": "p"})
        assert effective_tier(request) == caps.default_tier
        check_request(request)
