"""The transfer end to end through the real downloader and a real S3 (moto server): a pinned TLS
connection to a loopback server named cdn.example.com by a stub resolver, the size cap, the deadline
and the Content-Type check; refused or cut copies leave no object and no multipart upload behind."""

from __future__ import annotations

import hashlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.aws import ProvisionedStack
from tests.media_files import mp4_layout
from tests.support import FakeWorld, fake_mp4, submit_job
from tests.unit.test_pinned_http import (
    CDN,
    Certificates,
    LoopbackServer,
    Received,
    StubResolver,
    answer,
    guard_connections,
    make_certificates,
    send_head,
)
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.adapters.pinned_http import pinned_client
from videojobs.adapters.s3 import S3VideoStore
from videojobs.errors import TransferFailed
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.transfer import transfer_video, video_key
from videojobs.models import Job, JobRequest, JobStatus, ProviderState, ProviderUpdate, TransferRequest

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    return guard_connections(monkeypatch)


@pytest.fixture(scope="module")
def certs() -> Iterator[Certificates]:
    with tempfile.TemporaryDirectory() as directory:
        yield make_certificates(Path(directory))


@pytest.fixture
def videos(aws: Any, aws_resources: ProvisionedStack) -> S3VideoStore:
    return S3VideoStore(aws("s3"), aws_resources.refs["VideosBucket"], part_size=5 * MIB)


def world_with(
    videos: S3VideoStore, certs: Certificates, *, max_bytes: int = 64 * MIB, deadline_seconds: float = 10.0
) -> FakeWorld:
    """FakeWorld (its policy allows https://cdn.example.com only) with the real downloader and S3.
    cdn.example.com resolves to 127.0.0.1: loopback is allowed explicitly, for these tests only."""
    world = FakeWorld()
    client = pinned_client(
        timeout=httpx.Timeout(10.0),
        allow_loopback=True,
        resolver=StubResolver({CDN: [["127.0.0.1"]]}),
        ssl_context=certs.client_context(),
    )
    world.source = HttpVideoSource(client, max_bytes=max_bytes, deadline_seconds=deadline_seconds)  # type: ignore[assignment]
    world.videos = videos  # type: ignore[assignment]
    return world


def transferring(world: FakeWorld, output_url: str) -> TransferRequest:
    job = submit_job(JobRequest(provider="eachlabs", prompt="a lighthouse"), world.deps())
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED, output_url=output_url
    )
    apply_provider_update(job, update, world.deps())
    return world.transfers.sent[-1]


def stored(world: FakeWorld, request: TransferRequest) -> Job:
    return world.jobs.jobs[request.job_id]


def assert_nothing_left(aws: Any, videos: S3VideoStore, key: str) -> None:
    s3 = aws("s3")
    bucket = videos._bucket
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) == []


class Recorded:
    """What a scripted response managed to send before the client went away."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()


def test_a_good_output_is_copied_over_the_pinned_connection(
    videos: S3VideoStore, certs: Certificates, aws: Any, opened: list[tuple[str, int]]
) -> None:
    data = fake_mp4(6 * MIB + 5)
    world = world_with(videos, certs)
    with LoopbackServer(
        answer(body=data, content_type="application/octet-stream; charset=binary"), tls=certs
    ) as server:
        request = transferring(world, server.url("/out.mp4", host=CDN))

        transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert job.video is not None
    assert job.video.sha256 == hashlib.sha256(data).hexdigest()
    body = aws("s3").get_object(Bucket=job.video.bucket, Key=job.video.key)
    assert body["Body"].read() == data
    assert server.sni_names == [CDN]
    assert server.received[0].headers["host"] == f"{CDN}:{server.port}"
    assert opened == [("127.0.0.1", server.port)]


def test_a_dripping_server_is_cut_off_at_the_deadline_and_the_upload_aborted(
    videos: S3VideoStore, certs: Certificates, aws: Any
) -> None:
    recorded = Recorded()

    def drip(conn: socket.socket, _: Received) -> None:
        send_head(conn, 200, {"Content-Type": "video/mp4", "Content-Length": "10000"})
        conn.sendall(fake_mp4(64))  # a good start, so the upload begins
        for _ in range(20):  # one byte every 0.5 s, 10 s at most
            if recorded.done.wait(0.5):
                return
            conn.sendall(b"x")
            recorded.sent += 1

    world = world_with(videos, certs, deadline_seconds=1.5)
    with LoopbackServer(drip, tls=certs) as server:
        request = transferring(world, server.url("/out.mp4", host=CDN))
        started = time.monotonic()

        with pytest.raises(TransferFailed, match=r"longer than 1.5 s"):
            transfer_video(request, world.deps())
        elapsed = time.monotonic() - started
        recorded.done.set()

    assert 1.4 < elapsed < 3.0
    assert recorded.sent <= 4
    job = stored(world, request)
    assert job.status is JobStatus.TRANSFERRING  # retryable: the queue will deliver it again
    assert job.transfer_error == "download took longer than 1.5 s"
    assert_nothing_left(aws, videos, video_key(job.job_id))


def test_a_chunked_body_over_the_cap_is_stopped_as_it_passes_it(
    videos: S3VideoStore, certs: Certificates, aws: Any
) -> None:
    recorded = Recorded()
    total = 64 * MIB
    layout = mp4_layout(payload_size=total)  # a whole MP4 of 64 MiB, made as it is sent
    piece = bytes(64 * 1024)

    def chunked(conn: socket.socket, _: Received) -> None:
        # No Content-Length: only counting the bytes read can stop it.
        send_head(conn, 200, {"Content-Type": "video/mp4", "Transfer-Encoding": "chunked"})
        head = layout.head + layout.mdat_header
        conn.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        while recorded.sent < total:
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            recorded.sent += len(piece)
        conn.sendall(b"0\r\n\r\n")

    world = world_with(videos, certs, max_bytes=1 * MIB)
    with LoopbackServer(chunked, tls=certs) as server:
        request = transferring(world, server.url("/out.mp4", host=CDN))

        transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.message) == (
        "output_rejected",
        f"output is over {1 * MIB} bytes; stopped there",
    )
    assert recorded.sent < total  # the client hung up long before the end
    assert_nothing_left(aws, videos, video_key(job.job_id))


def test_a_content_length_over_the_cap_is_refused_before_the_body_is_read(
    videos: S3VideoStore, certs: Certificates, aws: Any
) -> None:
    recorded = Recorded()

    def big(conn: socket.socket, _: Received) -> None:
        send_head(conn, 200, {"Content-Type": "video/mp4", "Content-Length": str(1 * MIB + 1)})
        recorded.done.wait(10)  # the body never comes: reading it would hang until the read timeout

    world = world_with(videos, certs, max_bytes=1 * MIB)
    with LoopbackServer(big, tls=certs) as server:
        request = transferring(world, server.url("/out.mp4", host=CDN))
        started = time.monotonic()

        transfer_video(request, world.deps())
        elapsed = time.monotonic() - started
        recorded.done.set()

    job = stored(world, request)
    assert elapsed < 2.0
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.message == f"output is {1 * MIB + 1} bytes; at most {1 * MIB} are copied"
    assert_nothing_left(aws, videos, video_key(job.job_id))


def test_an_html_page_is_refused_even_when_its_bytes_look_like_an_mp4(
    videos: S3VideoStore, certs: Certificates, aws: Any
) -> None:
    world = world_with(videos, certs)
    with LoopbackServer(
        answer(body=fake_mp4(), content_type="text/html; charset=utf-8"), tls=certs
    ) as server:
        request = transferring(world, server.url("/out.mp4", host=CDN))

        transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.message == "output is served as text/html, not video/mp4"
    assert_nothing_left(aws, videos, video_key(job.job_id))
