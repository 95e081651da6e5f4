"""A small, strict ``multipart/form-data`` parser (RFC 7578), for the simulated upload endpoints.

The body is split on its boundary byte for byte, so file contents come back exactly as sent; only each
part's header block goes through the standard library's email header parser (for quoting and RFC 2231
parameters). Anything irregular is refused with `MultipartError` rather than guessed at: a missing or
malformed boundary, a preamble or epilogue with content, a part without ``Content-Disposition: form-data;
name=...``, a repeated part name, a ``Content-Transfer-Encoding`` that would change the bytes.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
from dataclasses import dataclass
from email.message import Message

_CRLF = b"\r\n"
_MAX_BOUNDARY_LENGTH = 70
_IDENTITY_ENCODINGS = frozenset({"binary", "8bit", "7bit"})


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data; the message says why."""


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_form_data(content_type: str | None, body: bytes) -> dict[str, FormPart]:
    """The parts of a multipart/form-data body, by name, in the order sent."""
    boundary = _boundary(content_type)
    delimiter = b"--" + boundary
    if not body.startswith(delimiter + _CRLF):
        raise MultipartError("the body must start with the boundary line")
    segments = body[len(delimiter) + len(_CRLF) :].split(_CRLF + delimiter)
    if len(segments) < 2:
        raise MultipartError("the closing boundary is missing")
    *part_blocks, ending = segments
    if ending not in (b"--", b"--" + _CRLF):
        raise MultipartError("the closing boundary is missing or followed by content")
    parts: dict[str, FormPart] = {}
    for index, block in enumerate(part_blocks):
        # Every delimiter but the first is followed by CRLF before the next part's headers.
        if index > 0:
            if not block.startswith(_CRLF):
                raise MultipartError("a boundary line is followed by unexpected characters")
            block = block[len(_CRLF) :]
        part = _parse_part(block)
        if part.name in parts:
            raise MultipartError(f"the part {part.name!r} is sent more than once")
        parts[part.name] = part
    return parts


def _boundary(content_type: str | None) -> bytes:
    if content_type is None:
        raise MultipartError("Content-Type must be multipart/form-data")
    header = _parse_headers(f"Content-Type: {content_type}\r\n\r\n")
    if header.get_content_type() != "multipart/form-data":
        raise MultipartError("Content-Type must be multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= _MAX_BOUNDARY_LENGTH:
        raise MultipartError("Content-Type needs a boundary parameter of 1 to 70 characters")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MultipartError("the boundary must be ASCII") from None


def _parse_part(block: bytes) -> FormPart:
    header_bytes, separator, data = block.partition(_CRLF + _CRLF)
    if not separator:
        if not block.startswith(_CRLF):
            raise MultipartError("a part has no blank line after its headers")
        header_bytes, data = b"", block[len(_CRLF) :]
    try:
        header_text = header_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise MultipartError("part headers must be UTF-8") from None
    for line in header_text.split("\r\n") if header_text else ():
        if ":" not in line or line[:1] in (" ", "\t"):
            raise MultipartError(f"malformed part header line {line[:60]!r}")
    headers = _parse_headers(header_text + "\r\n\r\n")
    disposition = headers.get("content-disposition")
    if disposition is None or disposition.split(";", 1)[0].strip().lower() != "form-data":
        raise MultipartError("every part needs a 'Content-Disposition: form-data' header")
    name = _param(headers, "name")
    if not name:
        raise MultipartError("every part needs a name in its Content-Disposition header")
    encoding = headers.get("content-transfer-encoding")
    if encoding is not None and encoding.strip().lower() not in _IDENTITY_ENCODINGS:
        raise MultipartError(f"the part {name!r} uses an unsupported Content-Transfer-Encoding")
    has_filename = "filename" in {
        key.lower() for key, _ in headers.get_params([], header="content-disposition")
    }
    filename = headers.get_filename() if has_filename else None
    if has_filename and filename is None:
        filename = ""
    content_type = headers.get("content-type")
    return FormPart(
        name=name,
        filename=filename,
        content_type=content_type.strip() if content_type is not None else None,
        data=data,
    )


def _parse_headers(text: str) -> Message:
    return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)


def _param(headers: Message, name: str) -> str | None:
    value = headers.get_param(name, header="content-disposition")
    if value is None:
        return None
    return email.utils.collapse_rfc2231_value(value)
