"""A media flag's value: a URL the API takes as it is, or a local file to upload first."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from seedance_cli.errors import UsageProblem

#: Values with these schemes go to the API as they are; the API says whether it takes them.
URL_SCHEMES = ("https://", "http://", "s3://")
#: Content types by the file's first bytes, before its name is asked.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftyp", "video/mp4"),
    (0, b"ID3", "audio/mpeg"),
    (8, b"WAVE", "audio/wav"),
)


@dataclass(frozen=True)
class LocalFile:
    flag: str
    value: str
    path: Path
    content_type: str


def is_url(value: str) -> bool:
    return value.lower().startswith(URL_SCHEMES)


def local_file(flag: str, value: str) -> LocalFile:
    """The file a flag names, checked before anything is sent."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageProblem(f"{flag} {value}: no such file (a URL needs https:// or s3://)")
    return LocalFile(flag=flag, value=value, path=path, content_type=content_type_of(path))


def content_type_of(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(16)
    for offset, signature, content_type in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return content_type
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"
