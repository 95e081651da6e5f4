"""What a PNG holds, read from its bytes as they stream past: the size in its IHDR chunk, and whether the
file is whole (every chunk complete with a matching CRC, up to IEND)."""

from __future__ import annotations

import struct
import zlib

from videojobs.errors import BrokenOutput
from videojobs.models import FrameMetadata

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK_HEADER = struct.Struct(">I4s")
#: The PNG specification caps a chunk's length, and an image's width and height, at 2^31 - 1.
_MAX_CHUNK_LENGTH = 2**31 - 1


class PngReader:
    """Feed it the file's chunks in order, then ask `finish` for the image's size."""

    def __init__(self) -> None:
        self.received = 0
        self._pending = bytearray()
        self._signature_checked = False
        #: The chunk being read: its type, the data and CRC bytes still to come, and its running CRC.
        self._chunk: bytes | None = None
        self._left = 0
        self._crc = 0
        self._ihdr = bytearray()
        self._crc_bytes = bytearray()
        self._size: FrameMetadata | None = None
        self._ended = False
        self._opened_a_chunk = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.received += len(view)
        position = 0
        while position < len(view):
            if self._ended:
                return  # bytes after IEND are ignored, as decoders ignore them
            if not self._signature_checked:
                position = self._fill(view, position, len(SIGNATURE))
                if len(self._pending) == len(SIGNATURE):
                    if bytes(self._pending) != SIGNATURE:
                        raise BrokenOutput("the file does not start with the PNG signature")
                    self._pending.clear()
                    self._signature_checked = True
            elif self._chunk is None:
                position = self._fill(view, position, _CHUNK_HEADER.size)
                if len(self._pending) == _CHUNK_HEADER.size:
                    self._open_chunk(bytes(self._pending))
                    self._pending.clear()
            else:
                position = self._read_chunk(view, position)

    def finish(self) -> FrameMetadata:
        if not self._ended:
            raise BrokenOutput(f"the PNG has no IEND chunk: it ends after {self.received} bytes")
        if self._size is None:
            raise BrokenOutput("the PNG ends without a whole IHDR chunk")
        return self._size

    def _fill(self, view: memoryview, position: int, size: int) -> int:
        take = min(size - len(self._pending), len(view) - position)
        self._pending += view[position : position + take]
        return position + take

    def _open_chunk(self, header: bytes) -> None:
        length, chunk = _CHUNK_HEADER.unpack(header)
        if length > _MAX_CHUNK_LENGTH:
            raise BrokenOutput(f"a PNG chunk declares {length} bytes")
        if not self._opened_a_chunk and chunk != b"IHDR":
            raise BrokenOutput("the PNG's first chunk is not IHDR")
        self._opened_a_chunk = True
        if chunk == b"IHDR" and length != 13:
            raise BrokenOutput(f"the PNG's IHDR chunk is {length} bytes, not 13")
        self._chunk = chunk
        self._left = length
        self._crc = zlib.crc32(chunk)

    def _read_chunk(self, view: memoryview, position: int) -> int:
        chunk = self._chunk or b""
        if self._left:
            take = min(self._left, len(view) - position)
            data = view[position : position + take]
            self._crc = zlib.crc32(data, self._crc)
            if chunk == b"IHDR":
                self._ihdr += data
            self._left -= take
            return position + take
        take = min(4 - len(self._crc_bytes), len(view) - position)
        self._crc_bytes += view[position : position + take]
        if len(self._crc_bytes) == 4:
            if struct.unpack(">I", self._crc_bytes)[0] != self._crc:
                raise BrokenOutput(f"the PNG's {chunk.decode('latin-1')} chunk fails its CRC")
            self._close_chunk()
        return position + take

    def _close_chunk(self) -> None:
        if self._chunk == b"IHDR":
            width, height = struct.unpack_from(">II", self._ihdr)
            if not (0 < width <= _MAX_CHUNK_LENGTH and 0 < height <= _MAX_CHUNK_LENGTH):
                raise BrokenOutput(f"the PNG's IHDR gives a size of {width}x{height}")
            self._size = FrameMetadata(width=width, height=height)
        elif self._chunk == b"IEND":
            self._ended = True
        self._chunk = None
        self._crc_bytes.clear()
