"""`seedance submit`'s flags as the body of POST /jobs (docs/api.md), and `--since` as a moment.

Fields the flags leave out stay out of the body, so the API's defaults apply. Local files are checked
before anything is sent, then uploaded (POST /uploads) and named by their `s3://` URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from seedance_cli.errors import UsageProblem
from seedance_cli.media import LocalFile, is_url, local_file

#: `--since 90s`, `15m`, `1h`, `2d`, `1w`.
_SPAN = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class JobOptions:
    prompt: str
    provider: str = "auto"
    first_frame: str | None = None
    last_frame: str | None = None
    reference_images: list[str] = field(default_factory=list)
    reference_videos: list[str] = field(default_factory=list)
    reference_audios: list[str] = field(default_factory=list)
    resolution: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    tier: str | None = None
    client_reference: str | None = None

    def media(self) -> list[tuple[str, str]]:
        """Every media flag given, as (flag, value), in the order the request lists them."""
        single = [("--image", self.first_frame), ("--last-frame", self.last_frame)]
        listed = [
            *(("--reference-image", value) for value in self.reference_images),
            *(("--reference-video", value) for value in self.reference_videos),
            *(("--reference-audio", value) for value in self.reference_audios),
        ]
        return [(flag, value) for flag, value in single if value is not None] + listed

    def local_files(self) -> list[LocalFile]:
        """The local files among the media flags, each checked to exist (UsageProblem if not)."""
        return [local_file(flag, value) for flag, value in self.media() if not is_url(value)]

    def body(self, url_of: Callable[[str], str]) -> dict[str, object]:
        """The request body; ``url_of`` turns a media flag's value into the URL the job names."""
        body: dict[str, object] = {"provider": self.provider, "prompt": self.prompt}
        if self.first_frame is not None:
            body["first_frame_url"] = url_of(self.first_frame)
        if self.last_frame is not None:
            body["last_frame_url"] = url_of(self.last_frame)
        for name, values in (
            ("reference_image_urls", self.reference_images),
            ("reference_video_urls", self.reference_videos),
            ("reference_audio_urls", self.reference_audios),
        ):
            if values:
                body[name] = [url_of(value) for value in values]
        optional = {
            "resolution": self.resolution,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "tier": self.tier,
            "client_reference": self.client_reference,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        return body


def parse_since(value: str, now: datetime) -> datetime:
    """`1h` (a span back from ``now``) or an ISO 8601 moment; one without an offset is local time."""
    span = _SPAN.match(value.strip().lower())
    if span:
        return now - timedelta(seconds=int(span.group(1)) * _UNIT_SECONDS[span.group(2)])
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageProblem(
            f"--since {value}: not a span (30m, 1h, 2d, 1w) or an ISO 8601 time (2026-12-07T10:00:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()
