"""The columnar recording form for long, fast replays: decoded readings in chunks of numpy arrays.

Layout: ``MAGIC``, then frames. Each frame is a little-endian u32 length, that many bytes of JSON, then the
arrays the JSON announces. The first frame is the header (same keys as a JSON Lines header plus ``sensor_ids``).
Every later frame is a chunk: ``n`` readings as raw int32 sensor / float64 time / float64 value / uint16 flags
arrays, then (when the frame says ``"rx": true``) a float64 array of each reading's receive time, the receive-time
span, and the raw messages of the same span that are not plain readings (device status, malformed input) so they
still go through the codec on replay. Readings are in canonical units, exactly what the codec produced (or, for the
simulator, what it would produce), in receive order. The receive times let a replay batch the readings exactly as
the live service batched the messages that carried them; files without them are replayed with each reading
received at its own time.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from daemon.drills.recording import FORMAT_NAME, FORMAT_VERSION, RecordedMessage, RecordingError, message_line
from daemon.drills.recording import parse_message as parse_message_line
from detectors.readings import ReadingBatch

MAGIC = b"HZCOL1\n"
_LENGTH = struct.Struct("<I")
_FIELDS: tuple[tuple[str, type[np.generic]], ...] = (
    ("sensor", np.int32),
    ("time", np.float64),
    ("value", np.float64),
    ("flags", np.uint16),
)


def is_columnar(path: Path) -> bool:
    """Whether the file starts with the columnar magic."""
    with path.open("rb") as file:
        return file.read(len(MAGIC)) == MAGIC


@dataclass(frozen=True, slots=True)
class Chunk:
    """Readings and raw messages received in ``[first_received, last_received]``."""

    readings: ReadingBatch
    messages: list[RecordedMessage]
    first_received: float
    last_received: float
    received: NDArray[np.float64]  # per reading, non-decreasing


class ColumnarWriter:
    """Appends chunks to a columnar recording."""

    def __init__(self, path: Path, source: str, sensor_ids: Sequence[str], **header: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("wb")
        self._file.write(MAGIC)
        head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "source": source, "sensor_ids": list(sensor_ids)}
        head.update({k: v for k, v in header.items() if v is not None})
        self._frame(head)
        self.readings = 0

    def __enter__(self) -> ColumnarWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _frame(self, meta: dict[str, Any]) -> None:
        body = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()
        self._file.write(_LENGTH.pack(len(body)))
        self._file.write(body)

    def write_chunk(
        self,
        readings: ReadingBatch,
        messages: Sequence[RecordedMessage],
        first_received: float,
        last_received: float,
        received: NDArray[np.float64] | None = None,
    ) -> None:
        """Append one chunk; ``received`` is each reading's receive time (non-decreasing), when known."""
        lines = [message_line(m.received, m.topic, m.payload) for m in messages]
        meta: dict[str, Any] = {"n": len(readings), "t0": first_received, "t1": last_received, "messages": lines}
        if received is not None:
            if len(received) != len(readings):
                raise ValueError("one receive time per reading")
            if len(received) > 1 and bool(np.any(np.diff(received) < 0)):
                raise ValueError("readings must be written in receive order")
            meta["rx"] = True
        self._frame(meta)
        for name, dtype in _FIELDS:
            self._file.write(np.ascontiguousarray(getattr(readings, name), dtype).tobytes())
        if received is not None:
            self._file.write(np.ascontiguousarray(received, np.float64).tobytes())
        self.readings += len(readings)

    def close(self) -> None:
        """Flush and close."""
        if not self._file.closed:
            self._file.close()


class ColumnarReader:
    """Streams chunks from a columnar recording, one chunk in memory at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = path.open("rb")
        try:
            header = self._read_header()
        except BaseException:
            self._file.close()
            raise
        self.header: dict[str, Any] = header
        self.sensor_ids: list[str] = list(header["sensor_ids"])

    def __enter__(self) -> ColumnarReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def _read_header(self) -> dict[str, Any]:
        if self._file.read(len(MAGIC)) != MAGIC:
            raise RecordingError(f"{self.path}: not a columnar hazwatch recording")
        header = self._read_meta()
        if header is None or header.get("version") != FORMAT_VERSION:
            raise RecordingError(f"{self.path}: missing header or unsupported version")
        return header

    def _read_meta(self) -> dict[str, Any] | None:
        raw = self._file.read(_LENGTH.size)
        if not raw:
            return None
        if len(raw) != _LENGTH.size:
            raise RecordingError(f"{self.path}: truncated frame length")
        (length,) = _LENGTH.unpack(raw)
        body = self._file.read(length)
        if len(body) != length:
            raise RecordingError(f"{self.path}: truncated frame")
        meta: dict[str, Any] = json.loads(body)
        return meta

    def __iter__(self) -> Iterator[Chunk]:
        while (meta := self._read_meta()) is not None:
            n = int(meta["n"])
            arrays = [self._read_array(n, dtype) for _, dtype in _FIELDS]
            batch = ReadingBatch(*arrays)
            if meta.get("rx"):
                received = self._read_array(n, np.float64)
            else:  # an older file: each reading received at its own time, in that order
                order = np.argsort(batch.time, kind="stable")
                batch = batch.take(order)
                received = batch.time
            messages = [parse_message_line(line, self.path, 0) for line in meta["messages"]]
            messages.sort(key=lambda m: m.received)
            yield Chunk(batch, messages, float(meta["t0"]), float(meta["t1"]), received)

    def _read_array(self, n: int, dtype: type[np.generic]) -> NDArray[Any]:
        size = n * np.dtype(dtype).itemsize
        raw = self._file.read(size)
        if len(raw) != size:
            raise RecordingError(f"{self.path}: truncated chunk")
        return np.frombuffer(raw, dtype)
