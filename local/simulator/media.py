"""Real, playable MP4 clips for the provider simulator.

Frames are built directly in yuv420p plane buffers (no numpy): a scrolling luma ramp over static colour
bars, a bouncing box, and a progress bar along the bottom edge that grows with time, so a viewer can see
both motion and how far into the clip a frame is. Audio is a quiet stereo sine tone.

A clip's last frame can be had as a real PNG (`last_frame_png`): decoded with PyAV, converted to rgb24 and
written by a tiny PNG encoder (`encode_png`, zlib and struct only).

Clips are faststart MP4s (``moov`` before ``mdat``) unless a `ClipSpec` says otherwise (``moov_first``).
`top_level_boxes` walks an MP4's top-level ISO BMFF boxes; `write_short_mdat` copies a clip with half of
its media data left out (what the ``short_mdat_downloads`` fault serves).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import struct
import tempfile
import threading
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
from av.container import OutputContainer

AUDIO_SAMPLE_RATE = 48_000
AUDIO_FRAME_SAMPLES = 1024
# 48000 / 375 = 128 samples per period; 1024 is a multiple of both tone periods below, so one buffer of
# samples repeats seamlessly for the whole clip.
AUDIO_TONES_HZ = (375.0, 750.0)
AUDIO_AMPLITUDE = 0.2

SHORT_SIDE_BY_RESOLUTION = {"480p": 480, "720p": 720, "1080p": 1080, "4k": 2160}
AUTO_ASPECT_RATIO = "16:9"
AUTO_DURATION_SECONDS = 5

_LUMA_RAMP_PERIOD = 256
_LUMA_SCROLL_PER_FRAME = 6
# (Cb, Cr) of the classic colour bars: white, yellow, cyan, green, magenta, red, blue, black.
_BAR_CHROMA = ((128, 128), (16, 146), (166, 16), (54, 34), (202, 222), (90, 240), (240, 110), (128, 128))
_BOX_LUMA = 235
_BOX_CHROMA = (90, 240)
_PROGRESS_LUMA = 235
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_RGB_8BIT = (
    8,
    2,
    0,
    0,
    0,
)  # bit depth, colour type truecolour, deflate, adaptive filtering, no interlace


@dataclass(frozen=True)
class ClipSpec:
    """What a clip looks like: its size, length, whether it has a sound track, and whether its ``moov``
    box comes before its ``mdat`` (faststart, the default) or after it (plain MP4 muxing)."""

    width: int
    height: int
    duration_seconds: int
    with_audio: bool
    moov_first: bool = True


@dataclass(frozen=True)
class RenderedClip:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class RenderedFrame:
    path: Path
    size: int


@dataclass(frozen=True)
class Mp4Box:
    """One top-level ISO BMFF box: its four-character type, where it starts, the length of its header
    (8, or 16 with a 64-bit size) and its size, header included, as the file declares it."""

    kind: bytes
    offset: int
    header_size: int
    size: int


def dimensions_for(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for a resolution tier and an "W:H" ratio; the short side is fixed by the tier."""
    try:
        short_side = SHORT_SIDE_BY_RESOLUTION[resolution]
    except KeyError:
        raise ValueError(f"unknown resolution {resolution!r}") from None
    ratio = AUTO_ASPECT_RATIO if aspect_ratio == "auto" else aspect_ratio
    ratio_width, ratio_height = _parse_ratio(ratio)
    if ratio_width >= ratio_height:
        return _round_to_even(short_side * ratio_width / ratio_height), short_side
    return short_side, _round_to_even(short_side * ratio_height / ratio_width)


def duration_seconds_for(duration: str) -> int:
    return AUTO_DURATION_SECONDS if duration == "auto" else int(duration)


def resolution_of(width: int, height: int) -> str:
    """The resolution tier whose short side is nearest a clip's (its own tier, for any size
    `dimensions_for` gives)."""
    short_side = min(width, height)
    return min(SHORT_SIDE_BY_RESOLUTION, key=lambda tier: abs(SHORT_SIDE_BY_RESOLUTION[tier] - short_side))


def render_mp4(
    destination: str | Path | BinaryIO,
    *,
    width: int,
    height: int,
    duration_seconds: float,
    with_audio: bool,
    fps: int = 24,
    moov_first: bool = True,
) -> None:
    """Encode an H.264 (+ AAC stereo when with_audio) MP4 of exactly round(duration * fps) frames; its
    ``moov`` box before the ``mdat`` (faststart) when `moov_first`, after it otherwise."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    frame_count = round(duration_seconds * fps)
    if frame_count <= 0:
        raise ValueError(f"duration must cover at least one frame, got {duration_seconds}")

    if not isinstance(destination, str | Path):
        # The faststart pass re-opens the output by name, so file objects get a copy of a named temp file.
        with tempfile.TemporaryDirectory(prefix="seedance-sim-render-") as scratch:
            scratch_path = Path(scratch) / "clip.mp4"
            render_mp4(
                scratch_path,
                width=width,
                height=height,
                duration_seconds=duration_seconds,
                with_audio=with_audio,
                fps=fps,
                moov_first=moov_first,
            )
            with scratch_path.open("rb") as rendered:
                shutil.copyfileobj(rendered, destination)
        return

    muxer_options = {"movflags": "+faststart"} if moov_first else {}
    with av.open(str(destination), mode="w", format="mp4", options=muxer_options) as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "30"})
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        tone = (
            _ToneTrack(container, total_samples=frame_count * AUDIO_SAMPLE_RATE // fps)
            if with_audio
            else None
        )

        painter = _FramePainter(width, height, frame_count)
        frame_time_base = Fraction(1, fps)
        for index in range(frame_count):
            frame = painter.paint(index)
            frame.pts = index
            frame.time_base = frame_time_base
            container.mux(video.encode(frame))
            if tone is not None:
                # Keep audio in step with video so the muxer never buffers a whole stream to interleave.
                tone.mux_until((index + 1) * AUDIO_SAMPLE_RATE // fps)
        container.mux(video.encode(None))
        if tone is not None:
            tone.finish()


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit truecolour PNG of `rgb`: `height` rows of ``width * 3`` bytes, top row first."""
    row_size = width * 3
    if width <= 0 or height <= 0 or len(rgb) != row_size * height:
        raise ValueError(f"expected {row_size * height} bytes of rgb24 for {width}x{height}, got {len(rgb)}")
    # Filter type 0 (None) on every row: each scanline is prefixed with a zero byte.
    scanlines = b"".join(b"\x00" + rgb[row * row_size : (row + 1) * row_size] for row in range(height))
    header = struct.pack(">II5B", width, height, *_PNG_RGB_8BIT)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(scanlines, 6))
        + _png_chunk(b"IEND", b"")
    )


def last_frame_png(video: str | Path) -> bytes:
    """The last video frame of `video` as a PNG."""
    width, height, rgb = last_frame_rgb(video)
    return encode_png(width, height, rgb)


def last_frame_rgb(video: str | Path) -> tuple[int, int, bytes]:
    """(width, height, packed rgb24 bytes) of the last video frame of `video`."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if stream.duration is not None and stream.time_base is not None:
            # Start from the key frame a second before the end; decoding on from there still ends on
            # the last frame, so a seek that lands early only costs time.
            with contextlib.suppress(av.FFmpegError):
                container.seek(max(0, stream.duration - int(1 / stream.time_base)), stream=stream)
        last: av.VideoFrame | None = None
        for frame in container.decode(stream):
            last = frame
        if last is None:
            raise ValueError(f"{video} has no video frames")
        rgb = last.reformat(format="rgb24")
    plane = rgb.planes[0]
    row_size = rgb.width * 3
    data = bytes(plane)
    if plane.line_size == row_size:
        return rgb.width, rgb.height, data
    packed = b"".join(
        data[row * plane.line_size : row * plane.line_size + row_size] for row in range(rgb.height)
    )
    return rgb.width, rgb.height, packed


def top_level_boxes(mp4: BinaryIO) -> list[Mp4Box]:
    """The top-level boxes of the MP4 in `mp4` (a seekable binary file), in file order.

    A box whose declared size reaches past the end of the file is the last one listed. A 32-bit size of 1
    means a 64-bit size follows the type; 0 means the box runs to the end of the file. ValueError for a
    size smaller than the box's header or a header cut short by the end of the file."""
    end = mp4.seek(0, os.SEEK_END)
    boxes: list[Mp4Box] = []
    offset = 0
    while offset < end:
        mp4.seek(offset)
        header = mp4.read(8)
        if len(header) < 8:
            raise ValueError(f"box header cut short at offset {offset}")
        size, kind = struct.unpack(">I4s", header)
        header_size = 8
        if size == 1:
            large_size = mp4.read(8)
            if len(large_size) < 8:
                raise ValueError(f"64-bit size of box {kind!r} cut short at offset {offset}")
            (size,) = struct.unpack(">Q", large_size)
            header_size = 16
        elif size == 0:
            size = end - offset
        if size < header_size:
            raise ValueError(f"box {kind!r} at offset {offset} declares {size} bytes, less than its header")
        boxes.append(Mp4Box(kind=kind, offset=offset, header_size=header_size, size=size))
        offset += size
    return boxes


def write_short_mdat(source: Path, destination: Path) -> None:
    """Copy the MP4 `source` to `destination` with each ``mdat`` box's header unchanged (so it still
    declares its full size) but only the first half of its payload; every other top-level box is copied
    whole, in its place (a ``moov`` after the ``mdat`` follows the cut payload)."""
    with source.open("rb") as original, destination.open("wb") as cut:
        for box in top_level_boxes(original):
            kept = box.size
            if box.kind == b"mdat":
                kept = box.header_size + (box.size - box.header_size) // 2
            original.seek(box.offset)
            remaining = kept
            while remaining > 0:
                chunk = original.read(min(1 << 20, remaining))
                if not chunk:
                    raise ValueError(f"{source} ends inside box {box.kind!r} at offset {box.offset}")
                cut.write(chunk)
                remaining -= len(chunk)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class ClipCache:
    """Renders each distinct ClipSpec once and hands out the same file afterwards.

    Files live in `directory`; when none is given a private temp dir is created and removed by close().
    """

    def __init__(self, directory: Path | None = None, *, fps: int = 24) -> None:
        self._owns_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="seedance-sim-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fps = fps
        self._guard = threading.Lock()
        self._key_locks: dict[ClipSpec, threading.Lock] = {}
        self._rendered: dict[ClipSpec, RenderedClip] = {}
        self._short_mdat: dict[ClipSpec, RenderedClip] = {}

    def get(self, spec: ClipSpec) -> RenderedClip:
        with self._guard:
            key_lock = self._key_locks.setdefault(spec, threading.Lock())
        with key_lock:
            cached = self._rendered.get(spec)
            if cached is not None and cached.path.exists():
                return cached
            clip = self._load_or_render(spec)
            with self._guard:
                self._rendered[spec] = clip
            return clip

    def last_frame(self, spec: ClipSpec) -> RenderedFrame:
        """The last frame of the clip for `spec` as a PNG file (rendering the clip first if need be)."""
        clip = self.get(spec)
        with self._guard:
            key_lock = self._key_locks.setdefault(spec, threading.Lock())
        with key_lock:
            path = clip.path.with_name(clip.path.stem + "-last.png")
            if not path.exists():
                png = last_frame_png(clip.path)
                self._write_atomically(path, lambda partial: partial.write_bytes(png))
            return RenderedFrame(path=path, size=path.stat().st_size)

    def short_mdat(self, spec: ClipSpec) -> RenderedClip:
        """The clip for `spec` with half of its media data left out (`write_short_mdat`), kept beside the
        clip (rendering the clip first if need be)."""
        clip = self.get(spec)
        with self._guard:
            key_lock = self._key_locks.setdefault(spec, threading.Lock())
        with key_lock:
            cached = self._short_mdat.get(spec)
            if cached is not None and cached.path.exists():
                return cached
            path = clip.path.with_name(clip.path.stem + "-short-mdat.mp4")
            if not path.exists():
                self._write_atomically(path, lambda partial: write_short_mdat(clip.path, partial))
            cut = RenderedClip(path=path, sha256=_sha256_of(path), size=path.stat().st_size)
            with self._guard:
                self._short_mdat[spec] = cut
            return cut

    def close(self) -> None:
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _load_or_render(self, spec: ClipSpec) -> RenderedClip:
        audio_tag = "audio" if spec.with_audio else "silent"
        moov_tag = "" if spec.moov_first else "-moov-last"
        path = self.directory / (
            f"{spec.width}x{spec.height}-{spec.duration_seconds}s-{audio_tag}-{self._fps}fps{moov_tag}.mp4"
        )
        if not path.exists():
            self._write_atomically(
                path,
                lambda partial: render_mp4(
                    partial,
                    width=spec.width,
                    height=spec.height,
                    duration_seconds=spec.duration_seconds,
                    with_audio=spec.with_audio,
                    fps=self._fps,
                    moov_first=spec.moov_first,
                ),
            )
        return RenderedClip(path=path, sha256=_sha256_of(path), size=path.stat().st_size)

    def _write_atomically(self, path: Path, write: Callable[[Path], object]) -> None:
        # Write beside the final name and rename, so a shared cache dir never exposes half a file.
        fd, partial_name = tempfile.mkstemp(dir=self.directory, suffix=f".partial{path.suffix}")
        os.close(fd)
        partial = Path(partial_name)
        try:
            write(partial)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)


class _FramePainter:
    def __init__(self, width: int, height: int, frame_count: int) -> None:
        self._width = width
        self._height = height
        self._frame_count = frame_count
        template = av.VideoFrame(width, height, "yuv420p")
        self._luma_stride = template.planes[0].line_size
        self._chroma_stride = template.planes[1].line_size
        self._chroma_height = template.planes[1].height
        self._luma_ramp = bytes(
            16 + abs(2 * (i % _LUMA_RAMP_PERIOD) - _LUMA_RAMP_PERIOD) * 219 // _LUMA_RAMP_PERIOD
            for i in range(self._luma_stride + _LUMA_RAMP_PERIOD)
        )
        chroma_width = width // 2
        self._cb_row, self._cr_row = (
            bytes(
                _BAR_CHROMA[min(x * len(_BAR_CHROMA) // chroma_width, len(_BAR_CHROMA) - 1)][component]
                if x < chroma_width
                else 128
                for x in range(self._chroma_stride)
            )
            for component in (0, 1)
        )
        self._box_side = max(2, (min(width, height) // 4) & ~1)
        self._progress_height = max(2, (height // 24) & ~1)

    def paint(self, index: int) -> av.VideoFrame:
        frame = av.VideoFrame(self._width, self._height, "yuv420p")
        luma = self._paint_luma(index)
        cb = bytearray(self._cb_row * self._chroma_height)
        cr = bytearray(self._cr_row * self._chroma_height)
        box_x, box_y = self._box_origin(index)
        box_chroma_side = self._box_side // 2
        for plane, value in ((cb, _BOX_CHROMA[0]), (cr, _BOX_CHROMA[1])):
            self._fill(
                plane, self._chroma_stride, box_x // 2, box_y // 2, box_chroma_side, box_chroma_side, value
            )
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(bytes(cb))
        frame.planes[2].update(bytes(cr))
        return frame

    def _paint_luma(self, index: int) -> bytearray:
        offset = (index * _LUMA_SCROLL_PER_FRAME) % _LUMA_RAMP_PERIOD
        row = self._luma_ramp[offset : offset + self._luma_stride]
        luma = bytearray(row * self._height)
        box_x, box_y = self._box_origin(index)
        self._fill(luma, self._luma_stride, box_x, box_y, self._box_side, self._box_side, _BOX_LUMA)
        progress_width = max(1, self._width * (index + 1) // self._frame_count)
        self._fill(
            luma,
            self._luma_stride,
            0,
            self._height - self._progress_height,
            progress_width,
            self._progress_height,
            _PROGRESS_LUMA,
        )
        return luma

    def _box_origin(self, index: int) -> tuple[int, int]:
        travel_x = self._width - self._box_side
        travel_y = self._height - self._box_side - self._progress_height
        # Triangle wave horizontally, sine vertically: even coordinates keep chroma aligned with luma.
        step = (index * 8) % (2 * travel_x) if travel_x > 0 else 0
        x = step if step <= travel_x else 2 * travel_x - step
        y = int((travel_y / 2) * (1 + math.sin(index / 12)))
        return x & ~1, max(0, y) & ~1

    @staticmethod
    def _fill(plane: bytearray, stride: int, x: int, y: int, width: int, height: int, value: int) -> None:
        run = bytes([value]) * width
        for row in range(y, y + height):
            start = row * stride + x
            plane[start : start + width] = run


class _ToneTrack:
    def __init__(self, container: OutputContainer, *, total_samples: int) -> None:
        self._container = container
        self._stream = container.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout="stereo")
        self._stream.bit_rate = 96_000
        self._total_samples = total_samples
        self._muxed_samples = 0
        self._channel_buffers = [
            array(
                "f",
                (
                    AUDIO_AMPLITUDE * math.sin(2 * math.pi * tone_hz * n / AUDIO_SAMPLE_RATE)
                    for n in range(AUDIO_FRAME_SAMPLES)
                ),
            ).tobytes()
            for tone_hz in AUDIO_TONES_HZ
        ]

    def mux_until(self, sample_position: int) -> None:
        target = min(sample_position, self._total_samples)
        while self._muxed_samples < target:
            sample_count = min(AUDIO_FRAME_SAMPLES, self._total_samples - self._muxed_samples)
            self._container.mux(self._stream.encode(self._frame(self._muxed_samples, sample_count)))
            self._muxed_samples += sample_count

    def finish(self) -> None:
        self.mux_until(self._total_samples)
        self._container.mux(self._stream.encode(None))

    def _frame(self, start: int, sample_count: int) -> av.AudioFrame:
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=sample_count)
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
        for plane, buffer in zip(frame.planes, self._channel_buffers, strict=True):
            # Planes may be padded beyond sample_count * 4 bytes; the padding is filled with silence.
            data = buffer[: sample_count * 4]
            plane.update(data + bytes(plane.buffer_size - len(data)))
        return frame


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_ratio(ratio: str) -> tuple[int, int]:
    parts = ratio.split(":")
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"aspect ratio must look like 'W:H', got {ratio!r}")
    return int(parts[0]), int(parts[1])


def _round_to_even(value: float) -> int:
    return 2 * round(value / 2)
