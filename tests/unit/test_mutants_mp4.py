"""Tests that bite where `make mutate` found the MP4 and PNG readers' tests too kind: sample tables of
several chunks and runs, each size table, version 1 headers, the fallbacks (tkhd's size, mdhd's and
mehd's durations), exact limits, and boxes of every size inside moov."""

from __future__ import annotations

import struct

import pytest

from tests.media_files import PNG_SIGNATURE, box, full_box, mp4_file, mp4_layout, png_chunk, png_file
from tests.unit.test_mp4_reader import read, refusal
from videojobs.errors import BrokenOutput
from videojobs.models import FrameMetadata
from videojobs.png import PngReader


def with_mdat_shortened(layout_options: dict[str, object], by: int) -> bytes:
    """The file with its mdat declaring and holding ``by`` bytes fewer than its samples need: the last
    chunk then runs past the media data by exactly ``by`` bytes."""
    layout = mp4_layout(moov_first=True, **layout_options)  # type: ignore[arg-type]
    payload = layout.payload_size - by
    return layout.head + struct.pack(">I", 8 + payload) + b"mdat" + bytes(payload)


# -- the sample table ----------------------------------------------------------------------------------

SAMPLE_TABLES = [
    {"audio": False, "chunk_samples": (10, 10, 10, 30, 30, 30), "payload_size": 12_345},
    {"audio": False, "chunk_samples": (1, 2, 3, 4, 5, 105), "payload_size": 9_999},
    {"audio": False, "chunk_samples": (60, 60), "sizes": "uniform", "payload_size": 12_000},
    {"audio": False, "chunk_samples": (40, 40, 40), "sizes": "stz2-16", "payload_size": 30_000},
    {"audio": False, "chunk_samples": (100, 20), "sizes": "stz2-8", "payload_size": 12_001},
    {"audio": False, "chunk_samples": (7, 113), "sizes": "stz2-4", "payload_size": 1_201},
    {"audio": True, "chunk_samples": (30, 90), "payload_size": 8_000, "co64": True},
]


@pytest.mark.parametrize("options", SAMPLE_TABLES, ids=lambda options: str(options))
def test_chunks_that_end_exactly_at_the_end_of_mdat_are_whole_and_one_byte_less_is_not(
    options: dict[str, object],
) -> None:
    assert read(mp4_file(**options)).width == 1280  # type: ignore[arg-type]

    assert "outside the media data received" in refusal(with_mdat_shortened(options, by=1))


def test_samples_in_stsc_beyond_the_size_table_are_refused() -> None:
    data = mp4_file(audio=False, chunk_samples=(60, 60))
    stsc_counts = data.index(b"stsc") + 4 + 4 + 4 + 4  # after version, count, first chunk: samples
    more = struct.pack(">I", 61)

    assert refusal(data[:stsc_counts] + more + data[stsc_counts + 4 :]) == (
        "the sample table lists more samples in chunks than sizes"
    )


def test_chunks_without_a_sample_to_chunk_table_are_refused() -> None:
    data = mp4_file(audio=False)
    stsc_count = data.index(b"stsc") + 8

    assert refusal(data[:stsc_count] + struct.pack(">I", 0) + data[stsc_count + 4 :]) == (
        "the sample table lists chunks but no samples per chunk"
    )


def test_two_stsc_entries_for_the_same_first_chunk_are_out_of_order() -> None:
    data = mp4_file(audio=False, chunk_samples=(10, 20, 90))
    second_first_chunk = data.index(b"stsc") + 8 + 4 + 12

    assert refusal(data[:second_first_chunk] + struct.pack(">I", 1) + data[second_first_chunk + 4 :]) == (
        "the sample-to-chunk table is out of order"
    )


def test_an_stts_of_several_runs_counts_every_sample() -> None:
    assert read(mp4_file(stts_entries=3, seconds=5, fps=24)).fps == 24.0


def test_a_compact_size_table_of_another_field_size_is_malformed() -> None:
    data = mp4_file(audio=False, sizes="stz2-8", payload_size=1_000)
    field_size = data.index(b"stz2") + 4 + 4 + 3  # after the type, version and flags, 3 reserved bytes

    assert refusal(data[:field_size] + bytes([12]) + data[field_size + 1 :]).startswith(
        "the moov box is malformed"
    )


def test_a_compact_4_bit_table_shorter_than_its_count_is_malformed() -> None:
    data = mp4_file(audio=False, sizes="stz2-4", payload_size=1_201)
    count = data.index(b"stz2") + 4 + 4 + 4

    assert refusal(data[:count] + struct.pack(">I", 10_000) + data[count + 4 :]).startswith(
        "the moov box is malformed"
    )


# -- headers, versions and fallbacks ------------------------------------------------------------------


def test_version_1_headers_give_the_same_metadata() -> None:
    assert read(mp4_file(version=1)) == read(mp4_file(version=0))
    assert read(mp4_file(version=1, seconds=7)).duration_seconds == 7.0


def test_an_ntsc_frame_rate_and_a_duration_in_thousandths_are_kept_to_three_decimals() -> None:
    metadata = read(
        mp4_file(
            seconds=5,
            video_timescale=24_000,
            sample_delta=1001,
            movie_duration=5_0417,
            movie_timescale=10_000,
        )
    )

    assert metadata.fps == 23.976
    assert metadata.duration_seconds == 5.042


def test_the_sample_entry_size_wins_over_tkhd_and_tkhd_stands_in_when_the_entry_has_none() -> None:
    anamorphic = read(mp4_file(width=1440, height=1080, display=(1920, 1080)))
    no_entry_size = read(mp4_file(width=0, height=0, display=(1280, 720)))

    assert (anamorphic.width, anamorphic.height) == (1440, 1080)
    assert (no_entry_size.width, no_entry_size.height) == (1280, 720)


def test_tkhd_version_1_puts_the_size_after_64_bit_times() -> None:
    metadata = read(mp4_file(width=0, height=0, display=(854, 480), version=1))

    assert (metadata.width, metadata.height) == (854, 480)


def test_without_an_mvhd_duration_the_video_tracks_duration_counts() -> None:
    assert read(mp4_file(seconds=6, movie_duration=0)).duration_seconds == 6.0
    assert read(mp4_file(seconds=6, movie_timescale=0)).duration_seconds == 6.0


def test_without_a_video_duration_fps_is_unknown() -> None:
    metadata = read(mp4_file(seconds=4, video_duration=0))

    assert metadata.fps is None
    assert metadata.duration_seconds == 4.0


@pytest.mark.parametrize("version", [0, 1])
def test_a_fragmented_file_without_durations_takes_mehds(version: int) -> None:
    layout = mp4_layout(moov_first=False, payload_size=100, movie_duration=0, video_duration=0)
    without_samples = layout.tail.replace(b"stco", b"free").replace(b"stts", b"free")
    mehd_duration = struct.pack(">Q", 9_500) if version == 1 else struct.pack(">I", 9_500)
    mvex = box(b"mvex", full_box(b"mehd", mehd_duration, version=version))
    data = layout.head + layout.mdat_header + bytes(100) + box(b"moov", without_samples[8:] + mvex)

    assert read(data).duration_seconds == 9.5


# -- boxes inside moov --------------------------------------------------------------------------------


def moov_with(extra: bytes) -> bytes:
    """A whole file (moov last) with ``extra`` appended inside its moov box."""
    layout = mp4_layout(moov_first=False, payload_size=500)
    moov_payload = layout.tail[8:] + extra
    return (
        layout.head
        + layout.mdat_header
        + bytes(500)
        + struct.pack(">I", 8 + len(moov_payload))
        + b"moov"
        + moov_payload
    )


def test_an_empty_box_at_the_end_of_moov_is_read_as_a_box() -> None:
    assert read(moov_with(box(b"free", b""))).width == 1280


def test_a_64_bit_box_inside_moov_is_skipped_whole() -> None:
    wide = struct.pack(">I", 1) + b"free" + struct.pack(">Q", 16 + 3) + b"abc"

    assert read(moov_with(wide)).width == 1280
    assert "do not fit" in refusal(
        moov_with(struct.pack(">I", 1) + b"free" + struct.pack(">Q", 16 + 4) + b"abc")
    )


def test_a_box_of_size_0_inside_moov_runs_to_its_end() -> None:
    assert read(moov_with(struct.pack(">I", 0) + b"free" + b"anything")).width == 1280


def test_trailing_zeros_in_moov_are_padding_and_other_trailing_bytes_are_not() -> None:
    assert read(moov_with(bytes(4))).width == 1280
    assert refusal(moov_with(b"\x00\x00\x01\x00")) == "the moov box ends with a partial box"


# -- top-level boxes and limits -----------------------------------------------------------------------


def test_empty_and_one_byte_top_level_boxes_are_stepped_over() -> None:
    layout = mp4_layout(moov_first=False, payload_size=500)
    shift = 8 + 9
    tail = layout.tail
    for track in (0, 1):
        at = -1
        for _ in range(track + 1):
            at = tail.index(b"stco", at + 1)
        at += 12
        tail = tail[:at] + struct.pack(">I", struct.unpack_from(">I", tail, at)[0] + shift) + tail[at + 4 :]
    data = layout.head + box(b"free", b"") + box(b"skip", b"x") + layout.mdat_header + bytes(500) + tail

    for chunk_size in (1, 7, 1 << 20):
        assert read(data, chunk_size=chunk_size).width == 1280


def test_an_mdat_of_size_0_still_checks_the_samples_against_the_bytes_received() -> None:
    layout = mp4_layout(moov_first=True, payload_size=3000)
    open_ended = layout.head + struct.pack(">I", 0) + b"mdat"

    assert read(open_ended + bytes(3000), chunk_size=1000).width == 1280
    assert "outside the media data received" in refusal(open_ended + bytes(2999), chunk_size=1000)


def test_a_moov_of_exactly_the_limit_is_kept() -> None:
    data = mp4_file(moov_first=True)
    moov_payload = struct.unpack_from(">I", data, 32)[0] - 8

    assert read(data, max_moov_bytes=moov_payload).width == 1280
    assert "more than" in refusal(data, max_moov_bytes=moov_payload - 1)


def test_a_size_0_moov_over_the_limit_is_refused_as_it_grows() -> None:
    layout = mp4_layout(moov_first=False, payload_size=100)
    open_moov = layout.head + layout.mdat_header + bytes(100) + struct.pack(">I", 0) + layout.tail[4:]
    limit = len(layout.tail) - 8

    assert read(open_moov, max_moov_bytes=limit).width == 1280
    assert refusal(open_moov, max_moov_bytes=limit - 1) == f"the moov box is larger than {limit - 1} bytes"


# -- PNG -----------------------------------------------------------------------------------------------


def png_read(data: bytes, chunk_size: int) -> FrameMetadata:
    reader = PngReader()
    for start in range(0, len(data), chunk_size):
        reader.feed(data[start : start + chunk_size])
    return reader.finish()


def png_refusal(data: bytes, chunk_size: int = 4096) -> str:
    with pytest.raises(BrokenOutput) as refused:
        png_read(data, chunk_size)
    return str(refused.value)


def test_a_cut_png_says_how_many_bytes_came_however_they_were_chunked() -> None:
    data = png_file(16, 9)[:-12]

    assert png_refusal(data, chunk_size=5) == f"the PNG has no IEND chunk: it ends after {len(data)} bytes"


def test_a_chunk_of_exactly_the_largest_length_is_not_refused_for_its_length() -> None:
    data = png_file()[:33] + struct.pack(">I", 2**31 - 1) + b"IDAT" + b"\x00" * 10

    assert png_refusal(data).startswith("the PNG has no IEND chunk")


@pytest.mark.parametrize(("width", "height"), [(5, 0), (0, 5), (2**31, 5), (5, 2**32 - 1)])
def test_an_ihdr_size_outside_the_specification_is_refused(width: int, height: int) -> None:
    data = PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))

    assert png_refusal(data) == f"the PNG's IHDR gives a size of {width}x{height}"


def test_the_largest_png_size_the_specification_allows_is_read() -> None:
    reader = PngReader()
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 2**31 - 1, 1, 8, 0, 0, 0, 0))
    reader.feed(PNG_SIGNATURE + ihdr + png_chunk(b"IEND", b""))

    assert reader.finish() == FrameMetadata(width=2**31 - 1, height=1)


def test_fps_is_kept_to_three_decimals_and_no_more() -> None:
    # 1000 / 41 = 24.3902...: three decimals give 24.39, four would give 24.3902.
    assert read(mp4_file(seconds=5, video_timescale=1000, sample_delta=41)).fps == 24.39


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 2**31 - 1)])
def test_the_smallest_and_tallest_pngs_the_specification_allows_are_read(width: int, height: int) -> None:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))

    assert png_read(PNG_SIGNATURE + ihdr + png_chunk(b"IEND", b""), 4096) == FrameMetadata(
        width=width, height=height
    )
