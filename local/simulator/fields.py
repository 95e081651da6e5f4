"""Request validation shared by the dialects: every problem is a `Rejection` (400) naming the field's path.

`FieldReader` reads one JSON object; ``prefix`` makes nested paths (``input.prompt``,
``extra_body.seed``), list items are named with their index (``images[2]``). `form_parts`, `text_part`
and `file_part` do the same for multipart/form-data uploads, naming the part.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from local.simulator.multipart import FormPart, MultipartError, parse_form_data
from local.simulator.protocol import JSONObject, JSONValue, Rejection, SimRequest, invalid

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def is_absolute_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def iso8601(timestamp: float) -> str:
    """``2025-01-01T00:00:00Z``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def form_parts(request: SimRequest, allowed: Collection[str]) -> Mapping[str, FormPart]:
    """The parts of a multipart/form-data body; 400 for a malformed body or a part not in `allowed`."""
    try:
        parts = parse_form_data(request.headers.get("content-type"), request.body)
    except MultipartError as exc:
        raise Rejection(400, f"Invalid request: {exc}", "Send multipart/form-data") from None
    for name in parts:
        if name not in allowed:
            raise invalid(name, "is not a recognised form part", f"Allowed parts: {', '.join(allowed)}")
    return parts


def text_part(parts: Mapping[str, FormPart], name: str, options: Sequence[str]) -> str:
    part = parts.get(name)
    if part is None:
        raise invalid(name, "is required (a multipart form field)")
    if part.filename is not None:
        raise invalid(name, "must be a plain form field, not a file")
    try:
        value = part.data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(name, "must be UTF-8 text") from None
    if value not in options:
        raise invalid(name, f"must be one of {', '.join(options)}", f"Got {value[:60]!r}")
    return value


def file_part(parts: Mapping[str, FormPart], name: str, *, require_content_type: bool) -> FormPart:
    """A non-empty file part with a plain file name (no directories, no control characters)."""
    part = parts.get(name)
    if part is None:
        raise invalid(name, "is required (a multipart file part)")
    filename = part.filename
    if not filename:
        raise invalid(name, "needs a file name (Content-Disposition filename)")
    if filename in (".", "..") or "/" in filename or "\\" in filename or _CONTROL_CHARACTERS.search(filename):
        raise invalid(name, "has a file name that is not a plain file name", f"Got {filename[:60]!r}")
    if require_content_type and not part.content_type:
        raise invalid(name, "needs a Content-Type")
    if not part.data:
        raise invalid(name, "must not be empty")
    return part


def _shown(value: JSONValue) -> str:
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


class FieldReader:
    """Typed reads of one JSON object's fields, refusing with 400 naming the path on the first problem."""

    def __init__(self, values: JSONObject, prefix: str = "") -> None:
        self.values = values
        self.prefix = prefix

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def present(self, name: str) -> bool:
        return self.values.get(name) is not None

    def refuse_unknown(self, allowed: Collection[str]) -> None:
        for key in self.values:
            if key not in allowed:
                raise invalid(
                    self.path(key), "is not a recognised field", f"Allowed fields: {', '.join(allowed)}"
                )

    def refuse(self, name: str, reason: str) -> None:
        """Refuse `name` when present (with `reason`, e.g. ``"is only accepted by ..."``)."""
        if name in self.values:
            raise invalid(self.path(name), reason)

    def optional_string(
        self, name: str, *, options: Sequence[str] = (), default: str | None = None
    ) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise invalid(self.path(name), "must be a string", f"Got {_shown(value)}")
        if options and value not in options:
            raise invalid(self.path(name), f"must be one of {', '.join(options)}", f"Got {_shown(value)}")
        return value

    def required_string(self, name: str) -> str:
        """A string that is present and not blank."""
        value = self.optional_string(name)
        if value is None:
            raise invalid(self.path(name), "is required")
        if not value.strip():
            raise invalid(self.path(name), "must not be empty")
        return value

    def integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None, default: int | None = None
    ) -> int | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(self.path(name), "must be an integer", f"Got {_shown(value)}")
        self._check_range(name, value, minimum, maximum)
        return value

    def number(
        self, name: str, *, minimum: float, maximum: float, default: float | None = None
    ) -> float | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(self.path(name), "must be a number", f"Got {_shown(value)}")
        self._check_range(name, value, minimum, maximum)
        return value

    def boolean(self, name: str, *, default: bool | None = None) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise invalid(self.path(name), "must be a boolean", f"Got {_shown(value)}")
        return value

    def string_list(self, name: str, *, max_items: int) -> list[str]:
        """The list's strings ([] when absent); each must be a non-empty string."""
        value = self.values.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise invalid(self.path(name), "must be an array of strings", f"Got {_shown(value)}")
        if len(value) > max_items:
            raise invalid(self.path(name), f"takes at most {max_items} items", f"Got {len(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise invalid(
                    f"{self.path(name)}[{index}]", "must be a non-empty string", f"Got {_shown(item)}"
                )
        return [item for item in value if isinstance(item, str)]

    def nested(self, name: str) -> FieldReader | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise invalid(self.path(name), "must be an object", f"Got {_shown(value)}")
        return FieldReader(value, prefix=f"{self.path(name)}.")

    def http_url(self, name: str) -> str | None:
        """An absolute http(s) URL (webhook and callback targets)."""
        value = self.optional_string(name)
        if value is not None and (not is_absolute_http_url(value) or _CONTROL_CHARACTERS.search(value)):
            raise invalid(self.path(name), "must be an absolute http(s) URL", f"Got {_shown(value)}")
        return value

    def media(self, *names: str) -> list[tuple[str, str]]:
        """(path, URL) of every media URL in the named fields, whether single strings or lists."""
        found: list[tuple[str, str]] = []
        for name in names:
            value = self.values.get(name)
            if isinstance(value, str):
                found.append((self.path(name), value))
            elif isinstance(value, list):
                found.extend(
                    (f"{self.path(name)}[{index}]", item)
                    for index, item in enumerate(value)
                    if isinstance(item, str)
                )
        return found

    def _check_range(self, name: str, value: float, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and maximum is not None:
            expected = f"must be between {minimum:g} and {maximum:g}"
        elif minimum is not None:
            expected = f"must be at least {minimum:g}"
        elif maximum is not None:
            expected = f"must be at most {maximum:g}"
        else:
            return
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise invalid(self.path(name), expected, f"Got {_shown(value)}")
