"""Which resolution class a video's size belongs to (``logic.output_checks``), against the sizes
providers really emit, and the table of them in docs/api.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from videojobs.logic.output_checks import EMITTED_SIZES, resolution_classes
from videojobs.models import Resolution

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.mark.parametrize(("size", "sold_as"), EMITTED_SIZES.items(), ids=lambda value: str(value))
def test_every_size_providers_emit_belongs_to_the_class_it_is_sold_as(
    size: tuple[int, int], sold_as: Resolution
) -> None:
    assert sold_as in resolution_classes(*size)


@pytest.mark.parametrize(
    ("size", "not_sold_as"),
    [
        ((1280, 720), "1080p"),
        ((1280, 720), "480p"),
        ((854, 480), "720p"),
        ((1920, 1080), "720p"),
        ((1920, 1080), "4k"),
        ((3840, 2160), "1080p"),
        ((640, 360), "480p"),
        ((2560, 1440), "1080p"),
        ((2560, 1440), "4k"),
    ],
)
def test_a_size_of_another_class_is_not_taken_for_the_one_asked(
    size: tuple[int, int], not_sold_as: Resolution
) -> None:
    assert not_sold_as not in resolution_classes(*size)


def test_a_square_counts_by_its_short_side_or_by_its_pixels() -> None:
    assert resolution_classes(720, 720) == {"720p"}  # the simulator's 1:1 at 720p: its short side
    assert resolution_classes(640, 640) == {"480p"}  # Seedance's 1:1 at 480p: its pixel count
    assert resolution_classes(960, 960) == {"720p"}


def test_the_api_doc_lists_every_emitted_size_with_its_class() -> None:
    rows = set(re.findall(r"^\| (\d+)x(\d+) \| (480p|720p|1080p|4k) \|", API_DOC.read_text(), re.MULTILINE))

    assert {(str(w), str(h), sold_as) for (w, h), sold_as in EMITTED_SIZES.items()} == rows


@pytest.mark.parametrize(
    ("size", "in_class"),
    [((504, 1200), True), ((505, 1200), False), ((456, 1200), True), ((455, 1200), False)],
)
def test_a_short_side_within_5_percent_of_480_counts_and_one_pixel_more_does_not(
    size: tuple[int, int], in_class: bool
) -> None:
    # 1200 pixels long keeps the pixel count out of every range, so only the short side can place it.
    assert ("480p" in resolution_classes(*size)) is in_class
