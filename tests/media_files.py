"""MP4 and PNG files built piece by piece for tests: whole ones, and the pieces to cut or corrupt.

`mp4_file` lays out ftyp, moov (a video track, an audio track if asked) and mdat, with a sample table
that covers the media data exactly: the video's samples first, then the audio's. The media bytes are
filler; nothing here decodes. `box` and `full_box` build single boxes for hand-made damage.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

FTYP = b"ftyp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MOVIE_TIMESCALE = 1000
AUDIO_RATE = 48_000
AUDIO_FRAME = 1024


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, payload: bytes, *, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


@dataclass(frozen=True)
class Mp4Layout:
    """The file's parts: join ``head`` (ftyp, and moov when it comes first), the mdat header, its
    payload, then ``tail`` (moov when it comes last)."""

    head: bytes
    mdat_header: bytes
    payload_size: int
    tail: bytes

    def whole(self, filler: int = 0x5A) -> bytes:
        return self.head + self.mdat_header + bytes([filler]) * self.payload_size + self.tail


def mp4_layout(
    *,
    width: int = 1280,
    height: int = 720,
    seconds: float = 5.0,
    fps: int = 24,
    audio: bool = True,
    moov_first: bool = True,
    payload_size: int = 4096,
    video_codec: bytes = b"avc1",
    audio_codec: bytes = b"mp4a",
    co64: bool = False,
) -> Mp4Layout:
    """The parts of an MP4 whose mdat payload is ``payload_size`` bytes, all of it samples."""
    ftyp = box(FTYP, b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    video_samples = max(1, round(seconds * fps))
    audio_samples = max(1, round(seconds * AUDIO_RATE / AUDIO_FRAME)) if audio else 0
    video_bytes = payload_size if not audio else payload_size * 3 // 4
    audio_bytes = payload_size - video_bytes

    def moov_at(payload_offset: int) -> bytes:
        tracks = [
            _track(
                1,
                b"vide",
                _visual_entry(video_codec, width, height),
                timescale=fps * 1000,
                sample_delta=1000,
                sizes=_spread(video_bytes, video_samples),
                chunk_offset=payload_offset,
                width=width,
                height=height,
                co64=co64,
            )
        ]
        if audio:
            tracks.append(
                _track(
                    2,
                    b"soun",
                    _audio_entry(audio_codec),
                    timescale=AUDIO_RATE,
                    sample_delta=AUDIO_FRAME,
                    sizes=_spread(audio_bytes, audio_samples),
                    chunk_offset=payload_offset + video_bytes,
                    width=0,
                    height=0,
                    co64=co64,
                )
            )
        mvhd = full_box(
            b"mvhd",
            struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, round(seconds * MOVIE_TIMESCALE)) + bytes(80),
        )
        return box(b"moov", mvhd + b"".join(tracks))

    mdat_header = struct.pack(">I", 8 + payload_size) + b"mdat"
    if moov_first:
        size_of_moov = len(moov_at(0))
        moov = moov_at(len(ftyp) + size_of_moov + len(mdat_header))
        return Mp4Layout(ftyp + moov, mdat_header, payload_size, b"")
    return Mp4Layout(ftyp, mdat_header, payload_size, moov_at(len(ftyp) + len(mdat_header)))


def mp4_file(**options: Any) -> bytes:
    """A whole MP4 (see `mp4_layout` for the options)."""
    return mp4_layout(**options).whole()


def mp4_of_size(total: int, **options: Any) -> bytes:
    """A whole MP4 of exactly ``total`` bytes (moov first)."""
    overhead = len(mp4_file(payload_size=0, **options))
    return mp4_file(payload_size=total - overhead, **options)


def _spread(total: int, count: int) -> list[int]:
    """``count`` sample sizes adding up to ``total``."""
    base, extra = divmod(total, count)
    return [base + (1 if index < extra else 0) for index in range(count)]


def _track(
    track_id: int,
    handler: bytes,
    sample_entry: bytes,
    *,
    timescale: int,
    sample_delta: int,
    sizes: list[int],
    chunk_offset: int,
    width: int,
    height: int,
    co64: bool,
) -> bytes:
    duration = sample_delta * len(sizes)
    tkhd = full_box(
        b"tkhd",
        struct.pack(">IIIII", 0, 0, track_id, 0, duration * MOVIE_TIMESCALE // timescale)
        + bytes(8 + 2 + 2 + 2 + 2 + 36)
        + struct.pack(">II", width << 16, height << 16),
    )
    mdhd = full_box(b"mdhd", struct.pack(">IIII", 0, 0, timescale, duration) + bytes(4))
    hdlr = full_box(b"hdlr", bytes(4) + handler + bytes(12) + b"track\x00")
    stsd = full_box(b"stsd", struct.pack(">I", 1) + sample_entry)
    stts = full_box(b"stts", struct.pack(">III", 1, len(sizes), sample_delta))
    stsc = full_box(b"stsc", struct.pack(">IIII", 1, 1, len(sizes), 1))
    stsz = full_box(b"stsz", struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes))
    offsets = (
        full_box(b"co64", struct.pack(">IQ", 1, chunk_offset))
        if co64
        else full_box(b"stco", struct.pack(">II", 1, chunk_offset))
    )
    stbl = box(b"stbl", stsd + stts + stsc + stsz + offsets)
    minf = box(b"minf", stbl)
    mdia = box(b"mdia", mdhd + hdlr + minf)
    return box(b"trak", tkhd + mdia)


def _visual_entry(codec: bytes, width: int, height: int) -> bytes:
    return box(
        codec, bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", width, height) + bytes(50)
    )


def _audio_entry(codec: bytes) -> bytes:
    return box(
        codec,
        bytes(6) + struct.pack(">H", 1) + bytes(8) + struct.pack(">HHHHI", 2, 16, 0, 0, AUDIO_RATE << 16),
    )


def png_file(width: int = 64, height: int = 36) -> bytes:
    """A whole 8-bit grey PNG of ``width`` x ``height``, every pixel mid-grey."""
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
