"""HJ 212-2017 communication packets on a byte stream, sans I/O: feed bytes in, get frames or bad frames out.

A packet (HJ 212-2017 6.3.1) is ``##`` + the data segment's length as 4 decimal digits + the data
segment + its CRC as 4 hex digits + CR LF. Anything else on the stream is reported as a bad frame with
its raw bytes and a reason; the framer then resynchronises on the next ``##`` (a data segment never
contains ``##``: its fields are separated by ``;``, ``,`` and ``&&``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from daemon.ingest.hj212.crc import crc16

HEADER = b"##"
TRAILER = b"\r\n"
HEADER_BYTES = 6  # "##" + 4 length digits
TAIL_BYTES = 6  # 4 CRC hex digits + CR LF
# HJ 212-2017 6.3.1 gives the data segment 0 to 1024 characters; the 4-digit length field allows 9999.
STANDARD_MAX_DATA_BYTES = 1024
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class FrameProblem(StrEnum):
    """Why bytes on the stream are not a frame. Values are quarantine reasons (metric labels)."""

    GARBAGE = "hj212_garbage"  # bytes outside any packet
    BAD_LENGTH = "hj212_bad_length"  # the 4 length characters are not digits
    TOO_LARGE = "hj212_too_large"  # the announced data segment is longer than allowed
    TRUNCATED = "hj212_truncated"  # the packet ends before its announced length, CRC and CR LF
    CRC_MISMATCH = "hj212_crc_mismatch"  # the CRC does not match the data segment


@dataclass(frozen=True, slots=True)
class Frame:
    """One packet whose CRC matched: its data segment."""

    data: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes that are not a valid packet, with the reason; ``data`` is the data segment when it was found."""

    problem: FrameProblem
    detail: str
    raw: bytes
    data: bytes | None = None


def encode_frame(data: bytes) -> bytes:
    """Wrap a data segment into a packet: header, length, CRC, CR LF."""
    if len(data) > 9999:
        raise ValueError(f"data segment of {len(data)} bytes does not fit the 4-digit length field")
    return b"%s%04d%s%04X\r\n" % (HEADER, len(data), data, crc16(data))


class Framer:
    """Splits one connection's byte stream into frames; keeps at most one packet's worth of bytes."""

    def __init__(self, max_data_bytes: int = STANDARD_MAX_DATA_BYTES) -> None:
        self._max_data = max_data_bytes
        self._max_packet = HEADER_BYTES + max_data_bytes + TAIL_BYTES
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a packet."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[Frame | BadFrame]:
        """Take bytes as they arrived; return every complete frame or bad frame they finish."""
        self._buffer += chunk
        out: list[Frame | BadFrame] = []
        while self._buffer:
            item = self._next()
            if item is None:
                break
            out.append(item)
        return out

    def close(self) -> BadFrame | None:
        """The stream ended: what is left is a truncated packet (or garbage)."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        if not rest:
            return None
        if rest.startswith(HEADER):
            return BadFrame(FrameProblem.TRUNCATED, f"connection ended {len(rest)} bytes into a packet", rest)
        return BadFrame(FrameProblem.GARBAGE, f"{len(rest)} bytes outside a packet at end of stream", rest)

    def _take(self, end: int) -> bytes:
        raw = bytes(self._buffer[:end])
        del self._buffer[:end]
        return raw

    def _next(self) -> Frame | BadFrame | None:
        buffer = self._buffer
        start = buffer.find(HEADER)
        if start > 0:
            return BadFrame(FrameProblem.GARBAGE, f"{start} bytes before a packet header", self._take(start))
        if start < 0:
            # Keep a trailing '#' (it may start the next header); report the rest once it is big enough to
            # matter, so a stream of junk costs bounded memory and a bounded number of quarantine rows.
            keep = 1 if buffer.endswith(b"#") else 0
            if len(buffer) - keep >= self._max_packet:
                return BadFrame(FrameProblem.GARBAGE, "no packet header", self._take(len(buffer) - keep))
            return None
        if len(buffer) < HEADER_BYTES:
            return None
        length_field = bytes(buffer[2:HEADER_BYTES])
        if not _DIGITS.issuperset(length_field):
            return self._bad_until_next_header(FrameProblem.BAD_LENGTH, f"length field {length_field!r}")
        length = int(length_field)
        if length > self._max_data:
            return self._bad_until_next_header(
                FrameProblem.TOO_LARGE, f"data segment of {length} bytes > limit {self._max_data}"
            )
        end = HEADER_BYTES + length + TAIL_BYTES
        next_header = buffer.find(HEADER, 2, end)
        if next_header >= 0:
            # A new packet starts inside this one: this one was cut short (a logger restarted mid-packet).
            return BadFrame(
                FrameProblem.TRUNCATED,
                f"next packet header {next_header} bytes in, {length} data bytes announced",
                self._take(next_header),
            )
        if len(buffer) < end:
            return None
        raw = self._take(end)
        data = raw[HEADER_BYTES : HEADER_BYTES + length]
        crc_field = raw[HEADER_BYTES + length : end - 2]
        if raw[end - 2 :] != TRAILER or not _HEX.issuperset(crc_field):
            return BadFrame(
                FrameProblem.TRUNCATED,
                f"no CRC and CR LF after the {length} announced data bytes (length field wrong?)",
                raw,
                data,
            )
        expected = crc16(data)
        if int(crc_field, 16) != expected:
            return BadFrame(
                FrameProblem.CRC_MISMATCH,
                f"CRC {crc_field.decode()} but the data segment gives {expected:04X}",
                raw,
                data,
            )
        return Frame(data, raw)

    def _bad_until_next_header(self, problem: FrameProblem, detail: str) -> BadFrame | None:
        """A header that cannot be used: the bad frame runs to its CR LF or the next header, whichever comes first.

        A data segment contains neither, so this is where the sender's packet ended; until one arrives
        (within one packet's worth of bytes) the framer waits.
        """
        ends = [found for found in (self._buffer.find(HEADER, 2),) if found >= 0]
        trailer = self._buffer.find(TRAILER, 2)
        if trailer >= 0:
            ends.append(trailer + len(TRAILER))
        if ends:
            return BadFrame(problem, detail, self._take(min(ends)))
        if len(self._buffer) >= self._max_packet:
            return BadFrame(problem, detail, self._take(len(self._buffer)))
        return None
