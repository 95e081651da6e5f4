"""What an MP4 holds, read from its bytes as they stream past (ISO/IEC 14496-12, the ISO base media file
format): no second download, no decoding, no FFmpeg.

`Mp4Reader` walks the top-level boxes as chunks arrive. ``moov`` is kept (up to ``max_moov_bytes``),
whether it comes before ``mdat`` or after it; ``mdat`` is only counted. At the end it answers the
video's `VideoMetadata`, or raises `BrokenOutput` when the file cannot be a whole video: a box cut short,
no ``moov``, no video track, or a sample table that points outside the media data received.

Fragmented files (``moov`` with ``mvex``) keep their samples in ``moof`` boxes, which are not read: their
metadata comes from ``moov`` alone (``fps`` is then unknown) and only the box structure is checked.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from videojobs.errors import BrokenOutput
from videojobs.models import VideoMetadata

MIB = 1024 * 1024
DEFAULT_MAX_MOOV_BYTES = 32 * MIB

_CONTAINERS = frozenset({b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts"})
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


@dataclass
class _Track:
    handler: bytes = b""
    codec: str | None = None
    #: From the visual sample entry; 0 when it has none.
    width: int = 0
    height: int = 0
    #: From tkhd (16.16 fixed point, whole pixels kept): the fallback for width and height.
    display_width: int = 0
    display_height: int = 0
    timescale: int = 0
    duration: int = 0
    sample_count: int = 0
    #: stsz: one size for every sample, or each sample's size.
    uniform_sample_size: int = 0
    sample_sizes: tuple[int, ...] = ()
    #: stsc: (first chunk, samples per chunk), first chunks rising.
    chunk_runs: list[tuple[int, int]] = field(default_factory=list)
    chunk_offsets: tuple[int, ...] = ()

    def chunk_extents(self) -> Iterator[tuple[int, int]]:
        """(file offset, bytes) of each chunk, from stco/co64, stsc and stsz."""
        runs = self.chunk_runs
        if self.chunk_offsets and not runs:
            raise BrokenOutput("the sample table lists chunks but no samples per chunk")
        sample = 0
        run = 0
        for number, offset in enumerate(self.chunk_offsets, start=1):
            while run + 1 < len(runs) and runs[run + 1][0] <= number:
                run += 1
            per_chunk = runs[run][1]
            if self.uniform_sample_size:
                size = per_chunk * self.uniform_sample_size
            else:
                if sample + per_chunk > len(self.sample_sizes):
                    raise BrokenOutput("the sample table lists more samples in chunks than sizes")
                size = sum(self.sample_sizes[sample : sample + per_chunk])
            sample += per_chunk
            yield offset, size


@dataclass
class _Movie:
    timescale: int = 0
    duration: int = 0
    fragment_duration: int = 0
    fragmented: bool = False
    tracks: list[_Track] = field(default_factory=list)

    def track(self, handler: bytes) -> _Track | None:
        return next((track for track in self.tracks if track.handler == handler), None)


class Mp4Reader:
    """Feed it the file's chunks in order, then ask `finish` what the file is."""

    def __init__(self, *, max_moov_bytes: int = DEFAULT_MAX_MOOV_BYTES) -> None:
        self._max_moov_bytes = max_moov_bytes
        #: Bytes of the file seen so far.
        self.received = 0
        self._header = bytearray()
        #: The box being read: its type and the payload bytes still to come (None: to the end of file).
        self._box: bytes | None = None
        self._left: int | None = 0
        self._payload_start = 0
        self._moov: bytearray | None = None
        self._movie: _Movie | None = None
        self._started = False
        #: (start, end) of each mdat payload received, in file order.
        self._media_data: list[tuple[int, int]] = []

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        view = memoryview(chunk)
        position = 0
        while position < len(view):
            if self._box is None:
                position = self._read_header(view, position)
                continue
            take = len(view) - position if self._left is None else min(self._left, len(view) - position)
            if self._moov is not None:
                self._moov += view[position : position + take]
                if len(self._moov) > self._max_moov_bytes:
                    raise BrokenOutput(f"the moov box is larger than {self._max_moov_bytes} bytes")
            position += take
            self.received += take
            if self._left is not None:
                self._left -= take
                if self._left == 0:
                    self._end_box()

    def finish(self) -> VideoMetadata:
        """The video's metadata; BrokenOutput when the file is not a whole video."""
        if self._header:
            raise BrokenOutput(f"the file ends inside a box header, after {self.received} bytes")
        if self._box is not None:
            if self._left is not None:
                declared = self.received - self._payload_start + self._left
                received = self.received - self._payload_start
                raise BrokenOutput(
                    f"the file ends inside its {_name(self._box)} box: {received} of {declared} payload bytes"
                )
            self._end_box()
        if self._movie is None:
            raise BrokenOutput("the file has no moov box")
        return self._metadata(self._movie)

    def _read_header(self, view: memoryview, position: int) -> int:
        """Take header bytes from ``view``; once the header is whole, open its box. Returns the position
        after them."""
        take = min(self._header_length() - len(self._header), len(view) - position)
        self._header += view[position : position + take]
        position += take
        self.received += take
        if len(self._header) < self._header_length():
            return position
        header = bytes(self._header)
        self._header.clear()
        size = _U32.unpack_from(header)[0]
        box = header[4:8]
        if size == 1:
            size = _U64.unpack_from(header, 8)[0]
        if not self._started and box != b"ftyp":
            raise BrokenOutput(f"the file starts with a {_name(box)} box, not ftyp")
        self._started = True
        if size == 0:
            payload: int | None = None  # the box runs to the end of the file
        elif size < len(header):
            raise BrokenOutput(f"a {_name(box)} box declares {size} bytes, less than its own header")
        else:
            payload = size - len(header)
        self._open_box(box, payload)
        if payload == 0:
            self._end_box()
        return position

    def _header_length(self) -> int:
        """8, or 16 once the first 8 bytes say a 64-bit size follows them."""
        return 16 if len(self._header) >= 8 and _U32.unpack_from(self._header)[0] == 1 else 8

    def _open_box(self, box: bytes, payload: int | None) -> None:
        self._box = box
        self._left = payload
        self._payload_start = self.received
        if box == b"moov":
            if self._movie is not None or self._moov is not None:
                raise BrokenOutput("the file has more than one moov box")
            if payload is not None and payload > self._max_moov_bytes:
                raise BrokenOutput(f"the moov box is {payload} bytes, more than {self._max_moov_bytes}")
            self._moov = bytearray()

    def _end_box(self) -> None:
        if self._box == b"mdat":
            self._media_data.append((self._payload_start, self.received))
        elif self._moov is not None:
            moov, self._moov = bytes(self._moov), None
            self._movie = _parse_movie(moov)
        self._box = None

    def _metadata(self, movie: _Movie) -> VideoMetadata:
        video = movie.track(b"vide")
        if video is None:
            raise BrokenOutput("the file has no video track")
        if video.codec is None:
            raise BrokenOutput("the video track has no sample description")
        audio = movie.track(b"soun")
        if not movie.fragmented:
            if video.sample_count == 0:
                raise BrokenOutput("the video track has no samples")
            for track in (video, audio):
                if track is not None:
                    self._check_samples_received(track)
        duration = _seconds(movie.duration, movie.timescale) or _seconds(video.duration, video.timescale)
        if not duration and movie.fragmented:
            duration = _seconds(movie.fragment_duration, movie.timescale)
        video_seconds = _seconds(video.duration, video.timescale)
        fps = round(video.sample_count / video_seconds, 3) if video_seconds and video.sample_count else None
        return VideoMetadata(
            duration_seconds=round(duration, 3),
            width=video.width or video.display_width,
            height=video.height or video.display_height,
            fps=fps,
            video_codec=video.codec,
            audio_codec=audio.codec if audio is not None else None,
            has_audio=audio is not None,
        )

    def _check_samples_received(self, track: _Track) -> None:
        starts = [start for start, _ in self._media_data]
        for offset, size in track.chunk_extents():
            index = bisect.bisect_right(starts, offset) - 1
            if index < 0 or offset + size > self._media_data[index][1]:
                raise BrokenOutput(
                    f"the {_name(track.handler)} track's sample table points at bytes"
                    f" {offset}-{offset + size}, outside the media data received"
                )


def _parse_movie(moov: bytes) -> _Movie:
    movie = _Movie()
    try:
        _read_children(memoryview(moov), movie, None)
    except (struct.error, ValueError, IndexError) as malformed:
        raise BrokenOutput(f"the moov box is malformed: {malformed}") from None
    return movie


def _read_children(data: memoryview, movie: _Movie, track: _Track | None) -> None:
    for box, payload in _boxes(data):
        if box == b"trak":
            track = _Track()
            movie.tracks.append(track)
            _read_children(payload, movie, track)
        elif box in _CONTAINERS:
            if box == b"mvex":
                movie.fragmented = True
            _read_children(payload, movie, track)
        elif box == b"mvhd":
            movie.timescale, movie.duration = _timescale_and_duration(payload)
        elif box == b"mehd":
            movie.fragment_duration = _U64.unpack_from(payload, 4)[0] if payload[0] == 1 else _u32(payload, 4)
        elif track is not None:
            _read_track_box(box, payload, track)


def _read_track_box(box: bytes, payload: memoryview, track: _Track) -> None:
    if box == b"tkhd":
        # After version/flags: times and ids (20 or 32 bytes), 8 reserved, layer, group, volume, 2
        # reserved, the 36-byte matrix, then width and height in 16.16 fixed point.
        dimensions_at = 4 + (32 if payload[0] == 1 else 20) + 52
        track.display_width = _u32(payload, dimensions_at) >> 16
        track.display_height = _u32(payload, dimensions_at + 4) >> 16
    elif box == b"mdhd":
        track.timescale, track.duration = _timescale_and_duration(payload)
    elif box == b"hdlr":
        track.handler = bytes(payload[8:12])
    elif box == b"stsd":
        _read_sample_description(payload, track)
    elif box == b"stts":
        count = _u32(payload, 4)
        entries = struct.unpack_from(f">{2 * count}I", payload, 8)
        track.sample_count = sum(entries[0::2])
    elif box == b"stsz":
        uniform, count = _u32(payload, 4), _u32(payload, 8)
        track.uniform_sample_size = uniform
        if uniform == 0:
            track.sample_sizes = struct.unpack_from(f">{count}I", payload, 12)
    elif box == b"stz2":
        track.sample_sizes = _compact_sizes(payload)
    elif box == b"stsc":
        count = _u32(payload, 4)
        entries = struct.unpack_from(f">{3 * count}I", payload, 8)
        track.chunk_runs = list(zip(entries[0::3], entries[1::3], strict=True))
        firsts = [first for first, _ in track.chunk_runs]
        if any(later <= earlier for earlier, later in itertools.pairwise(firsts)):
            raise BrokenOutput("the sample-to-chunk table is out of order")
    elif box == b"stco":
        track.chunk_offsets = struct.unpack_from(f">{_u32(payload, 4)}I", payload, 8)
    elif box == b"co64":
        track.chunk_offsets = struct.unpack_from(f">{_u32(payload, 4)}Q", payload, 8)


def _read_sample_description(payload: memoryview, track: _Track) -> None:
    """The first sample entry: its 4CC is the codec, and a visual entry carries the coded size."""
    for box, entry in _boxes(payload[8:]):
        track.codec = box.decode("latin-1")
        if track.handler == b"vide":
            # 6 reserved, data reference index, 16 bytes pre-defined and reserved, then width, height.
            track.width, track.height = struct.unpack_from(">HH", entry, 24)
        return


def _compact_sizes(payload: memoryview) -> tuple[int, ...]:
    field_bits, count = payload[7], _u32(payload, 8)
    if field_bits == 16:
        return struct.unpack_from(f">{count}H", payload, 12)
    if field_bits == 8:
        return tuple(payload[12 : 12 + count])
    if field_bits == 4:
        packed = payload[12 : 12 + (count + 1) // 2]
        if len(packed) < (count + 1) // 2:
            raise ValueError("stz2 is shorter than its count")
        nibbles = [nibble for byte in packed for nibble in (byte >> 4, byte & 0x0F)]
        return tuple(nibbles[:count])
    raise ValueError(f"stz2 field size {field_bits}")


def _boxes(data: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """The boxes packed in ``data``: (type, payload). A size of 0 runs to the end of ``data``."""
    position = 0
    while position + 8 <= len(data):
        size = _u32(data, position)
        box = bytes(data[position + 4 : position + 8])
        header = 8
        if size == 1:
            size, header = _U64.unpack_from(data, position + 8)[0], 16
        elif size == 0:
            size = len(data) - position
        if size < header or position + size > len(data):
            raise BrokenOutput(f"a {_name(box)} box inside moov declares {size} bytes, which do not fit")
        yield box, data[position + header : position + size]
        position += size
    if position != len(data) and any(data[position:]):
        raise BrokenOutput("the moov box ends with a partial box")


def _timescale_and_duration(payload: memoryview) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd, after its creation and modification times: 32-bit
    times and duration in version 0, 64-bit in version 1."""
    if payload[0] == 1:
        return _u32(payload, 20), _U64.unpack_from(payload, 24)[0]
    return _u32(payload, 12), _u32(payload, 16)


def _u32(data: memoryview | bytes, at: int) -> int:
    value: int = _U32.unpack_from(data, at)[0]
    return value


def _seconds(duration: int, timescale: int) -> float:
    return duration / timescale if timescale else 0.0


def _name(box: bytes) -> str:
    """A box type for a message: printable 4CCs as they are, others as hex."""
    return box.decode("ascii") if box.isascii() and box.decode("ascii").isprintable() else box.hex()
