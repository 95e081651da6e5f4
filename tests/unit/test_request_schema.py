"""The published JobRequest schema says exactly what the intake accepts: a request the schema allows
is one the model and the capability checks accept, and the other way round."""

import random
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from videojobs.capabilities import check_request
from videojobs.errors import RequestRejected
from videojobs.models import MEDIA_URL_PATTERN, NOTIFY_URL_PATTERN, PROMPT_PATTERN, JobRequest
from videojobs.providers import UNITS

SCHEMA = Draft202012Validator(JobRequest.model_json_schema())
IMAGE = "https://cdn.example.com/a.png"
VIDEO = "s3://inputs/clip.mp4"
AUDIO = "https://cdn.example.com/a.mp3"


def accepted_by_the_intake(request: dict[str, Any]) -> bool:
    try:
        check_request(JobRequest.model_validate(request))
    except (ValidationError, RequestRejected):
        return False
    return True


def random_request(rng: random.Random) -> dict[str, Any]:
    request: dict[str, Any] = {
        "provider": rng.choice(list(UNITS)),
        "prompt": "a lighthouse at dusk",
    }
    choices: dict[str, list[Any]] = {
        "tier": ["standard", "fast", "mini", None],
        "resolution": ["480p", "720p", "1080p", "4k"],
        "duration": [None, 4, 5, 15],
        "aspect_ratio": [None, "auto", "16:9", "21:9", "9:16"],
        "generate_audio": [True, False],
        "first_frame_url": [None, IMAGE],
        "last_frame_url": [None, IMAGE],
        "reference_image_urls": [[], [IMAGE], [IMAGE] * 6, [IMAGE] * 7, [IMAGE] * 8, [IMAGE] * 9],
        "reference_video_urls": [[], [VIDEO], [VIDEO] * 2, [VIDEO] * 3],
        "reference_audio_urls": [[], [AUDIO], [AUDIO] * 2, [AUDIO] * 3],
        "operation": [None, "reference_to_video", "edit_video", "extend_video", "first_last_frame"],
        "seed": [None, 7],
        "watermark": [None, False],
        "camera_fixed": [None, True],
        "return_last_frame": [None, True],
        "end_user_id": [None, "user-1"],
    }
    for name, values in choices.items():
        if rng.random() < 0.5:  # absent half the time: absent and null both mean "not given"
            request[name] = rng.choice(values)
    return request


def test_the_schema_and_the_intake_agree_on_thousands_of_requests() -> None:
    rng = random.Random(20261130)
    outcomes = {True: 0, False: 0}
    for _ in range(4000):
        request = random_request(rng)
        by_schema = SCHEMA.is_valid(request)
        assert by_schema == accepted_by_the_intake(request), request
        outcomes[by_schema] += 1
    # Both answers were exercised, many times.
    assert min(outcomes.values()) > 250, outcomes


@pytest.mark.parametrize(
    "request_body",
    [
        {"provider": "gateway", "prompt": "p", "tier": "fast", "resolution": "4k"},
        {"provider": "eachlabs", "prompt": "p", "watermark": True},
        {"provider": "jobs_api", "prompt": "p", "generate_audio": False},
        {"provider": "atlascloud", "prompt": "p", "last_frame_url": IMAGE},
        {"provider": "atlascloud", "prompt": "p", "first_frame_url": IMAGE, "reference_image_urls": [IMAGE]},
        {"provider": "gateway", "prompt": "p", "operation": "extend_video"},
        {"provider": "eachlabs", "prompt": "p", "operation": "first_last_frame"},
        {"provider": "gateway", "prompt": "p", "duration": 4},
        # fal: at most 12 media files in all.
        {
            "provider": "fal",
            "prompt": "p",
            "reference_image_urls": [IMAGE] * 9,
            "reference_video_urls": [VIDEO] * 3,
            "reference_audio_urls": [AUDIO],
        },
    ],
)
def test_what_a_provider_cannot_serve_is_outside_the_schema(request_body: dict[str, Any]) -> None:
    assert not accepted_by_the_intake(request_body)
    assert not SCHEMA.is_valid(request_body)


@pytest.mark.parametrize(
    ("images", "videos", "audios"), [(9, 3, 0), (9, 2, 1), (6, 3, 3), (7, 2, 3), (9, 0, 3), (1, 0, 0)]
)
def test_fal_references_up_to_twelve_files_in_all_are_inside_the_schema(
    images: int, videos: int, audios: int
) -> None:
    request = {
        "provider": "fal",
        "prompt": "p",
        "reference_image_urls": [IMAGE] * images,
        "reference_video_urls": [VIDEO] * videos,
        "reference_audio_urls": [AUDIO] * audios,
    }

    assert accepted_by_the_intake(request)
    assert SCHEMA.is_valid(request)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/a.png",
        "HTTPS://cdn.example.com/a.png",
        "https://x",
        "s3://bucket/key",
        "s3://b/k/with/slashes",
        "http://cdn.example.com/a.png",
        "https:///a.png",
        "https://",
        "s3://bucket",
        "s3://bucket/",
        "s3:///key",
        "S3://bucket/key",
        "ftp://host/a",
        "cdn.example.com/a.png",
        "",
    ],
)
def test_the_media_and_notify_url_patterns_say_what_the_validators_check(url: str) -> None:
    base = {"provider": "atlascloud", "prompt": "p"}
    media_ok = accepted_by_the_intake({**base, "first_frame_url": url})
    assert (re.search(MEDIA_URL_PATTERN, url) is not None) == media_ok
    notify_ok = accepted_by_the_intake({**base, "notify_url": url})
    assert (re.search(NOTIFY_URL_PATTERN, url) is not None) == notify_ok


def test_the_prompt_pattern_calls_blank_exactly_what_str_strip_strips() -> None:
    for code_point in range(0x3100):  # every whitespace character str.isspace knows is below U+3100
        character = chr(code_point)
        assert (re.fullmatch(PROMPT_PATTERN, character) is None) == character.isspace(), hex(code_point)
