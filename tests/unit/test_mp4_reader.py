"""The streaming MP4 reader (``videojobs.mp4``): right metadata from whole files, and a BrokenOutput,
never another exception, from cut and corrupted ones."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.simulator.media import dimensions_for, render_mp4, top_level_boxes
from tests.media_files import box, full_box, mp4_file, mp4_layout
from videojobs.errors import BrokenOutput
from videojobs.models import VideoMetadata
from videojobs.mp4 import Mp4Reader


def read(
    data: bytes, *, chunk_size: int = 64 * 1024, max_moov_bytes: int = 32 * 1024 * 1024
) -> VideoMetadata:
    reader = Mp4Reader(max_moov_bytes=max_moov_bytes)
    for start in range(0, len(data), chunk_size):
        reader.feed(data[start : start + chunk_size])
    return reader.finish()


def refusal(data: bytes, **options: int) -> str:
    with pytest.raises(BrokenOutput) as refused:
        read(data, **options)
    return str(refused.value)


def patched(data: bytes, at: int, replacement: bytes) -> bytes:
    return data[:at] + replacement + data[at + len(replacement) :]


def entry_offset(data: bytes, kind: bytes, occurrence: int = 0) -> int:
    """Where the first table entry of the ``occurrence``-th ``kind`` full box starts (after its
    version, flags and entry count)."""
    at = -1
    for _ in range(occurrence + 1):
        at = data.index(kind, at + 1)
    return at + 4 + 4 + 4


# -- whole files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("moov_first", [True, False])
@pytest.mark.parametrize("audio", [True, False])
@pytest.mark.parametrize("co64", [True, False])
def test_a_whole_file_gives_its_metadata_wherever_moov_is(moov_first: bool, audio: bool, co64: bool) -> None:
    data = mp4_file(width=1248, height=704, seconds=6, fps=25, audio=audio, moov_first=moov_first, co64=co64)

    metadata = read(data)

    assert metadata == VideoMetadata(
        duration_seconds=6.0,
        width=1248,
        height=704,
        fps=25.0,
        video_codec="avc1",
        audio_codec="mp4a" if audio else None,
        has_audio=audio,
    )


@pytest.mark.parametrize("chunk_size", [1, 3, 8, 13, 1000, 1 << 20])
def test_the_answer_does_not_depend_on_how_the_bytes_are_chunked(chunk_size: int) -> None:
    data = mp4_file(width=854, height=480, seconds=4, moov_first=False, payload_size=9000)

    assert read(data, chunk_size=chunk_size) == read(data, chunk_size=len(data))


def test_the_codec_is_the_sample_entry_4cc() -> None:
    metadata = read(mp4_file(video_codec=b"hvc1", audio_codec=b"Opus"))

    assert (metadata.video_codec, metadata.audio_codec) == ("hvc1", "Opus")


def test_a_64_bit_mdat_size_is_read() -> None:
    layout = mp4_layout(moov_first=False, payload_size=5000)
    large_header = struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 16 + layout.payload_size)
    # The chunk offsets in moov counted an 8-byte mdat header; the 16-byte one moves the samples by 8.
    tail = layout.tail
    for track in (0, 1):
        at = entry_offset(tail, b"stco", track)
        tail = patched(tail, at, struct.pack(">I", struct.unpack_from(">I", tail, at)[0] + 8))

    metadata = read(layout.head + large_header + bytes(layout.payload_size) + tail)

    assert (metadata.width, metadata.has_audio) == (1280, True)
    assert "outside the media data" in refusal(
        layout.head + large_header + bytes(layout.payload_size) + layout.tail
    )


def test_an_mdat_of_size_0_runs_to_the_end_of_the_file() -> None:
    layout = mp4_layout(moov_first=True, payload_size=3000)
    data = layout.head + struct.pack(">I", 0) + b"mdat" + bytes(layout.payload_size)

    assert read(data).duration_seconds == 5.0


def test_a_fragmented_file_gives_what_its_moov_says_without_fps() -> None:
    layout = mp4_layout(moov_first=False, payload_size=100)
    # A fragmented file's moov lists no samples (they are in moof boxes), and its mvex says so.
    without_samples = layout.tail.replace(b"stco", b"free").replace(b"stts", b"free")
    mvex = box(b"mvex", full_box(b"mehd", struct.pack(">I", 7000)) + full_box(b"trex", bytes(20)))
    moov = box(b"moov", without_samples[8:] + mvex)

    metadata = read(layout.head + layout.mdat_header + bytes(100) + moov)

    assert (metadata.width, metadata.height, metadata.duration_seconds) == (1280, 720, 5.0)
    assert metadata.fps is None
    assert "no samples" in refusal(
        layout.head + layout.mdat_header + bytes(100) + box(b"moov", without_samples[8:])
    )


# -- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("moov_first", [True, False])
def test_a_file_cut_anywhere_is_refused(moov_first: bool) -> None:
    data = mp4_file(moov_first=moov_first, payload_size=20_000)

    for cut in [1, 7, 8, 20, 31, 40, 200, 1000, len(data) // 2, len(data) - 100, len(data) - 1]:
        message = refusal(data[:cut])
        assert "ends inside" in message or "no moov" in message, (cut, message)


def test_a_cut_mdat_behind_an_intact_moov_is_refused_even_when_the_length_was_right() -> None:
    layout = mp4_layout(moov_first=True, payload_size=10_000)
    served = layout.head + layout.mdat_header + bytes(layout.payload_size // 2)

    assert refusal(served) == "the file ends inside its mdat box: 5000 of 10000 payload bytes"


def test_a_file_without_moov_is_refused() -> None:
    layout = mp4_layout(moov_first=False, payload_size=500)

    assert refusal(layout.head + layout.mdat_header + bytes(500)) == "the file has no moov box"


def test_a_file_without_a_video_track_is_refused() -> None:
    data = mp4_file(audio=True).replace(b"vide", b"text", 1)

    assert refusal(data) == "the file has no video track"


@pytest.mark.parametrize("table", [b"stco", b"co64"])
def test_a_sample_table_pointing_past_the_bytes_received_is_refused(table: bytes) -> None:
    data = mp4_file(moov_first=True, payload_size=4000, co64=table == b"co64")
    at = entry_offset(data, table)
    past_the_end = struct.pack(">Q" if table == b"co64" else ">I", len(data) + 100)

    assert "outside the media data received" in refusal(patched(data, at, past_the_end))


def test_a_sample_table_pointing_outside_mdat_is_refused() -> None:
    data = mp4_file(moov_first=True, payload_size=4000)
    at = entry_offset(data, b"stco")

    assert "outside the media data received" in refusal(patched(data, at, struct.pack(">I", 0)))


def test_samples_larger_than_the_media_data_are_refused() -> None:
    data = mp4_file(moov_first=True, audio=False, payload_size=4000)
    first_size = entry_offset(data, b"stsz") + 4  # stsz has a uniform size before its count

    assert "outside the media data received" in refusal(patched(data, first_size, struct.pack(">I", 999_999)))


def test_a_box_size_smaller_than_its_header_is_refused() -> None:
    layout = mp4_layout(moov_first=False, payload_size=10)
    data = layout.head + struct.pack(">I", 4) + b"mdat" + bytes(10)

    assert refusal(data) == "a mdat box declares 4 bytes, less than its own header"


def test_a_box_size_of_0_before_moov_swallows_it() -> None:
    layout = mp4_layout(moov_first=False, payload_size=100)
    data = layout.head + struct.pack(">I", 0) + b"mdat" + bytes(100) + layout.tail

    assert refusal(data) == "the file has no moov box"


def test_a_box_size_of_2_to_the_64_minus_1_is_refused() -> None:
    layout = mp4_layout(moov_first=True, payload_size=100)
    huge = struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 2**64 - 1)

    assert "ends inside its mdat box" in refusal(layout.head + huge + bytes(100))


def test_a_moov_declaring_2_to_the_64_minus_1_bytes_is_refused_at_once() -> None:
    ftyp = mp4_layout().head[:32]
    reader = Mp4Reader()

    with pytest.raises(BrokenOutput, match="more than"):
        reader.feed(ftyp + struct.pack(">I", 1) + b"moov" + struct.pack(">Q", 2**64 - 1))


def test_a_moov_larger_than_the_limit_is_refused() -> None:
    data = mp4_file(moov_first=True, seconds=60)

    assert "more than 1024" in refusal(data, max_moov_bytes=1024)


def test_a_box_inside_moov_that_does_not_fit_is_refused() -> None:
    data = mp4_file(moov_first=True)
    trak_at = data.index(b"trak") - 4

    assert "do not fit" in refusal(patched(data, trak_at, struct.pack(">I", 2**32 - 1)))


def test_a_file_not_starting_with_ftyp_is_refused() -> None:
    assert refusal(box(b"free", bytes(8)) + mp4_file()) == "the file starts with a free box, not ftyp"


def test_two_moov_boxes_are_refused() -> None:
    layout = mp4_layout(moov_first=True)
    moov = layout.head[32:]

    assert refusal(layout.head + moov + layout.mdat_header) == "the file has more than one moov box"


def test_a_video_track_without_samples_is_refused() -> None:
    data = mp4_file(audio=False)
    stts_count = data.index(b"stts") + 8

    assert refusal(patched(data, stts_count, struct.pack(">I", 0))) == "the video track has no samples"


# -- never anything but BrokenOutput --------------------------------------------------------------------

_WHOLE = mp4_file(moov_first=True, payload_size=600, seconds=1)
_WHOLE_MOOV_LAST = mp4_file(moov_first=False, payload_size=600, seconds=1)


def _answer(chunks: Iterable[bytes]) -> VideoMetadata | BrokenOutput:
    reader = Mp4Reader(max_moov_bytes=64 * 1024)
    try:
        for chunk in chunks:
            reader.feed(chunk)
        return reader.finish()
    except BrokenOutput as broken:
        return broken


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from([_WHOLE, _WHOLE_MOOV_LAST]),
    flips=st.lists(st.tuples(st.integers(0, len(_WHOLE) - 1), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, len(_WHOLE)),
    chunk_size=st.integers(1, 512),
)
def test_corrupted_files_give_metadata_or_a_refusal_never_another_exception(
    source: bytes, flips: list[tuple[int, int]], cut: int, chunk_size: int
) -> None:
    data = bytearray(source[:cut])
    for at, value in flips:
        if at < len(data):
            data[at] = value

    answer = _answer(bytes(data[start : start + chunk_size]) for start in range(0, len(data), chunk_size))

    assert isinstance(answer, VideoMetadata | BrokenOutput)
    if cut < len(source) and not flips:
        assert isinstance(answer, BrokenOutput)


# -- files the simulator renders --------------------------------------------------------------------------


@pytest.mark.parametrize("moov_first", [True, False], ids=["moov-first", "moov-last"])
@pytest.mark.parametrize("with_audio", [True, False], ids=["audio", "silent"])
@pytest.mark.parametrize("resolution", ["480p", "720p", "1080p", "4k"])
def test_every_clip_the_simulator_renders_reads_as_rendered(
    resolution: str, with_audio: bool, moov_first: bool
) -> None:
    width, height = dimensions_for(resolution, "16:9")
    rendered = io.BytesIO()
    render_mp4(
        rendered, width=width, height=height, duration_seconds=1, with_audio=with_audio, moov_first=moov_first
    )
    data = rendered.getvalue()
    order = [box.kind for box in top_level_boxes(io.BytesIO(data))]
    assert (order.index(b"moov") < order.index(b"mdat")) is moov_first

    metadata = read(data, chunk_size=16 * 1024)

    assert metadata == VideoMetadata(
        duration_seconds=1.0,
        width=width,
        height=height,
        fps=24.0,
        video_codec="avc1",
        audio_codec="mp4a" if with_audio else None,
        has_audio=with_audio,
    )
    mdat = next(box for box in top_level_boxes(io.BytesIO(data)) if box.kind == b"mdat")
    cut_in_mdat = data[: mdat.offset + mdat.size // 2] + (
        data[mdat.offset + mdat.size :] if not moov_first else b""
    )
    assert "ends inside its mdat box" in refusal(cut_in_mdat)
