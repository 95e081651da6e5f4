"""The streaming PNG reader (``videojobs.png``): the IHDR size of a whole file, a BrokenOutput for any
file that is not whole."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.media_files import PNG_SIGNATURE, png_chunk, png_file
from videojobs.errors import BrokenOutput
from videojobs.models import FrameMetadata
from videojobs.png import PngReader


def read(data: bytes, chunk_size: int = 4096) -> FrameMetadata:
    reader = PngReader()
    for start in range(0, len(data), chunk_size):
        reader.feed(data[start : start + chunk_size])
    return reader.finish()


def refusal(data: bytes) -> str:
    with pytest.raises(BrokenOutput) as refused:
        read(data)
    return str(refused.value)


@pytest.mark.parametrize("chunk_size", [1, 5, 12, 4096])
def test_a_whole_png_gives_its_size_however_it_is_chunked(chunk_size: int) -> None:
    assert read(png_file(854, 480), chunk_size) == FrameMetadata(width=854, height=480)


def test_bytes_after_iend_are_ignored() -> None:
    assert read(png_file(3, 2) + b"trailing") == FrameMetadata(width=3, height=2)


def test_a_png_cut_anywhere_is_refused() -> None:
    data = png_file(64, 36)

    for cut in [0, 4, 8, 12, 20, 33, 40, len(data) - 12, len(data) - 1]:
        assert "IEND" in refusal(data[:cut]) or "IHDR" in refusal(data[:cut]), cut


def test_a_png_without_iend_is_refused() -> None:
    data = png_file(64, 36)

    assert refusal(data[: -len(png_chunk(b"IEND", b""))]) == (
        f"the PNG has no IEND chunk: it ends after {len(data) - 12} bytes"
    )


def test_a_chunk_whose_crc_does_not_match_is_refused() -> None:
    data = bytearray(png_file(64, 36))
    data[45] ^= 0xFF  # inside IDAT's data

    assert refusal(bytes(data)) == "the PNG's IDAT chunk fails its CRC"


def test_a_file_without_the_signature_is_refused() -> None:
    assert refusal(b"GIF89a" + png_file()[6:]) == "the file does not start with the PNG signature"


def test_a_first_chunk_other_than_ihdr_is_refused() -> None:
    data = PNG_SIGNATURE + png_chunk(b"tEXt", b"a\x00b") + png_file()[8:]

    assert refusal(data) == "the PNG's first chunk is not IHDR"


def test_an_ihdr_of_the_wrong_length_or_a_zero_size_is_refused() -> None:
    short_ihdr = PNG_SIGNATURE + png_chunk(b"IHDR", bytes(12))
    zero = PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0))

    assert refusal(short_ihdr) == "the PNG's IHDR chunk is 12 bytes, not 13"
    assert refusal(zero) == "the PNG's IHDR gives a size of 0x5"


def test_a_chunk_longer_than_the_format_allows_is_refused() -> None:
    data = png_file()[:33] + struct.pack(">I", 2**31) + b"IDAT"

    assert refusal(data) == f"a PNG chunk declares {2**31} bytes"


_WHOLE = png_file(8, 4)


@settings(max_examples=300, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, len(_WHOLE) - 1), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, len(_WHOLE)),
    chunk_size=st.integers(1, 64),
)
def test_corrupted_pngs_give_a_size_or_a_refusal_never_another_exception(
    flips: list[tuple[int, int]], cut: int, chunk_size: int
) -> None:
    data = bytearray(_WHOLE[:cut])
    for at, value in flips:
        if at < len(data):
            data[at] = value

    try:
        answer: FrameMetadata | BrokenOutput = read(bytes(data), chunk_size)
    except BrokenOutput as broken:
        answer = broken

    if cut < len(_WHOLE):
        assert isinstance(answer, BrokenOutput)
    elif not flips:
        assert answer == FrameMetadata(width=8, height=4)
