"""The pipeline's HTTP API, one method a route, answers as the API's own JSON, errors as typed errors.

Uploads and downloads go to S3 through presigned URLs the API hands out. Those requests carry no
authorization of ours: a presigned URL carries its own, and our SigV4 headers would spoil it (and
would tell S3 more than it needs).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx

from seedance_cli.auth import is_loopback
from seedance_cli.errors import ApiFailed, ApiRefused, ApiRejected, ApiUnreachable, FieldProblem

JSONObject = dict[str, Any]
#: A job in one of these statuses moves no more.
TERMINAL = frozenset({"succeeded", "failed", "expired", "canceled"})
#: Answers worth asking again while waiting for a job: throttled, or a dependency briefly away.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: GET /jobs takes at most this many jobs a page.
MAX_PAGE = 100
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 1024 * 1024
#: Said with a 401 or 403 from a loopback API: the local front checks signatures against these alone.
LOCAL_HINT = "the local stack takes only testing/testing: unset AWS_PROFILE and AWS_ACCESS_KEY_ID"


@dataclass(frozen=True)
class Upload:
    """POST /uploads's answer: PUT the bytes to ``upload_url`` with exactly ``headers``, then name
    ``s3_url`` in the job."""

    upload_url: str
    s3_url: str
    expires_at: str
    headers: dict[str, str]


@dataclass(frozen=True)
class JobFilters:
    """GET /jobs's filters; None leaves one out."""

    status: str | None = None
    provider: str | None = None
    client_reference: str | None = None
    created_after: datetime | None = None

    def query(self) -> dict[str, str]:
        query = {
            "status": self.status,
            "provider": self.provider,
            "client_reference": self.client_reference,
            "created_after": rfc3339(self.created_after) if self.created_after else None,
        }
        return {name: value for name, value in query.items() if value is not None}


@dataclass(frozen=True)
class JobPage:
    """Jobs newest first, and the cursor where the listing stopped (None: nothing more)."""

    jobs: list[JSONObject]
    next_cursor: str | None


@dataclass(frozen=True)
class SavedVideo:
    path: Path
    size_bytes: int
    sha256: str


@dataclass
class WaitPolicy:
    """How often to ask while a job runs: every ``first`` seconds, growing to ``longest``; and how many
    failed asks in a row (no connection, 429, 5xx) end the wait."""

    first: float = 1.0
    longest: float = 5.0
    growth: float = 1.5
    failures_allowed: int = 5
    sleep: Callable[[float], None] = field(default=time.sleep)


def rfc3339(moment: datetime) -> str:
    """UTC with a `Z`, as the API takes it (and no `+`, which a query string would need escaped)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class SeedanceClient:
    """One API, one authorization. ``transport`` is for tests (httpx.MockTransport)."""

    def __init__(
        self,
        api_url: str,
        auth: httpx.Auth,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._auth = auth
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
            headers={"User-Agent": "seedance-cli"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SeedanceClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the routes ----------------------------------------------------------------------------------
    def create_job(self, request: Mapping[str, Any]) -> JSONObject:
        return self._json(self._call("POST", "/jobs", json=dict(request), expect=202))

    def get_job(self, job_id: str) -> JSONObject:
        return self._json(self._call("GET", f"/jobs/{quote(job_id, safe='')}"))

    def cancel_job(self, job_id: str) -> JSONObject:
        return self._json(self._call("POST", f"/jobs/{quote(job_id, safe='')}/cancel", expect=202))

    def list_jobs(self, filters: JobFilters, *, limit: int, cursor: str | None = None) -> JobPage:
        """Up to ``limit`` jobs, following `next_cursor` page after page (a page may hold fewer jobs
        than asked when filters combine, even none, while more remain)."""
        jobs: list[JSONObject] = []
        while True:
            query = {**filters.query(), "limit": str(min(MAX_PAGE, limit - len(jobs)))}
            if cursor is not None:
                query["cursor"] = cursor
            page = self._json(self._call("GET", "/jobs", params=query))
            jobs += page["jobs"]
            cursor = page.get("next_cursor")
            if cursor is None or len(jobs) >= limit:
                return JobPage(jobs[:limit], cursor)

    def providers(self) -> JSONObject:
        return self._json(self._call("GET", "/providers"))

    def spend(self, *, end_user_id: str | None = None) -> JSONObject:
        query = {"end_user_id": end_user_id} if end_user_id is not None else None
        return self._json(self._call("GET", "/spend", params=query))

    def create_upload(self, *, content_type: str, size_bytes: int) -> Upload:
        answer = self._json(
            self._call(
                "POST", "/uploads", json={"content_type": content_type, "size_bytes": size_bytes}, expect=201
            )
        )
        return Upload(
            upload_url=answer["upload_url"],
            s3_url=answer["s3_url"],
            expires_at=answer["expires_at"],
            headers={str(name): str(value) for name, value in answer.get("headers", {}).items()},
        )

    def video_url(self, job_id: str) -> str:
        """Where the job's MP4 can be fetched: GET /jobs/{job_id}/video's redirect (409 while the job
        has no video, 404 for an unknown job)."""
        response = self._call("GET", f"/jobs/{quote(job_id, safe='')}/video", expect=_REDIRECTS)
        location = response.headers.get("location")
        if not location:
            raise ApiFailed(f"GET /jobs/{job_id}/video answered {response.status_code} without a Location")
        return str(response.url.join(location))

    # -- S3, through presigned URLs --------------------------------------------------------------------
    def upload_file(self, path: Path, *, content_type: str) -> str:
        """The file in the inputs bucket: its `s3://` URL, for a job's media fields."""
        size = path.stat().st_size
        upload = self.create_upload(content_type=content_type, size_bytes=size)
        headers = dict(upload.headers)
        if not any(name.lower() == "content-length" for name in headers):
            headers["Content-Length"] = str(size)  # a stream would go chunked, which S3 refuses
        with path.open("rb") as body:
            response = self._s3("PUT", upload.upload_url, content=body, headers=headers)
        if response.status_code not in (200, 201, 204):
            raise ApiFailed(
                f"the upload of {path} was refused: {response.status_code} {_s3_reason(response)}",
                status=response.status_code,
            )
        return upload.s3_url

    def download_video(
        self, job_id: str, directory: Path, *, expected_sha256: str | None = None
    ) -> SavedVideo:
        """The job's MP4 as ``directory/<job_id>.mp4``, written whole or not at all, and checked against
        the job's sha256 when it is given."""
        url = self.video_url(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{job_id}.mp4"
        partial = directory / f".{job_id}.mp4.part"
        digest, size = hashlib.sha256(), 0
        try:
            with self._s3_stream(url) as response:
                if response.status_code != 200:
                    response.read()
                    raise ApiFailed(
                        f"the video's download was refused: {response.status_code} {_s3_reason(response)}",
                        status=response.status_code,
                    )
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise ApiFailed(f"the downloaded video's sha256 {sha256} is not the job's {expected_sha256}")
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return SavedVideo(path=target, size_bytes=size, sha256=sha256)

    # -- waiting ---------------------------------------------------------------------------------------
    def wait_for_end(
        self, job_id: str, *, on_poll: Callable[[JSONObject], None], policy: WaitPolicy | None = None
    ) -> JSONObject:
        """Ask GET /jobs/{job_id} until the job ends; ``on_poll`` sees every view. A few failed asks in
        a row (no connection, throttled, a 5xx) are waited out; more end the wait with the last error."""
        policy = policy or WaitPolicy()
        interval, failures = policy.first, 0
        while True:
            try:
                job = self.get_job(job_id)
            except (ApiUnreachable, ApiFailed) as error:
                transient = isinstance(error, ApiUnreachable) or error.status in _TRANSIENT
                failures += 1
                if not transient or failures > policy.failures_allowed:
                    raise
            else:
                failures = 0
                on_poll(job)
                if job["status"] in TERMINAL:
                    return job
            policy.sleep(interval)
            interval = min(policy.longest, interval * policy.growth)

    # -- plumbing --------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        json: JSONObject | None = None,
        params: Mapping[str, str] | None = None,
        expect: int | frozenset[int] = 200,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, f"{self.api_url}{path}", json=json, params=params, auth=self._auth
            )
        except httpx.TransportError as error:
            raise ApiUnreachable(f"cannot reach the API at {self.api_url}: {_reason(error)}") from None
        if response.status_code in (expect if isinstance(expect, frozenset) else {expect}):
            return response
        raise api_error(method, path, response, local=is_loopback(self.api_url))

    def _s3(self, method: str, url: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **options)
        except httpx.TransportError as error:
            raise ApiUnreachable(f"cannot reach {httpx.URL(url).host}: {_reason(error)}") from None

    @contextmanager
    def _s3_stream(self, url: str) -> Iterator[httpx.Response]:
        try:
            with self._http.stream("GET", url, follow_redirects=True) as response:
                yield response
        except httpx.TransportError as error:
            raise ApiUnreachable(f"cannot reach {httpx.URL(url).host}: {_reason(error)}") from None

    @staticmethod
    def _json(response: httpx.Response) -> JSONObject:
        return cast(JSONObject, response.json())


def api_error(
    method: str, path: str, response: httpx.Response, *, local: bool = False
) -> ApiRejected | ApiRefused | ApiFailed:
    """The API's error answer as a typed error. Bodies: `{"detail": [{"loc", "msg", "type"}]}` (422),
    `{"error": {"code", "message"}}` (our functions), `{"message": "..."}` (API Gateway itself)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if status == 422 and isinstance(body, dict) and isinstance(body.get("detail"), list):
        return ApiRejected(
            [
                FieldProblem(loc=tuple(item.get("loc", ())), msg=str(item.get("msg", "")))
                for item in body["detail"]
                if isinstance(item, dict)
            ]
        )
    code, message = None, None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code, message = body["error"].get("code"), body["error"].get("message")
    elif isinstance(body, dict) and "message" in body:
        message = body["message"]
    reason = message or response.reason_phrase or "no reason given"
    if status in (401, 403):
        hint = f"; {LOCAL_HINT}" if local else ""
        return ApiRefused(f"the API refused {method} {path}: {reason} ({status}){hint}")
    return ApiFailed(
        f"{method} {path}: {reason} ({status}{f' {code}' if code else ''})", status=status, code=code
    )


def _reason(error: httpx.TransportError) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def _s3_reason(response: httpx.Response) -> str:
    """S3 answers errors in XML; its `<Code>` is the useful part."""
    text = response.text
    start, end = text.find("<Code>"), text.find("</Code>")
    return text[start + 6 : end] if 0 <= start < end else response.reason_phrase
