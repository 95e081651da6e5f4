"""The simulator's MP4s are real: right size, right length, right streams, moving pictures."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from local.simulator import media
from local.simulator.media import ClipCache, ClipSpec, dimensions_for, duration_seconds_for, render_mp4

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


def test_auto_duration_is_five_seconds() -> None:
    assert duration_seconds_for("auto") == 5
    assert duration_seconds_for("12") == 12


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    render_mp4(path, width=854, height=480, duration_seconds=4, with_audio=True, fps=FPS)
    return path


def test_rendered_clip_is_a_faststart_mp4(clip_with_audio: Path) -> None:
    data = clip_with_audio.read_bytes()

    assert data[4:8] == b"ftyp"
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "moov must precede mdat (faststart)"


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
