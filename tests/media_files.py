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
    video_timescale: int | None = None,
    sample_delta: int = 1000,
    chunk_samples: tuple[int, ...] | None = None,
    sizes: str = "stsz",
    stts_entries: int = 1,
    version: int = 0,
    display: tuple[int, int] | None = None,
    movie_timescale: int = MOVIE_TIMESCALE,
    movie_duration: int | None = None,
    video_duration: int | None = None,
) -> Mp4Layout:
    """The parts of an MP4 whose mdat payload is ``payload_size`` bytes, all of it samples.

    The video track: ``video_timescale`` (default fps x 1000) and ``sample_delta`` set its timing,
    ``chunk_samples`` its samples per chunk (default one chunk), ``sizes`` its size table ("stsz",
    "uniform", "stz2-16", "stz2-8" or "stz2-4"), ``stts_entries`` how many runs its stts has, and
    ``display`` its tkhd size (default its sample entry's). ``version`` 1 gives mvhd, tkhd and mdhd
    64-bit times. ``movie_duration`` and ``video_duration`` override mvhd's and mdhd's duration."""
    ftyp = box(FTYP, b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    timescale = video_timescale or fps * 1000
    video_samples = max(1, round(seconds * timescale / sample_delta))
    audio_samples = max(1, round(seconds * AUDIO_RATE / AUDIO_FRAME)) if audio else 0
    video_bytes = payload_size if not audio else payload_size * 3 // 4
    audio_bytes = payload_size - video_bytes
    video_sizes = _spread(video_bytes, video_samples)
    if sizes == "uniform" or sizes.startswith("stz2"):
        limit = {"uniform": 2**32 - 1, "stz2-16": 2**16 - 1, "stz2-8": 255, "stz2-4": 15}[sizes]
        if sizes == "uniform" and video_bytes % video_samples or max(video_sizes) > limit:
            raise ValueError(f"{video_bytes} bytes of video do not fit {video_samples} samples as {sizes}")

    def moov_at(payload_offset: int) -> bytes:
        tracks = [
            _track(
                1,
                b"vide",
                _visual_entry(video_codec, width, height),
                timescale=timescale,
                sample_delta=sample_delta,
                sizes=video_sizes,
                chunk_samples=chunk_samples or (len(video_sizes),),
                chunk_offset=payload_offset,
                display=display or (width, height),
                co64=co64,
                size_table=sizes,
                stts_entries=stts_entries,
                version=version,
                duration=video_duration,
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
                    chunk_samples=(audio_samples,),
                    chunk_offset=payload_offset + video_bytes,
                    display=(0, 0),
                    co64=co64,
                    version=version,
                )
            )
        duration = round(seconds * movie_timescale) if movie_duration is None else movie_duration
        mvhd = full_box(
            b"mvhd",
            _times(version) + _timescale_and_duration(movie_timescale, duration, version) + bytes(80),
            version=version,
        )
        return box(b"moov", mvhd + b"".join(tracks))

    mdat_header = struct.pack(">I", 8 + payload_size) + b"mdat"
    if moov_first:
        size_of_moov = len(moov_at(0))
        moov = moov_at(len(ftyp) + size_of_moov + len(mdat_header))
        return Mp4Layout(ftyp + moov, mdat_header, payload_size, b"")
    return Mp4Layout(ftyp, mdat_header, payload_size, moov_at(len(ftyp) + len(mdat_header)))


def _times(version: int) -> bytes:
    """Creation and modification times."""
    return bytes(16 if version == 1 else 8)


def _timescale_and_duration(timescale: int, duration: int, version: int) -> bytes:
    return struct.pack(">IQ" if version == 1 else ">II", timescale, duration)


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
    chunk_samples: tuple[int, ...],
    chunk_offset: int,
    display: tuple[int, int],
    co64: bool,
    size_table: str = "stsz",
    stts_entries: int = 1,
    version: int = 0,
    duration: int | None = None,
) -> bytes:
    if sum(chunk_samples) != len(sizes):
        raise ValueError(f"chunks of {chunk_samples} samples do not hold {len(sizes)}")
    media_duration = sample_delta * len(sizes) if duration is None else duration
    track_duration = media_duration * MOVIE_TIMESCALE // timescale
    ids = (
        struct.pack(">IIQ", track_id, 0, track_duration)
        if version == 1
        else struct.pack(">III", track_id, 0, track_duration)
    )
    tkhd = full_box(
        b"tkhd",
        _times(version)
        + ids
        + bytes(8 + 2 + 2 + 2 + 2 + 36)
        + struct.pack(">II", display[0] << 16, display[1] << 16),
        version=version,
    )
    mdhd = full_box(
        b"mdhd",
        _times(version) + _timescale_and_duration(timescale, media_duration, version) + bytes(4),
        version=version,
    )
    hdlr = full_box(b"hdlr", bytes(4) + handler + bytes(12) + b"track\x00")
    stsd = full_box(b"stsd", struct.pack(">I", 1) + sample_entry)
    runs = _split(len(sizes), stts_entries)
    stts = full_box(
        b"stts",
        struct.pack(f">I{2 * len(runs)}I", len(runs), *(v for run in runs for v in (run, sample_delta))),
    )
    stsc_runs = _runs(chunk_samples)
    stsc = full_box(
        b"stsc",
        struct.pack(
            f">I{3 * len(stsc_runs)}I",
            len(stsc_runs),
            *(v for first, count in stsc_runs for v in (first, count, 1)),
        ),
    )
    size_box = _size_table(size_table, sizes)
    offsets, at = [], chunk_offset
    start = 0
    for count in chunk_samples:
        offsets.append(at)
        at += sum(sizes[start : start + count])
        start += count
    table = (
        full_box(b"co64", struct.pack(f">I{len(offsets)}Q", len(offsets), *offsets))
        if co64
        else full_box(b"stco", struct.pack(f">I{len(offsets)}I", len(offsets), *offsets))
    )
    stbl = box(b"stbl", stsd + stts + stsc + size_box + table)
    minf = box(b"minf", stbl)
    mdia = box(b"mdia", mdhd + hdlr + minf)
    return box(b"trak", tkhd + mdia)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def _runs(chunk_samples: tuple[int, ...]) -> list[tuple[int, int]]:
    """stsc's (first chunk, samples per chunk): one entry where the count changes."""
    runs: list[tuple[int, int]] = []
    for number, count in enumerate(chunk_samples, start=1):
        if not runs or runs[-1][1] != count:
            runs.append((number, count))
    return runs


def _size_table(kind: str, sizes: list[int]) -> bytes:
    if kind == "uniform":
        return full_box(b"stsz", struct.pack(">II", sizes[0], len(sizes)))
    if kind == "stsz":
        return full_box(b"stsz", struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes))
    bits = int(kind.removeprefix("stz2-"))
    if bits == 16:
        packed = struct.pack(f">{len(sizes)}H", *sizes)
    elif bits == 8:
        packed = bytes(sizes)
    else:
        padded = [*sizes, 0] if len(sizes) % 2 else sizes
        packed = bytes((high << 4) | low for high, low in zip(padded[0::2], padded[1::2], strict=True))
    return full_box(b"stz2", bytes(3) + bytes([bits]) + struct.pack(">I", len(sizes)) + packed)


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
