"""An in-memory stand-in for the pipeline's API and its S3, behind httpx.MockTransport, for the
`seedance` client's tests: every request it got is kept (body read) to be inspected."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

API = "http://api.test"
S3 = "https://s3.test"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8


@dataclass
class Seen:
    method: str
    url: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def job_view(job_id: str | None = None, status: str = "queued", **fields: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "job_id": job_id or str(uuid.uuid4()),
        "provider": "eachlabs",
        "status": status,
        "client_reference": None,
        "video": None,
        "error": None,
        "warnings": [],
        "cost_estimate_usd": None,
        "created_at": "2026-12-07T10:00:00Z",
        "updated_at": "2026-12-07T10:00:00Z",
        "request": {"provider": "eachlabs", "prompt": "a lighthouse at dusk"},
    }
    return view | fields


def succeeded(job_id: str, video: bytes = VIDEO_BYTES) -> dict[str, Any]:
    return job_view(
        job_id,
        "succeeded",
        video={
            "bucket": "videos",
            "key": f"videos/{job_id}.mp4",
            "size_bytes": len(video),
            "sha256": hashlib.sha256(video).hexdigest(),
            "content_type": "video/mp4",
            "metadata": {"width": 1280, "height": 720, "duration_seconds": 5.0},
            "checks": [],
        },
    )


@dataclass
class FakeApi:
    seen: list[Seen] = field(default_factory=list)
    #: GET /jobs/{id}: the views to answer, one a poll; the last one stays.
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: GET /jobs: every job, newest first, served in pages.
    listed: list[dict[str, Any]] = field(default_factory=list)
    uploaded: dict[str, bytes] = field(default_factory=dict)
    videos: dict[str, bytes] = field(default_factory=dict)
    #: (METHOD, path) -> (status, JSON body): answered instead of the route's own.
    overrides: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    #: Answered before anything else, once each, in order: status codes for GET /jobs/{id} (polls).
    poll_failures: list[int] = field(default_factory=list)
    down: bool = False
    #: S3's error code for every PUT, or None to take them.
    refuse_puts: str | None = None
    created: list[dict[str, Any]] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client_requests(self, host: str = "api.test") -> list[Seen]:
        return [seen for seen in self.seen if urlsplit(seen.url).hostname == host]

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        body = request.read()
        seen = Seen(
            method=request.method,
            url=str(request.url),
            path=request.url.path,
            query={name: values[-1] for name, values in parse_qs(request.url.query.decode()).items()},
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
        )
        self.seen.append(seen)
        if request.url.host == "s3.test":
            return self._s3(seen)
        override = self.overrides.get((seen.method, seen.path))
        if override is not None:
            return httpx.Response(override[0], json=override[1])
        route: Callable[[Seen, list[str]], httpx.Response] | None = None
        parts = seen.path.strip("/").split("/")
        match (seen.method, parts):
            case ("POST", ["uploads"]):
                route = self._create_upload
            case ("POST", ["jobs"]):
                route = self._create_job
            case ("GET", ["jobs"]):
                route = self._list
            case ("GET", ["jobs", _]):
                route = self._get
            case ("POST", ["jobs", _, "cancel"]):
                route = self._cancel
            case ("GET", ["jobs", _, "video"]):
                route = self._video
            case ("GET", ["providers"]):
                return httpx.Response(200, json={"providers": [PROVIDER]})
            case ("GET", ["spend"]):
                return httpx.Response(200, json=SPEND)
        if route is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such route"}})
        return route(seen, parts)

    # -- routes ------------------------------------------------------------------------------------------
    def _create_upload(self, seen: Seen, _: list[str]) -> httpx.Response:
        asked = seen.json()
        key = f"uploads/{len(self.uploaded) + 1}"
        return httpx.Response(
            201,
            json={
                "upload_url": f"{S3}/inputs/{key}?X-Amz-Signature=presigned",
                "s3_url": f"s3://inputs/{key}",
                "expires_at": "2026-12-07T11:00:00Z",
                "headers": {
                    "Content-Type": asked["content_type"],
                    "x-amz-meta-size": str(asked["size_bytes"]),
                },
            },
        )

    def _create_job(self, seen: Seen, _: list[str]) -> httpx.Response:
        request = seen.json()
        self.created.append(request)
        view = job_view(status="queued", provider=request["provider"], request=request)
        self.timelines.setdefault(view["job_id"], [view])
        return httpx.Response(202, json=view)

    def _get(self, _: Seen, parts: list[str]) -> httpx.Response:
        if self.poll_failures:
            return httpx.Response(self.poll_failures.pop(0), json={"message": "Service Unavailable"})
        timeline = self.timelines.get(parts[1])
        if not timeline:
            return httpx.Response(
                404, json={"error": {"code": "job_not_found", "message": f"job {parts[1]} not found"}}
            )
        return httpx.Response(200, json=timeline.pop(0) if len(timeline) > 1 else timeline[0])

    def _list(self, seen: Seen, _: list[str]) -> httpx.Response:
        start = int(seen.query.get("cursor", "0"))
        limit = int(seen.query.get("limit", "25"))
        page = self.listed[start : start + limit]
        more = start + limit < len(self.listed)
        return httpx.Response(200, json={"jobs": page, "next_cursor": str(start + limit) if more else None})

    def _cancel(self, _: Seen, parts: list[str]) -> httpx.Response:
        view = job_view(
            parts[1],
            "canceled",
            error={"code": "canceled", "message": "canceled by its caller"},
            cancel={"requested_at": "2026-12-07T10:00:05Z", "provider_cancel": "accepted", "error": None},
        )
        return httpx.Response(202, json=view)

    def _video(self, _: Seen, parts: list[str]) -> httpx.Response:
        if parts[1] not in self.videos:
            return httpx.Response(
                409,
                json={"error": {"code": "video_not_ready", "message": f"job {parts[1]} has no video yet"}},
            )
        return httpx.Response(302, headers={"Location": f"{S3}/videos/{parts[1]}.mp4?X-Amz-Signature=get"})

    def _s3(self, seen: Seen) -> httpx.Response:
        if seen.method == "PUT" and self.refuse_puts:
            return httpx.Response(403, text=f"<Error><Code>{self.refuse_puts}</Code></Error>")
        if seen.method == "PUT":
            self.uploaded[seen.path] = seen.body
            return httpx.Response(200)
        job_id = seen.path.rsplit("/", 1)[-1].removesuffix(".mp4")
        if job_id in self.videos:
            return httpx.Response(200, content=self.videos[job_id], headers={"Content-Type": "video/mp4"})
        return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")


PROVIDER = {
    "provider": "byteplus",
    "enabled": True,
    "price_5s_720p_usd": 0.756,
    "limits": {"keys": 2, "max_concurrent_per_key": 3, "max_creates_per_minute_per_key": 180},
    "slots_in_use": 2,
    "breaker": {"state": "open", "consecutive_failures": 5, "open_until": "2026-12-07T10:01:00Z"},
}
SPEND = {
    "day": {"date": "2026-12-07", "limit": 10.0, "spent": 6.05, "reserved": 1.21},
    "month": {"month": "2026-12", "limit": None, "spent": 48.4, "reserved": 1.21},
    "end_user": None,
}
