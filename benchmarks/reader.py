"""What reading the MP4's structure costs the transfer, beside the sha256 it already pays.

`Mp4Reader` alone, in this process: a valid MP4 (``tests.media_files.mp4_layout``, 1280x720, 10 min at
24 fps, so a moov of about 170 KB as a real file of that size would carry) is fed in 64 KiB chunks and
in 1 MiB chunks, moov first and moov last, and only the feeds and ``finish`` are timed. The chunks are
built before the clock starts; the mdat's are one filler object handed over again and again, so
nothing but the reader (and the loop feeding it) is timed. sha256 over the same chunks, timed the same
way, stands beside it for scale: the transfer hashes every byte, while the reader only counts mdat.

1 GiB is fed in every pass, quick or not; each figure is the median of 5 passes (3 when quick), a reader
pass and a sha256 pass taking turns, in seconds per GiB. `python -m benchmarks.reader [--quick]` prints
the table; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

from benchmarks.table import RatioRow, print_table

ROOT = Path(__file__).resolve().parent.parent
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
CHUNK_SIZES = (64 * KIB, MIB)
SECONDS, FPS = 600, 24


def file_chunks(size: int, chunk_size: int, *, moov_first: bool) -> list[bytes]:
    """A valid MP4 of ``size`` bytes cut in ``chunk_size`` pieces (the last one shorter), as it would
    stream: the pieces wholly inside the mdat's payload are all one filler object, so the list is small
    whatever the size."""
    from benchmarks.transfer import mp4_parts

    layout = mp4_parts(size, moov_first=moov_first, seconds=SECONDS, fps=FPS)
    head = layout.head + layout.mdat_header
    payload_end = len(head) + layout.payload_size
    filler = bytes(chunk_size)

    def piece(start: int, end: int) -> bytes:
        if len(head) <= start and end <= payload_end:
            return filler if end - start == chunk_size else filler[: end - start]
        zeros = max(0, min(end, payload_end) - max(start, len(head)))
        tail = layout.tail[max(0, start - payload_end) : max(0, end - payload_end)]
        return head[start:end] + bytes(zeros) + tail

    chunks = [piece(start, min(start + chunk_size, size)) for start in range(0, size, chunk_size)]
    assert sum(len(chunk) for chunk in chunks) == size
    return chunks


def reader_seconds(chunks: list[bytes]) -> float:
    from videojobs.mp4 import Mp4Reader

    reader = Mp4Reader()
    started = time.perf_counter()
    for chunk in chunks:
        reader.feed(chunk)
    metadata = reader.finish()
    elapsed = time.perf_counter() - started
    assert (metadata.width, metadata.height, metadata.duration_seconds) == (1280, 720, SECONDS), metadata
    return elapsed


def sha256_seconds(chunks: list[bytes]) -> float:
    digest = hashlib.sha256()
    started = time.perf_counter()
    for chunk in chunks:
        digest.update(chunk)
    digest.hexdigest()
    return time.perf_counter() - started


def reader_ratio_rows(quick: bool = False) -> list[RatioRow]:
    """The reader's seconds per GiB and sha256's, for each layout and chunk size."""
    size, passes = GIB, 3 if quick else 5
    rows: list[RatioRow] = []
    for moov_first in (True, False):
        for chunk_size in CHUNK_SIZES:
            chunks = file_chunks(size, chunk_size, moov_first=moov_first)
            timed = [(reader_seconds(chunks), sha256_seconds(chunks)) for _ in range(passes)]  # alternating
            reader = statistics.median(pair[0] for pair in timed) * GIB / size
            sha256 = statistics.median(pair[1] for pair in timed) * GIB / size
            chunk = f"{chunk_size // KIB} KiB" if chunk_size < MIB else f"{chunk_size // MIB} MiB"
            rows.append(
                RatioRow(
                    f"Mp4Reader alone, moov {'first' if moov_first else 'last'}, {chunk} chunks "
                    f"({size / GIB:g} GiB fed), median of {passes}",
                    f"{reader:.4f} s/GiB",
                    f"sha256 {sha256:.3f} s/GiB, same chunks",
                    f"{reader / sha256:.3f}x",
                    "none (the transfer pays both per byte)",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 passes instead of 5")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "layers/videojobs")]
    print_table(reader_ratio_rows(args.quick))


if __name__ == "__main__":
    main()
