"""The transfer against a raw baseline, each arm in its own process, in the same run.

One moto S3 server (a process of its own, so the uploaded bytes sit in its memory) takes every copy,
and for each size one loopback file server (a thread of this process) serves both arms a structurally
valid MP4 of exactly that size (ftyp and moov from ``tests.media_files.mp4_layout``, then an mdat of
filler made as it is sent). Each arm is a fresh interpreter that copies the same URL into the same
bucket and reports its time and its peak RSS:

- ours: the transfer's own path, ``HttpVideoSource`` on the pinned httpx client, ``CheckedStream``
  (sha256, the ftyp check and ``Mp4Reader`` reading the boxes as they pass; the copy fails unless the
  reader's metadata comes out as served) and ``S3VideoStore`` with the settings' part size and parts
  in flight;
- baseline: the same URL read with httpx (``iter_raw``) as a file, given to boto3's
  ``upload_fileobj`` with its default config (10 threads, 8 MiB parts, no hash of ours).

Throughput is the median of 3 alternating runs of each arm; peak RSS is ``VmHWM`` of the arm's
process. `python -m benchmarks.transfer [--quick]` prints the table; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.table import RatioRow, print_table

if TYPE_CHECKING:
    from tests.media_files import Mp4Layout

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
GOAL_RATIO = 0.9
BUCKET = "bench"
#: Each copies the same URL into the same moto, in a process of its own; they take turns.
ARMS = ("ours", "baseline")
Row = tuple[str, str, str]


@dataclass(frozen=True)
class ArmRun:
    """What one arm's process reports."""

    seconds: float
    size_bytes: int
    #: VmHWM: the most the process ever held, imports included.
    peak_rss_bytes: int
    #: VmRSS once everything is imported and the clients are made, before the first byte.
    idle_rss_bytes: int

    @property
    def mib_per_second(self) -> float:
        return self.size_bytes / MIB / self.seconds


#: What the served MP4's moov says (``mp4_layout``'s defaults); ours checks the reader found it.
SERVED_WIDTH, SERVED_HEIGHT = 1280, 720


def mp4_parts(size: int, *, moov_first: bool = True, **options: Any) -> Mp4Layout:
    """The parts of a valid MP4 of exactly ``size`` bytes: head, mdat header, payload size, tail."""
    from tests.media_files import mp4_layout

    empty = mp4_layout(payload_size=0, moov_first=moov_first, **options)
    overhead = len(empty.head) + len(empty.mdat_header) + len(empty.tail)
    layout = mp4_layout(payload_size=size - overhead, moov_first=moov_first, **options)
    assert len(layout.head) + len(layout.mdat_header) + layout.payload_size + len(layout.tail) == size
    return layout


@contextmanager
def file_server(size: int) -> Iterator[str]:
    """Serves a valid MP4 of ``size`` bytes; the mdat's filler is sent 1 MiB at a time, never held."""
    layout = mp4_parts(size)
    filler = bytes(MIB)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "video/mp4")
            self.send_header("content-length", str(size))
            self.end_headers()
            self.wfile.write(layout.head + layout.mdat_header)
            left = layout.payload_size
            while left > 0:
                piece = filler if left >= MIB else filler[:left]
                self.wfile.write(piece)
                left -= len(piece)
            self.wfile.write(layout.tail)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/video.mp4"
    finally:
        server.shutdown()


@contextmanager
def moto_process() -> Iterator[str]:
    """moto in its own process, so that it keeps the uploaded bytes in its memory, not ours."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def transfer_ratio_rows(quick: bool = False) -> list[RatioRow]:
    """Ours against upload_fileobj: throughput (256 MiB, or 64 MiB when quick) and peak RSS for
    10 MiB and 1 GiB (10 MiB only when quick)."""
    from local.aws import aws_client
    from videojobs.settings import Settings

    part_size: int = Settings.model_fields["transfer_part_size_bytes"].default
    in_flight: int = Settings.model_fields["transfer_parts_in_flight"].default
    speed_mib = 64 if quick else 256
    rss_sizes_mib = (10,) if quick else (10, 1024)
    parts = f"{part_size // MIB} MiB parts, {in_flight} in flight"
    rows: list[RatioRow] = []
    with moto_process() as endpoint:
        s3 = aws_client("s3", endpoint)
        s3.create_bucket(Bucket=BUCKET)

        def run(arm: str, url: str) -> ArmRun:
            result = run_arm(arm, url, endpoint, part_size=part_size, parts_in_flight=in_flight)
            s3.delete_object(Bucket=BUCKET, Key=arm_key(arm))  # moto keeps every object in memory
            return result

        with file_server(16 * MIB) as url:
            for arm in ARMS:
                run(arm, url)  # warms moto up
        runs: dict[str, list[ArmRun]] = {arm: [] for arm in ARMS}
        with file_server(speed_mib * MIB) as url:
            for _ in range(3):
                for arm in ARMS:
                    runs[arm].append(run(arm, url))
        ours = statistics.median(r.mib_per_second for r in runs["ours"])
        baseline = statistics.median(r.mib_per_second for r in runs["baseline"])
        rows.append(
            RatioRow(
                f"transfer {speed_mib} MiB, HTTP -> moto S3 ({parts}), median of 3",
                f"{ours:.0f} MiB/s",
                f"{baseline:.0f} MiB/s (upload_fileobj, default config)",
                f"{ours / baseline:.2f}x",
                f">= {GOAL_RATIO}x",
            )
        )
        bound = (in_flight + 1) * part_size
        for size_mib in rss_sizes_mib:
            with file_server(size_mib * MIB) as url:
                mine, theirs = run("ours", url), run("baseline", url)
            rows.append(
                RatioRow(
                    f"transfer {size_mib} MiB, peak RSS of the transfer process",
                    f"{mine.peak_rss_bytes / MIB:.0f} MiB "
                    f"(+{(mine.peak_rss_bytes - mine.idle_rss_bytes) / MIB:.0f} MiB over idle)",
                    f"{theirs.peak_rss_bytes / MIB:.0f} MiB "
                    f"(+{(theirs.peak_rss_bytes - theirs.idle_rss_bytes) / MIB:.0f} MiB over idle)",
                    f"{mine.peak_rss_bytes / theirs.peak_rss_bytes:.2f}x",
                    f"idle + {bound // MIB} MiB of parts ((in flight + 1) x part), whatever the size",
                )
            )
    return rows


def arm_key(arm: str) -> str:
    return f"videos/{arm}.mp4"


def run_arm(arm: str, url: str, endpoint: str, *, part_size: int, parts_in_flight: int) -> ArmRun:
    """One copy in a fresh interpreter; it prints what it measured as one JSON line."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.transfer",
        "--arm",
        arm,
        "--url",
        url,
        "--endpoint",
        endpoint,
        "--part-size",
        str(part_size),
        "--parts-in-flight",
        str(parts_in_flight),
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers/videojobs'}", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    out = subprocess.run(  # noqa: S603
        command, env=env, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )
    if out.returncode != 0:  # a copy that failed is no figure: say why
        raise RuntimeError(f"the {arm} arm exited {out.returncode}: {out.stderr.strip()[-2000:]}")
    return ArmRun(**json.loads(out.stdout.strip().splitlines()[-1]))


def copy_ours(url: str, endpoint: str, *, part_size: int, parts_in_flight: int) -> ArmRun:
    from local.aws import aws_client
    from videojobs.adapters.http_source import HttpVideoSource
    from videojobs.adapters.pinned_http import pinned_client
    from videojobs.adapters.s3 import S3VideoStore
    from videojobs.download_policy import HostAllowlist
    from videojobs.logic.transfer import MP4, CheckedStream, check_served_type
    from videojobs.mp4 import Mp4Reader

    store = S3VideoStore(
        aws_client("s3", endpoint), BUCKET, part_size=part_size, parts_in_flight=parts_in_flight
    )
    source = HttpVideoSource(pinned_client(timeout=httpx.Timeout(60.0, connect=10.0), allow_loopback=True))
    policy = HostAllowlist([], allow_loopback=True)
    idle = rss_now()
    started = time.perf_counter()
    with source.open(url, policy) as download:
        check_served_type(download.content_type, MP4)
        stream = CheckedStream(
            download.chunks, kind=MP4, expected_size=download.content_length, reader=Mp4Reader()
        )
        store.upload_stream(arm_key("ours"), stream, content_type=MP4.content_type)
    run = finished(started, stream.size_bytes, idle)
    metadata = stream.metadata
    if (metadata.width, metadata.height) != (SERVED_WIDTH, SERVED_HEIGHT):
        raise SystemExit(f"the reader found {metadata}, not the {SERVED_WIDTH}x{SERVED_HEIGHT} video served")
    return run


class IterReader(io.RawIOBase):
    """An iterator of byte chunks as a raw file; io.BufferedReader on top gives full reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = memoryview(b"")
        self.size_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left:
            self._left = memoryview(next(self._chunks, b""))
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        self.size_bytes += count
        return count


def copy_baseline(url: str, endpoint: str) -> ArmRun:
    from local.aws import aws_client

    s3 = aws_client("s3", endpoint)
    idle = rss_now()
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client, client.stream("GET", url) as response:
        raw = IterReader(response.iter_raw())
        s3.upload_fileobj(io.BufferedReader(raw), BUCKET, arm_key("baseline"))
    return finished(started, raw.size_bytes, idle)


def finished(started: float, size_bytes: int, idle_rss_bytes: int) -> ArmRun:
    seconds = time.perf_counter() - started
    peak = proc_status_bytes("VmHWM")
    return ArmRun(seconds=seconds, size_bytes=size_bytes, peak_rss_bytes=peak, idle_rss_bytes=idle_rss_bytes)


def rss_now() -> int:
    return proc_status_bytes("VmRSS")


def proc_status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status. The peak is VmHWM, not ru_maxrss: Linux
    keeps ru_maxrss across exec, so a child of a big parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, and no 1 GiB run")
    parser.add_argument("--arm", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--part-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parts-in-flight", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm is None:
        sys.path[:0] = [str(ROOT), str(ROOT / "layers/videojobs")]
        print_table(transfer_ratio_rows(args.quick))
        return
    if args.arm == "ours":
        run = copy_ours(
            args.url, args.endpoint, part_size=args.part_size, parts_in_flight=args.parts_in_flight
        )
    else:
        run = copy_baseline(args.url, args.endpoint)
    print(json.dumps(dataclasses.asdict(run)))


if __name__ == "__main__":
    main()
