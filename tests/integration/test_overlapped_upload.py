"""S3VideoStore's overlapped multipart upload against a real moto server over HTTP: a part that fails
while the next one is in flight, parts that finish out of order, and memory held to the parts in
flight plus one for a 256 MiB stream (moto in a process of its own there, so that the bytes it keeps
are not counted in ours)."""

from __future__ import annotations

import hashlib
import io
import random
import subprocess
import sys
import threading
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from local.aws import ProvisionedStack, aws_client
from tests.media_files import mp4_layout
from videojobs.adapters.s3 import PART_THREAD_PREFIX, PartBody, S3VideoStore
from videojobs.errors import TransferFailed
from videojobs.logic.transfer import MP4, CheckedStream
from videojobs.mp4 import Mp4Reader

MIB = 1024 * 1024
PART = 5 * MIB  # the smallest part S3 (and moto) takes
WAIT_SECONDS = 10


class WatchedS3:
    """The real S3 client, with a hook that may hold or break a part before its call, and a log of
    when each part started and ended and when the upload was aborted or completed."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.log: list[tuple[str, int]] = []
        self.ended: defaultdict[int, threading.Event] = defaultdict(threading.Event)
        self.etags: dict[int, str] = {}
        self.completed_parts: list[dict[str, Any]] = []
        self.before_part: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        number = kwargs["PartNumber"]
        self._note("started", number)
        try:
            kwargs = self.before_part.get(number, lambda same: same)(kwargs)
            response = self._client.upload_part(**kwargs)
            self.etags[number] = response["ETag"]
            return response
        finally:
            self._note("ended", number)
            self.ended[number].set()

    def abort_multipart_upload(self, **kwargs: Any) -> Any:
        self._note("aborted", 0)
        return self._client.abort_multipart_upload(**kwargs)

    def complete_multipart_upload(self, **kwargs: Any) -> Any:
        self.completed_parts = kwargs["MultipartUpload"]["Parts"]
        return self._client.complete_multipart_upload(**kwargs)

    def _note(self, what: str, number: int) -> None:
        with self._lock:
            self.log.append((what, number))


class CountedChunks:
    """``total`` bytes of a whole MP4 (its boxes right, its media data noise), made as they are asked
    for, in odd-sized chunks."""

    def __init__(self, total: int, *, chunk: int = 64 * 1024 + 7, seed: int = 7) -> None:
        self.total = total
        self.given = 0
        self._chunk, self._seed = chunk, seed
        empty = mp4_layout(payload_size=0)
        layout = mp4_layout(payload_size=total - len(empty.head) - len(empty.mdat_header))
        head = layout.head + layout.mdat_header
        # A few distinct blocks, so that a part in the wrong place gives other bytes.
        noise = random.Random(seed).randbytes(chunk * 4)
        self._blocks = [head + noise[len(head) : chunk]] + [
            noise[index * chunk : (index + 1) * chunk] for index in range(1, 4)
        ]

    def __iter__(self) -> Iterator[bytes]:
        index = 0
        while self.given < self.total:
            block = self._blocks[index % len(self._blocks)][: self.total - self.given]
            self.given += len(block)
            index += 1
            yield block

    def sha256(self) -> str:
        """Of the whole stream, from a fresh copy of it."""
        digest = hashlib.sha256()
        for block in CountedChunks(self.total, chunk=self._chunk, seed=self._seed):
            digest.update(block)
        return digest.hexdigest()


def part_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(PART_THREAD_PREFIX)]


def stored_sha256(s3: Any, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    for block in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MIB):
        digest.update(block)
    return digest.hexdigest()


def open_uploads(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return uploads


@pytest.fixture
def bucket(aws_resources: ProvisionedStack) -> str:
    return aws_resources.refs["VideosBucket"]


@pytest.fixture
def s3(aws: Any) -> WatchedS3:
    return WatchedS3(aws("s3"))


def test_a_part_that_fails_while_the_next_is_in_flight_leaves_no_object_and_no_upload(
    s3: WatchedS3, bucket: str
) -> None:
    # Given part 2 fails (sent to a bucket S3 does not know) only once part 3 is on its way,
    # and part 3 goes on only once part 2 has failed
    part_3_started, part_2_failed = threading.Event(), threading.Event()

    def fail_part_2(call: dict[str, Any]) -> dict[str, Any]:
        assert part_3_started.wait(WAIT_SECONDS)
        part_2_failed.set()
        return {**call, "Bucket": "no-such-bucket"}

    def hold_part_3(call: dict[str, Any]) -> dict[str, Any]:
        part_3_started.set()
        assert part_2_failed.wait(WAIT_SECONDS)
        return call

    s3.before_part = {2: fail_part_2, 3: hold_part_3}
    store = S3VideoStore(s3, bucket, part_size=PART, parts_in_flight=2)  # type: ignore[arg-type]
    source = CountedChunks(8 * PART)
    key = "videos/fails-mid-flight.mp4"

    # When
    with pytest.raises(TransferFailed, match="NoSuchBucket"):
        store.upload_stream(key, source, content_type="video/mp4")

    # Then the download stopped early, the abort came after part 3 had ended, and nothing is left
    assert source.given < source.total
    assert s3.log.index(("started", 3)) < s3.log.index(("ended", 2))
    assert s3.log.index(("ended", 3)) < s3.log.index(("aborted", 0))
    assert s3.log[-1] == ("aborted", 0)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert open_uploads(s3, bucket, key) == []
    assert part_threads() == []


def test_parts_that_finish_out_of_order_complete_in_order(s3: WatchedS3, bucket: str) -> None:
    # Given part 1 is held until part 2 has been stored
    held: list[bool] = []

    def hold_part_1(call: dict[str, Any]) -> dict[str, Any]:
        held.append(s3.ended[2].wait(WAIT_SECONDS))
        return call

    s3.before_part = {1: hold_part_1}
    store = S3VideoStore(s3, bucket, part_size=PART, parts_in_flight=2)  # type: ignore[arg-type]
    source = CountedChunks(2 * PART + 123_457)
    key = "videos/out-of-order.mp4"

    # When
    stored = store.upload_stream(key, source, content_type="video/mp4")

    # Then part 2 really finished first, the completion lists the parts in order with their own
    # ETags, and the object is the stream, byte for byte
    assert held == [True]
    assert s3.log.index(("ended", 2)) < s3.log.index(("ended", 1))
    assert [part["PartNumber"] for part in s3.completed_parts] == [1, 2, 3]
    assert [part["ETag"] for part in s3.completed_parts] == [s3.etags[1], s3.etags[2], s3.etags[3]]
    assert stored.size_bytes == source.total
    assert stored_sha256(s3, bucket, key) == source.sha256()
    first = s3.head_object(Bucket=bucket, Key=key, PartNumber=1)
    assert (first["PartsCount"], first["ContentLength"]) == (3, PART)
    assert part_threads() == []


def test_a_part_reads_the_same_through_the_https_framing() -> None:
    """Over HTTPS botocore wraps the body in aws-chunked framing with a trailing CRC32; a part read
    from its buffer in slices must frame exactly as the same bytes in a file would."""
    data = random.Random(3).randbytes(3 * MIB + 5)

    def framed(body: Any) -> bytes:
        return bytes(AwsChunkedWrapper(body, checksum_cls=Crc32Checksum).read())

    assert framed(PartBody(memoryview(data))) == framed(io.BytesIO(data))


@pytest.fixture(scope="module")
def moto_apart() -> Iterator[str]:
    """moto in a process of its own: the 256 MiB it stores stay out of this process's heap."""
    code = (
        "import sys; from moto.server import ThreadedMotoServer;"
        "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start();"
        "print(s.get_host_and_port()[1], flush=True); sys.stdin.read(); s.stop()"
    )
    process = subprocess.Popen(  # noqa: S603 - our own interpreter on our own code
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.stdin.close()  # the server stops when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_256_mib_stream_holds_no_more_than_the_parts_in_flight_plus_one(moto_apart: str) -> None:
    # Given a 256 MiB MP4 made as it is read, through the transfer's checks (sha256, ftyp, its boxes)
    s3 = aws_client("s3", moto_apart)
    s3.create_bucket(Bucket="videos")
    part, in_flight = 8 * MIB, 2
    store = S3VideoStore(s3, "videos", part_size=part, parts_in_flight=in_flight)
    source = CountedChunks(256 * MIB)
    stream = CheckedStream(source, kind=MP4, expected_size=source.total, reader=Mp4Reader())

    # When
    tracemalloc.start()
    try:
        stored = store.upload_stream("videos/big.mp4", stream, content_type="video/mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then at most (in flight + 1) parts were held (24 of the 256 MiB; the slack covers botocore and
    # whatever other threads of the test process allocate meanwhile), and what was stored is what was read
    assert peak <= (in_flight + 1) * part + 4 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert stored.size_bytes == source.total == stream.size_bytes
    assert stream.sha256 == source.sha256() == stored_sha256(s3, "videos", "videos/big.mp4")
    assert (stream.metadata.width, stream.metadata.height, stream.metadata.has_audio) == (1280, 720, True)
    assert s3.head_object(Bucket="videos", Key="videos/big.mp4", PartNumber=1)["PartsCount"] == 32
    assert part_threads() == []
