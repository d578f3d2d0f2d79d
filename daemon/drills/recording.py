"""The recording format: JSON Lines of what arrived (receive time, topic, payload as sent), after one header line.

A payload that is valid UTF-8 is stored as text (``payload``); anything else as base64 (``payload_b64``), so a
recording replays byte for byte. The header names the format version and, for simulated recordings, the ground
truth of what happened.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from daemon.errors import HazwatchError

log = logging.getLogger(__name__)

FORMAT_NAME = "hazwatch-recording"
FORMAT_VERSION = 1


class RecordingError(HazwatchError):
    """A recording file cannot be read."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One MQTT message as it arrived."""

    received: float
    topic: str
    payload: bytes


def header_line(source: str, *, site: str | None = None, ground_truth: dict[str, Any] | None = None) -> str:
    """The first line of a recording: format, version, where it came from and any ground truth."""
    header: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "source": source}
    if site is not None:
        header["site"] = site
    if ground_truth is not None:
        header["ground_truth"] = ground_truth
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False) + "\n"


def message_line(received: float, topic: str, payload: bytes) -> str:
    """One message as a JSON line; base64 when the payload is not UTF-8."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        body = {"t": received, "topic": topic, "payload_b64": base64.b64encode(payload).decode("ascii")}
    else:
        body = {"t": received, "topic": topic, "payload": text}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"


def parse_header(line: str, path: Path) -> dict[str, Any]:
    """Validate and return the header of a recording."""
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise RecordingError(f"{path}:1: header is not JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise RecordingError(f"{path}:1: not a hazwatch recording (no format={FORMAT_NAME!r} header)")
    if header.get("version") != FORMAT_VERSION:
        raise RecordingError(f"{path}:1: recording version {header.get('version')!r}, this hazwatch reads 1")
    return header


def parse_message(line: str, path: Path, number: int) -> RecordedMessage:
    """One message line back into bytes."""
    try:
        body = json.loads(line)
        received = float(body["t"])
        topic = body["topic"]
        if "payload" in body:
            payload = body["payload"].encode("utf-8")
        else:
            payload = base64.b64decode(body["payload_b64"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordingError(f"{path}:{number}: bad message line: {exc}") from exc
    if not isinstance(topic, str):
        raise RecordingError(f"{path}:{number}: topic is not a string")
    return RecordedMessage(received, topic, payload)


class RecordingReader:
    """Streams a recording line by line (never loads the file whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open(encoding="utf-8", newline="\n")
        first = self._file.readline()
        if not first:
            self._file.close()
            raise RecordingError(f"{path}: empty file")
        try:
            self.header = parse_header(first, path)
        except RecordingError:
            self._file.close()
            raise

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __iter__(self) -> Iterator[RecordedMessage]:
        for number, line in enumerate(self._file, start=2):
            if line.strip():
                yield parse_message(line, self.path, number)


class RecordingWriter:
    """Writes one recording file."""

    def __init__(
        self, path: Path, source: str, *, site: str | None = None, ground_truth: dict[str, Any] | None = None
    ) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self._file.write(header_line(source, site=site, ground_truth=ground_truth))
        self.messages = 0

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, received: float, topic: str, payload: bytes) -> None:
        """Append one message."""
        self._file.write(message_line(received, topic, payload))
        self.messages += 1

    def write_line(self, line: str) -> None:
        """Append a message line already formatted by ``message_line`` (the simulator's fast path)."""
        self._file.write(line)
        self.messages += 1

    def flush(self) -> None:
        """Push buffered lines to the OS."""
        self._file.flush()

    def size(self) -> int:
        """Bytes written so far."""
        return self._file.tell()

    def close(self) -> None:
        """Flush and close."""
        if not self._file.closed:
            self._file.close()


class RotatingRecorder:
    """The service's continuous recorder: one file per ``rotate_bytes``, named by the first message's time."""

    def __init__(self, directory: Path, rotate_bytes: int, site: str) -> None:
        self._directory = directory
        self._rotate_bytes = rotate_bytes
        self._site = site
        self._current: RecordingWriter | None = None
        self.files: list[Path] = []

    def __call__(self, topic: str, payload: bytes, received: float) -> None:
        """Record one message (the ``MqttIngest`` handler signature)."""
        if self._current is None or self._current.size() >= self._rotate_bytes:
            self._open(received)
        if self._current is not None:
            self._current.write(received, topic, payload)

    def _open(self, received: float) -> None:
        self.close()
        stamp = datetime.fromtimestamp(received, UTC).strftime("%Y%m%dT%H%M%S")
        path = self._directory / f"hazwatch-{self._site}-{stamp}.jsonl"
        serial = 1
        while path.exists():
            serial += 1
            path = self._directory / f"hazwatch-{self._site}-{stamp}-{serial}.jsonl"
        self._current = RecordingWriter(path, "mqtt", site=self._site)
        self.files.append(path)
        log.info("recording to %s", path)

    def flush(self) -> None:
        """Push buffered lines to the OS (so a crash loses little)."""
        if self._current is not None:
            self._current.flush()

    def close(self) -> None:
        """Close the current file."""
        if self._current is not None:
            self._current.close()
            self._current = None
