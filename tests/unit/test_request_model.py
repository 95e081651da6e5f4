import pytest
from pydantic import ValidationError

from videojobs.catalog.capabilities import CAPABILITIES, check_request
from videojobs.errors import RequestRejected
from videojobs.models import JobRequest


def errors_for(**fields: object) -> list[tuple[str, ...]]:
    with pytest.raises(ValidationError) as raised:
        JobRequest.model_validate({"provider": "eachlabs", "prompt": "p", **fields})
    return [tuple(str(part) for part in error["loc"]) for error in raised.value.errors()]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"prompt": "   "}, ("prompt",)),
        ({"provider": "runway"}, ("provider",)),
        ({"duration": 16}, ("duration",)),
        ({"resolution": "8k"}, ("resolution",)),
        ({"first_frame_url": "http://cdn.example.com/a.png"}, ("first_frame_url",)),
        ({"reference_image_urls": ["https://x/a.png"] * 10}, ("reference_image_urls",)),
        ({"colour": "red"}, ("colour",)),
        ({"seed": -1}, ("seed",)),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, object], loc: tuple[str, ...]) -> None:
    assert loc in errors_for(**fields)


def test_the_public_vocabulary_is_accepted() -> None:
    request = JobRequest.model_validate(
        {
            "provider": "eachlabs",
            "prompt": "  lion  ",
            "first_frame_url": "https://cdn.example.com/a.jpg",
            "last_frame_url": "https://cdn.example.com/b.jpg",
            "reference_image_urls": [],
            "reference_video_urls": [],
            "reference_audio_urls": [],
            "resolution": "480p",
            "duration": 4,
            "aspect_ratio": "9:16",
            "generate_audio": False,
            "seed": 7,
            "watermark": None,
            "camera_fixed": None,
            "return_last_frame": None,
            "end_user_id": "user-1",
        }
    )
    assert request.prompt == "lion"
    check_request(request)


def test_eachlabs_limits_come_from_the_capability_table() -> None:
    caps = CAPABILITIES["eachlabs"]
    assert caps.resolutions == {"480p", "720p"}
    with pytest.raises(RequestRejected, match="480p, 720p") as rejected:
        check_request(JobRequest(provider="eachlabs", prompt="p", resolution="1080p"))
    assert rejected.value.field == "resolution"
