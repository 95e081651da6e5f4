"""The simulator's MP4s are real: right size, right length, right streams, moving pictures."""

from __future__ import annotations

import dataclasses
import io
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from local.simulator import media
from local.simulator.media import (
    PNG_SIGNATURE,
    ClipCache,
    ClipSpec,
    Mp4Box,
    dimensions_for,
    duration_seconds_for,
    encode_png,
    last_frame_png,
    render_mp4,
    resolution_of,
    top_level_boxes,
    write_short_mdat,
)

FPS = 24
ONE_FRAME = 1 / FPS


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "expected"),
    [
        ("480p", "16:9", (854, 480)),
        ("720p", "16:9", (1280, 720)),
        ("720p", "auto", (1280, 720)),
        ("720p", "9:16", (720, 1280)),
        ("480p", "1:1", (480, 480)),
        ("720p", "21:9", (1680, 720)),
        ("480p", "4:3", (640, 480)),
        ("480p", "3:4", (480, 640)),
        ("1080p", "16:9", (1920, 1080)),
        ("4k", "16:9", (3840, 2160)),
    ],
)
def test_dimensions_fix_the_short_side_and_round_the_long_side_to_even(
    resolution: str, aspect_ratio: str, expected: tuple[int, int]
) -> None:
    assert dimensions_for(resolution, aspect_ratio) == expected


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio"), [("360p", "16:9"), ("720p", "wide"), ("720p", "0:1")]
)
def test_dimensions_reject_unknown_tiers_and_ratios(resolution: str, aspect_ratio: str) -> None:
    with pytest.raises(ValueError, match="resolution|aspect ratio"):
        dimensions_for(resolution, aspect_ratio)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(854, 480, "480p"), (480, 854, "480p"), (1680, 720, "720p"), (1920, 1080, "1080p"), (3840, 2160, "4k")],
)
def test_resolution_of_names_the_tier_of_the_short_side(width: int, height: int, expected: str) -> None:
    assert resolution_of(width, height) == expected


def test_auto_duration_is_five_seconds() -> None:
    assert duration_seconds_for("auto") == 5
    assert duration_seconds_for("12") == 12


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    render_mp4(path, width=854, height=480, duration_seconds=4, with_audio=True, fps=FPS)
    return path


def box_kinds(path: Path) -> list[bytes]:
    with path.open("rb") as mp4:
        return [box.kind for box in top_level_boxes(mp4)]


def test_rendered_clip_is_a_faststart_mp4(clip_with_audio: Path) -> None:
    data = clip_with_audio.read_bytes()
    kinds = box_kinds(clip_with_audio)

    assert data[4:8] == b"ftyp"
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "moov must precede mdat (faststart)"
    assert kinds[0] == b"ftyp"
    assert kinds.index(b"moov") < kinds.index(b"mdat")


def test_a_moov_last_clip_puts_moov_after_mdat_and_still_plays(tmp_path: Path) -> None:
    path = tmp_path / "moov-last.mp4"

    render_mp4(path, width=320, height=240, duration_seconds=1, with_audio=True, moov_first=False)

    kinds = box_kinds(path)
    assert kinds[0] == b"ftyp"
    assert kinds.index(b"mdat") < kinds.index(b"moov")
    assert kinds.count(b"moov") == 1
    with av.open(str(path)) as container:
        assert {stream.codec_context.name for stream in container.streams} == {"h264", "aac"}
        assert sum(1 for _ in container.decode(video=0)) == FPS


def test_a_moov_last_render_into_a_file_object_keeps_moov_last() -> None:
    buffer = io.BytesIO()

    render_mp4(buffer, width=320, height=240, duration_seconds=0.5, with_audio=False, moov_first=False)

    kinds = [box.kind for box in top_level_boxes(buffer)]
    assert kinds.index(b"mdat") < kinds.index(b"moov")


def test_rendered_clip_has_requested_size_length_and_streams(clip_with_audio: Path) -> None:
    with av.open(str(clip_with_audio)) as container:
        assert container.duration is not None
        duration = container.duration / av.time_base
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert {stream.codec_context.name for stream in container.streams} == {"h264", "aac"}
        assert (video.codec_context.width, video.codec_context.height) == (854, 480)
        assert video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.sample_rate == 48_000
        assert audio.codec_context.layout.name == "stereo"
        decoded_frames = sum(1 for _ in container.decode(video=0))

    assert abs(duration - 4) <= ONE_FRAME
    assert decoded_frames == 4 * FPS


def test_rendered_clip_moves(clip_with_audio: Path) -> None:
    with av.open(str(clip_with_audio)) as container:
        luma = [
            bytes(frame.planes[0])
            for index, frame in enumerate(container.decode(video=0))
            if index in (0, 48)
        ]

    assert len(luma) == 2
    changed = sum(1 for before, after in zip(luma[0], luma[1], strict=True) if abs(before - after) > 8)
    assert changed > len(luma[0]) // 10, "frames half a clip apart should differ substantially"


def test_silent_clip_has_only_video_and_honours_portrait_size(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"

    render_mp4(path, width=480, height=854, duration_seconds=4, with_audio=False)

    with av.open(str(path)) as container:
        assert [stream.codec_context.name for stream in container.streams] == ["h264"]
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (480, 854)
        assert video.frames == 4 * FPS
        assert video.duration is not None
        assert video.time_base is not None
        assert abs(float(video.duration * video.time_base) - 4) <= ONE_FRAME


def test_render_into_a_file_object() -> None:
    buffer = io.BytesIO()

    render_mp4(buffer, width=320, height=240, duration_seconds=0.5, with_audio=True)

    data = buffer.getvalue()
    assert data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data), mode="r") as container:
        assert {stream.codec_context.name for stream in container.streams} == {"h264", "aac"}
        assert sum(1 for _ in container.decode(video=0)) == 12


@pytest.mark.parametrize(("width", "height", "duration"), [(853, 480, 4.0), (854, 0, 4.0), (854, 480, 0.0)])
def test_render_rejects_odd_sizes_and_empty_clips(
    tmp_path: Path, width: int, height: int, duration: float
) -> None:
    with pytest.raises(ValueError, match="even|at least one frame"):
        render_mp4(
            tmp_path / "bad.mp4", width=width, height=height, duration_seconds=duration, with_audio=False
        )


@pytest.fixture
def counted_renders(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    rendered: list[Path] = []
    real_render: Callable[..., None] = media.render_mp4

    def counting_render(destination: Path, **kwargs: object) -> None:
        rendered.append(destination)
        real_render(destination, **kwargs)

    monkeypatch.setattr(media, "render_mp4", counting_render)
    return rendered


def test_clip_cache_renders_each_spec_once_even_when_asked_concurrently(
    tmp_path: Path, counted_renders: list[Path]
) -> None:
    cache = ClipCache(tmp_path / "cache")
    spec = ClipSpec(width=320, height=240, duration_seconds=4, with_audio=False)
    results: list[media.RenderedClip] = []
    workers = [threading.Thread(target=lambda: results.append(cache.get(spec))) for _ in range(3)]

    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    again = cache.get(spec)

    assert len(counted_renders) == 1
    assert {clip.path for clip in results} == {again.path}
    assert again.size == again.path.stat().st_size
    assert len(again.sha256) == 64
    assert list((tmp_path / "cache").glob("*.partial.mp4")) == []


def test_clip_cache_reuses_files_in_a_shared_directory_and_leaves_it_on_close(
    tmp_path: Path, counted_renders: list[Path]
) -> None:
    spec = ClipSpec(width=320, height=240, duration_seconds=4, with_audio=True)
    first = ClipCache(tmp_path)
    clip = first.get(spec)
    first.close()

    second = ClipCache(tmp_path)
    reused = second.get(spec)

    assert len(counted_renders) == 1
    assert reused == clip
    assert clip.path.exists()


def test_private_clip_cache_removes_its_directory_on_close() -> None:
    cache = ClipCache()
    directory = cache.directory

    cache.close()

    assert not directory.exists()


# -- top-level boxes and the short-mdat copy -------------------------------------------------------------
def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_top_level_boxes_reads_32_bit_64_bit_and_to_the_end_sizes() -> None:
    large = struct.pack(">I4sQ", 1, b"mdat", 16 + 5) + b"12345"
    to_the_end = struct.pack(">I4s", 0, b"free") + b"tail"
    data = box(b"ftyp", b"isom") + large + to_the_end

    boxes = top_level_boxes(io.BytesIO(data))

    assert boxes == [
        Mp4Box(kind=b"ftyp", offset=0, header_size=8, size=12),
        Mp4Box(kind=b"mdat", offset=12, header_size=16, size=21),
        Mp4Box(kind=b"free", offset=33, header_size=8, size=12),
    ]


def test_top_level_boxes_lists_a_box_that_runs_past_the_end_last() -> None:
    data = box(b"ftyp", b"isom") + struct.pack(">I4s", 1000, b"mdat") + b"only a little"

    boxes = top_level_boxes(io.BytesIO(data))

    assert [(b.kind, b.size) for b in boxes] == [(b"ftyp", 12), (b"mdat", 1000)]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(box(b"ftyp", b"isom") + b"moo", id="header-cut-short"),
        pytest.param(struct.pack(">I4s", 4, b"ftyp"), id="smaller-than-its-header"),
        pytest.param(struct.pack(">I4sI", 1, b"mdat", 0), id="large-size-cut-short"),
    ],
)
def test_top_level_boxes_refuses_malformed_boxes(data: bytes) -> None:
    with pytest.raises(ValueError, match="box"):
        top_level_boxes(io.BytesIO(data))


@pytest.mark.parametrize("moov_first", [True, False], ids=["moov-first", "moov-last"])
def test_the_short_mdat_copy_keeps_every_box_but_half_the_media_data(
    tmp_path: Path, moov_first: bool
) -> None:
    full_path, short_path = tmp_path / "full.mp4", tmp_path / "short.mp4"
    render_mp4(full_path, width=320, height=240, duration_seconds=1, with_audio=True, moov_first=moov_first)
    full = full_path.read_bytes()
    with full_path.open("rb") as mp4:
        boxes = {b.kind: b for b in top_level_boxes(mp4)}
    mdat = boxes[b"mdat"]
    payload = mdat.size - mdat.header_size
    payload_start = mdat.offset + mdat.header_size

    write_short_mdat(full_path, short_path)

    short = short_path.read_bytes()
    left_out = payload - payload // 2
    assert short == full[: payload_start + payload // 2] + full[mdat.offset + mdat.size :]
    assert 0 < left_out == len(full) - len(short)
    (declared,) = struct.unpack(">I", short[mdat.offset : mdat.offset + 4])
    assert declared == mdat.size > len(short) - mdat.offset
    moov = boxes[b"moov"]
    moov_in_short = moov.offset if moov_first else moov.offset - left_out
    assert short[moov_in_short : moov_in_short + moov.size] == full[moov.offset : moov.offset + moov.size]
    assert short[moov_in_short + 4 : moov_in_short + 8] == b"moov"


# -- last frames as PNG ---------------------------------------------------------------------------------
def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking each CRC."""
    assert png.startswith(PNG_SIGNATURE)
    chunks, offset = [], len(PNG_SIGNATURE)
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC on {kind!r}"
        chunks.append((kind, data))
        offset += 12 + length
    return chunks


def packed_rgb(frame: av.VideoFrame) -> bytes:
    rgb = frame.reformat(format="rgb24")
    plane, row = rgb.planes[0], rgb.width * 3
    data = bytes(plane)
    return b"".join(data[y * plane.line_size : y * plane.line_size + row] for y in range(rgb.height))


def test_encode_png_writes_a_valid_truecolour_png() -> None:
    width, height = 3, 2
    rgb = bytes(range(width * height * 3))

    png = encode_png(width, height, rgb)

    chunks = png_chunks(png)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (3, 2, 8, 2, 0, 0, 0)
    scanlines = zlib.decompress(chunks[1][1])
    assert scanlines == b"\x00" + rgb[:9] + b"\x00" + rgb[9:]
    assert chunks[2][1] == b""


def test_encode_png_is_decoded_back_to_the_same_pixels() -> None:
    width, height = 20, 10
    rgb = bytes(
        (x * 13 + y * 7 + c * 50) % 256 for y in range(height) for x in range(width) for c in range(3)
    )

    with av.open(io.BytesIO(encode_png(width, height, rgb)), mode="r") as container:
        frame = next(container.decode(video=0))

    assert (frame.width, frame.height) == (width, height)
    assert packed_rgb(frame) == rgb


@pytest.mark.parametrize(("width", "height", "size"), [(2, 2, 11), (0, 2, 0), (2, 2, 13)])
def test_encode_png_refuses_mismatched_pixel_data(width: int, height: int, size: int) -> None:
    with pytest.raises(ValueError, match="rgb24"):
        encode_png(width, height, bytes(size))


def test_last_frame_png_is_the_clips_last_frame(clip_with_audio: Path) -> None:
    with av.open(str(clip_with_audio)) as container:
        frames = list(container.decode(video=0))
    first, last = packed_rgb(frames[0]), packed_rgb(frames[-1])

    png = last_frame_png(clip_with_audio)

    with av.open(io.BytesIO(png), mode="r") as container:
        decoded = next(container.decode(video=0))
    assert (decoded.width, decoded.height) == (854, 480)
    assert packed_rgb(decoded) == last
    assert packed_rgb(decoded) != first


def test_clip_cache_keeps_the_last_frame_beside_the_clip(tmp_path: Path, counted_renders: list[Path]) -> None:
    cache = ClipCache(tmp_path)
    spec = ClipSpec(width=320, height=240, duration_seconds=4, with_audio=False)

    frame = cache.last_frame(spec)
    again = cache.last_frame(spec)

    assert again == frame
    assert len(counted_renders) == 1
    assert frame.path.parent == tmp_path
    assert frame.path.read_bytes() == last_frame_png(cache.get(spec).path)
    assert frame.size == frame.path.stat().st_size
    assert list(tmp_path.glob("*.partial*")) == []


def test_clip_cache_names_moov_first_and_moov_last_clips_apart(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    spec = ClipSpec(width=320, height=240, duration_seconds=1, with_audio=False)

    faststart = cache.get(spec)
    moov_last = cache.get(dataclasses.replace(spec, moov_first=False))

    assert faststart.path != moov_last.path
    assert box_kinds(faststart.path).index(b"moov") < box_kinds(faststart.path).index(b"mdat")
    assert box_kinds(moov_last.path).index(b"mdat") < box_kinds(moov_last.path).index(b"moov")


def test_clip_cache_keeps_one_short_mdat_copy_beside_the_clip(
    tmp_path: Path, counted_renders: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ClipCache(tmp_path)
    spec = ClipSpec(width=320, height=240, duration_seconds=1, with_audio=True)
    copies: list[Path] = []
    real_copy = media.write_short_mdat

    def counting_copy(source: Path, destination: Path) -> None:
        copies.append(destination)
        real_copy(source, destination)

    monkeypatch.setattr(media, "write_short_mdat", counting_copy)

    cut = cache.short_mdat(spec)
    again = cache.short_mdat(spec)

    clip = cache.get(spec)
    assert again == cut
    assert (len(counted_renders), len(copies)) == (1, 1)
    assert cut.path.parent == tmp_path
    assert cut.path != clip.path
    assert cut.size == cut.path.stat().st_size < clip.size
    assert cut.path.read_bytes()[:32] == clip.path.read_bytes()[:32]
    assert list(tmp_path.glob("*.partial*")) == []
