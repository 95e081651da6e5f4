"""The published JobRequest schema says exactly what the intake accepts: a request the schema allows
is one the model and the capability checks accept, and the other way round."""

import random
import re
import sys
import unicodedata
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from videojobs.catalog.capabilities import check_request
from videojobs.catalog.request_schema import PublishedJobRequest
from videojobs.errors import RequestRejected
from videojobs.models import MEDIA_URL_PATTERN, NOTIFY_URL_PATTERN, PROMPT_PATTERN, JobRequest
from videojobs.providers import UNITS

SCHEMA = Draft202012Validator(PublishedJobRequest.model_json_schema())
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
        "provider": rng.choice([*UNITS, "auto", "auto"]),
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
        "notify_url": [None, "https://hooks.example.com/n"],
        "providers": [None, ["fal"], ["eachlabs", "byteplus"], ["gateway", "replicate", "fal"], ["jobs_api"]],
    }
    # Now and then, types the schema refuses that pydantic's lax mode would convert, and text it refuses.
    wrong_types: dict[str, list[Any]] = {
        "prompt": ["\u200b\u200e", "a\u0000b", "two\nlines"],
        "notify_url": ["https://hooks.example.com/a\r\nX: 1"],
        "duration": ["5", 5.0],
        "seed": ["7", 7.0],
        "generate_audio": [1, "true"],
        "watermark": [0.0, "false"],
        "providers": [["fal", "fal"], [], ["runway"], "fal"],
    }
    for name, values in choices.items():
        if rng.random() < 0.5:  # absent half the time: absent and null both mean "not given"
            request[name] = rng.choice(values)
    for name, values in wrong_types.items():
        if rng.random() < 0.05:
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
        "https://example.com/a\r\nX-Injected: 1",
        "https://example.com/a b",
        "https://example.com/a\tb",
        "https://example.com/a\n",
        "https://example.com/\x00",
        "https://example.com/\x7f",
        "https://example.com/\x9b",
        "https://example.com/\u3000",
        "https://example.com/\u00a0",
        "https:// example.com",
        "s3://bucket/key with space",
        "s3://buck\tet/key",
        "https://example.com/caf\u00e9",
    ],
)
def test_the_media_and_notify_url_patterns_say_what_the_validators_check(url: str) -> None:
    base = {"provider": "atlascloud", "prompt": "p"}
    media_ok = accepted_by_the_intake({**base, "first_frame_url": url})
    assert (re.search(MEDIA_URL_PATTERN, url) is not None) == media_ok
    notify_ok = accepted_by_the_intake({**base, "notify_url": url})
    assert (re.search(NOTIFY_URL_PATTERN, url) is not None) == notify_ok


def prompt_accepted(prompt: str) -> bool:
    return accepted_by_the_intake({"provider": "atlascloud", "prompt": prompt})


def test_the_prompt_pattern_and_the_intake_agree_on_every_character_alone_and_beside_a_letter() -> None:
    # Every code point below U+3100 (all of str.isspace and the C0/C1 controls), and the invisible
    # ones above it; a surrogate cannot be sent as UTF-8, so none is tried.
    above = [0x3000, 0x3164, 0xFE0F, 0xFEFF, 0xFFA0, 0xFFF9, 0x110BD, 0x1BCA0, 0x1D173, 0xE0001, 0xE0100]
    for code_point in [*range(0x3100), *above]:
        character = chr(code_point)
        for prompt in (character, f"a{character}", f"{character}a"):
            by_schema = re.search(PROMPT_PATTERN, prompt) is not None
            assert by_schema == prompt_accepted(prompt), (hex(code_point), prompt)


@pytest.mark.parametrize(
    ("prompt", "accepted"),
    [
        ("a lighthouse at dusk", True),
        ("line one\nline two\twith a tab", True),
        ("  padded  ", True),
        ("\u200b\u200e\u200f\u2060\ufeff", False),  # zero-width and direction marks only
        ("\u202e\u2066 \u3164\u115f", False),  # bidi controls, a space and Hangul fillers
        ("a\u0000b", False),  # NUL
        ("a\rb", False),  # CR is a control character; a prompt takes tab and newline only
        ("a\x1bb", False),  # ESC
        ("a\x85b", False),  # NEL, a C1 control
        ("a\u200bb", True),  # an invisible character beside visible ones is left alone
    ],
)
def test_a_prompt_needs_a_visible_character_and_no_control_but_tab_and_newline(
    prompt: str, accepted: bool
) -> None:
    assert prompt_accepted(prompt) is accepted
    assert SCHEMA.is_valid({"provider": "atlascloud", "prompt": prompt}) is accepted


def test_every_format_character_counts_as_invisible() -> None:
    invisible = [
        chr(code_point)
        for code_point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code_point)) == "Cf"
    ]
    assert len(invisible) > 150
    assert [c for c in invisible if prompt_accepted(f"{c}{c}")] == []
    assert all(prompt_accepted(f"x{c}") for c in invisible)


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "atlascloud", "prompt": "p", "duration": "5"},
        {"provider": "atlascloud", "prompt": "p", "duration": 5.5},
        {"provider": "atlascloud", "prompt": "p", "duration": True},
        {"provider": "byteplus", "prompt": "p", "watermark": 0.0},
        {"provider": "byteplus", "prompt": "p", "watermark": "false"},
        {"provider": "atlascloud", "prompt": "p", "generate_audio": 1},
        {"provider": "atlascloud", "prompt": "p", "seed": "7"},
        {"provider": "atlascloud", "prompt": "p", "reference_image_urls": "https://cdn.example.com/a.png"},
        {"provider": "atlascloud", "prompt": 5},
    ],
)
def test_wrongly_typed_fields_are_refused_as_the_schema_refuses_them(body: dict[str, Any]) -> None:
    assert not SCHEMA.is_valid(body)
    assert not accepted_by_the_intake(body)


def test_a_whole_number_written_with_a_fraction_of_zero_is_an_integer_as_json_schema_says() -> None:
    body = {"provider": "atlascloud", "prompt": "p", "duration": 5.0, "seed": 7.0}

    assert SCHEMA.is_valid(body)
    assert accepted_by_the_intake(body)
    assert JobRequest.model_validate(body).duration == 5


def test_the_published_schema_speaks_json_schema_only_so_no_bound_is_lost() -> None:
    """pydantic publishes a bound it cannot place as ``ge``/``le``, which JSON Schema ignores: a seed
    of -13 would then be inside the schema and refused by the intake (the fuzz run found it)."""
    unknown_words = {"ge", "le", "gt", "lt", "strict", "multiple_of", "min_length", "max_length"}

    def walk(node: Any, path: str) -> list[str]:
        if isinstance(node, dict):
            found = [
                f"{path}.{key}"
                for key in node
                if key in unknown_words and path.split(".")[-1] != "properties"
            ]
            return found + [hit for key, value in node.items() for hit in walk(value, f"{path}.{key}")]
        if isinstance(node, list):
            return [hit for index, value in enumerate(node) for hit in walk(value, f"{path}[{index}]")]
        return []

    schema = PublishedJobRequest.model_json_schema()
    assert walk(schema, "$") == []
    assert not SCHEMA.is_valid({"provider": "byteplus", "prompt": "p", "seed": -13})
    assert not SCHEMA.is_valid({"provider": "byteplus", "prompt": "p", "duration": 16})
