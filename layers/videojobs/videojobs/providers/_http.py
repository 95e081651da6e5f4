"""What every dialect shares: sending JSON or a streamed upload, and turning HTTP failures into
ProviderError."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from videojobs.errors import InvalidWebhook, ProviderError
from videojobs.observability import logger
from videojobs.ports import MediaFile

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def without_nones(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are set: a provider takes an absent field for its default, and may refuse a null."""
    return {key: value for key, value in fields.items() if value is not None}


class ProviderApi:
    """One provider's HTTP API: its base URL and credential in one place, every failure a ProviderError."""

    def __init__(
        self, client: httpx.Client, *, provider: str, base_url: str, auth_header: str, credential: SecretStr
    ) -> None:
        self._client = client
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._auth_header = auth_header
        self._credential = credential

    @classmethod
    def with_bearer_key(
        cls, client: httpx.Client, *, provider: str, base_url: str, api_key: SecretStr
    ) -> ProviderApi:
        """An API that authenticates with ``Authorization: Bearer <api_key>``."""
        credential = SecretStr(f"Bearer {api_key.get_secret_value()}")
        return cls(
            client, provider=provider, base_url=base_url, auth_header="Authorization", credential=credential
        )

    def _headers(self) -> dict[str, str]:
        return {self._auth_header: self._credential.get_secret_value()}

    def call(self, method: str, path: str, *, json: Any = None) -> Any:
        return self.call_url(method, f"{self._base_url}{path}", json=json)

    def call_url(self, method: str, url: str, *, json: Any = None) -> Any:
        """``call`` for an absolute URL the provider handed out (fal's status_url). The dialect checks
        the URL is the provider's own before the credential goes with it."""
        return request_json(
            self._client, method, url, provider=self._provider, headers=self._headers(), json=json
        )

    def send(self, method: str, url: str) -> httpx.Response:
        """The provider's answer as it is, error statuses included, for dialects whose error answers
        carry meaning (fal's result and cancel). Transport failures are ProviderError as in ``call``;
        ``json_answer`` and ``answer_error`` read the answer the usual way."""
        try:
            return self._client.request(method, url, headers=self._headers())
        except httpx.HTTPError as error:
            raise _unreachable(self._provider, error) from error

    def upload(self, path: str, media: MediaFile, *, fields: Mapping[str, str] | None = None) -> Any:
        return upload_multipart(
            self._client,
            f"{self._base_url}{path}",
            provider=self._provider,
            headers=self._headers(),
            media=media,
            fields=fields,
        )


def request_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    headers: Mapping[str, str],
    json: Any = None,
) -> Any:
    try:
        response = client.request(method, url, headers=dict(headers), json=json)
    except httpx.HTTPError as error:
        raise _unreachable(provider, error) from error
    return _json_answer(response, provider=provider)


#: Failures that happen before a byte of the request could have reached the provider.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _unreachable(provider: str, error: httpx.HTTPError) -> ProviderError:
    ambiguous = not isinstance(error, _NOT_SENT)
    what = "gave no answer" if ambiguous else "unreachable"
    return ProviderError(f"{provider} {what}: {type(error).__name__}", retryable=True, ambiguous=ambiguous)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def json_answer(response: httpx.Response, *, provider: str) -> Any:
    """A 2xx answer's JSON; any other answer as the ProviderError it means."""
    return _json_answer(response, provider=provider)


def _json_answer(response: httpx.Response, *, provider: str) -> Any:
    if response.is_success:
        try:
            return response.json()
        except ValueError as error:
            raise ProviderError(f"{provider} answered non-JSON", retryable=True) from error
    raise answer_error(response, provider=provider)


#: Statuses that refuse the key's account, whatever the request: another key or provider may serve it.
ACCOUNT_STATUS = frozenset({401, 402, 403})
#: Words that say the credit or quota is spent, whatever the status (OpenAI-style gateways answer 429
#: ``insufficient_quota``, "You exceeded your current quota"; fal 403 "User is locked. Reason:
#: Exhausted balance" (github.com/fal-ai/fal/issues/1147); ModelArk 403 ``AccountOverdueError``, "your
#: account has an overdue balance" (volcengine.com/docs/82379/1299023)).
OUT_OF_CREDIT = re.compile(
    r"insufficient[ _-]?(quota|balance|credit|funds)|exceeded your current quota|exhausted balance"
    r"|overdue balance|accountoverdue|out of credits?\b|credit balance is too low",
    re.IGNORECASE,
)


def answer_error(response: httpx.Response, *, provider: str) -> ProviderError:
    """The ProviderError a non-2xx answer means: its words, whether to retry, its Retry-After, and
    whether it refuses the key's account rather than the request."""
    text = _error_text(response)
    account_refused = response.status_code in ACCOUNT_STATUS or bool(OUT_OF_CREDIT.search(text))
    return ProviderError(
        f"{provider} answered HTTP {response.status_code}: {text}",
        # Spent credit does not come back by waiting; another key or provider may serve the job.
        retryable=response.status_code in RETRYABLE_STATUS and not account_refused,
        status_code=response.status_code,
        retry_after_seconds=retry_after_seconds(response),
        account_refused=account_refused,
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        parts = [_readable(body[key]) for key in ("message", "error", "detail", "details") if body.get(key)]
        if parts:
            return "; ".join(parts)[:300]
    return str(body)[:300]


def _readable(value: Any) -> str:
    # OpenAI-style errors nest the words: {"error": {"message": ..., "code": ...}}.
    if isinstance(value, dict) and value.get("message"):
        code = value.get("code")
        return f"{value['message']} ({code})" if code else str(value["message"])
    return str(value)


def describe_validation_error(error: ValidationError) -> str:
    """Field and reason for each problem, without echoing the input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
    )


def parse_wire[ModelT: BaseModel](model: type[ModelT], data: Any, *, provider: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ProviderError(
            f"{provider} answered an unexpected shape: {describe_validation_error(error)}", retryable=False
        ) from error


def parse_webhook_body[ModelT: BaseModel](model: type[ModelT], body: bytes) -> ModelT:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise InvalidWebhook(describe_validation_error(error)) from error


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_QUOTED_CHARS = re.compile(r'[\x00-\x1f\x7f"\\]')


def _quoted(value: str) -> str:
    """A multipart parameter value, with what would end the quoted string percent-encoded (as
    browsers and httpx do)."""
    return _UNSAFE_QUOTED_CHARS.sub(lambda match: f"%{ord(match.group()):02X}", value)


def upload_multipart(
    client: httpx.Client,
    url: str,
    *,
    provider: str,
    headers: Mapping[str, str],
    media: MediaFile,
    fields: Mapping[str, str] | None = None,
    file_field: str = "file",
) -> Any:
    """POST ``fields`` and then ``media`` as multipart/form-data, streamed, with a Content-Length.

    The body is generated chunk by chunk, never held in memory; the explicit length keeps httpx
    from falling back to chunked transfer encoding, which upload endpoints commonly refuse (411).
    """
    boundary = secrets.token_hex(16)
    head = bytearray()
    for name, value in (fields or {}).items():
        head += _part_header(boundary, f'name="{_quoted(name)}"')
        head += value.encode() + b"\r\n"
    content_type = media.content_type
    if not content_type or _CONTROL_CHARS.search(content_type):
        content_type = "application/octet-stream"
    disposition = f'name="{_quoted(file_field)}"; filename="{_quoted(media.filename)}"'
    head += _part_header(boundary, disposition, content_type=content_type)
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield bytes(head)
        sent = 0
        for chunk in media.chunks:
            sent += len(chunk)
            if sent > media.size_bytes:
                raise _size_mismatch(provider, media, f"more than the {media.size_bytes} bytes declared")
            if chunk:
                yield chunk
        if sent != media.size_bytes:
            raise _size_mismatch(provider, media, f"{sent} of the {media.size_bytes} bytes declared")
        yield tail

    request_headers = {
        **headers,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + media.size_bytes + len(tail)),
    }
    logger.info("uploading media", provider=provider, kind=media.kind, size_bytes=media.size_bytes)
    try:
        response = client.post(url, headers=request_headers, content=body())
    except httpx.HTTPError as error:
        # A repeated upload costs nothing but time: never ambiguous.
        raise ProviderError(f"{provider} unreachable: {type(error).__name__}", retryable=True) from error
    return _json_answer(response, provider=provider)


def _part_header(boundary: str, disposition: str, *, content_type: str | None = None) -> bytes:
    lines = [f"--{boundary}", f"Content-Disposition: form-data; {disposition}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _size_mismatch(provider: str, media: MediaFile, read: str) -> ProviderError:
    # Sending on would break the declared Content-Length: the source changed under us or was cut.
    return ProviderError(f"{provider} upload of {media.filename!r} stopped: read {read}", retryable=True)
