"""A ``timestamp,value`` CSV as byte ranges of one buffer, read and written back with numpy over the whole file.

``hazwatch detect`` reads a series, scores it and writes every row back (time and value exactly as given) with
its added columns. Python's csv module costs about 2 us a row each way, far more than the detection core on a
long series; here a file without quotes is split on its commas and line ends with array operations, numbers
are parsed from fixed-width byte arrays, and the output is assembled by scattering each column's bytes into
one buffer. A file with quotes (or anything else unusual) is read by the csv module; the output is the same
either way, byte for byte what ``csv.writer`` (excel dialect: ``\\r\\n`` line ends, minimal quoting) writes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

TIME_COLUMNS = ("timestamp", "time")
# Rows are read, and written back, a block of about this many bytes at a time: the arrays of a block stay in
# the processor's caches (one block of a whole 10 M-reading file would cost more in page faults than in work).
BLOCK_BYTES = 1 << 20
_NEWLINE, _COMMA, _QUOTE, _CR = 10, 44, 34, 13
LINE_END = b"\r\n"  # csv.writer's excel dialect


class SeriesFileError(ValueError):
    """The file is not a CSV of time and value rows; the message says where."""


@dataclass(frozen=True, slots=True)
class Texts:
    """One text per row: byte ranges of a shared buffer."""

    buffer: NDArray[np.uint8]
    start: NDArray[np.int64]
    length: NDArray[np.int64]
    # All the texts one after another, when that is at hand (the output then fills the rest of each row with it).
    concatenated: bytes | None = None

    @classmethod
    def of(cls, texts: list[bytes]) -> Texts:
        """Texts held as Python bytes, packed into one buffer."""
        length = np.fromiter(map(len, texts), np.int64, len(texts))
        start = np.concatenate(([0], np.cumsum(length)[:-1])) if texts else np.zeros(0, np.int64)
        return cls(np.frombuffer(b"".join(texts), np.uint8), start.astype(np.int64), length)

    def pick(self, index: NDArray[np.intp]) -> Texts:
        """Row i holds this table's text ``index[i]``."""
        return Texts(self.buffer, self.start[index], self.length[index])

    def fixed_width(self) -> NDArray[np.bytes_]:
        """The texts as a numpy bytes array (shorter ones padded with NULs, which numpy ignores)."""
        n = self.start.shape[0]
        width = int(self.length.max()) if n else 1
        at = self.start[:, None] + np.arange(width)
        inside = np.arange(width) < self.length[:, None]
        padded = np.where(inside, self.buffer[np.where(inside, at, 0)] if self.buffer.shape[0] else 0, 0)
        return np.ascontiguousarray(padded.astype(np.uint8)).view(f"S{max(width, 1)}").reshape(n)

    def in_row_order(self) -> NDArray[np.uint8]:
        """All the texts one after another."""
        if self.concatenated is not None:
            return np.frombuffer(self.concatenated, np.uint8)
        total = int(self.length.sum())
        first = np.cumsum(self.length) - self.length
        out: NDArray[np.uint8] = self.buffer[np.arange(total) + np.repeat(self.start - first, self.length)]
        return out

    def text(self, i: int) -> str:
        """Row i's text."""
        start = int(self.start[i])
        return self.buffer[start : start + int(self.length[i])].tobytes().decode("utf-8")

    def decoded(self) -> list[str]:
        """The texts as Python strings (for messages and slow paths)."""
        raw = self.buffer.tobytes()
        return [raw[s : s + n].decode("utf-8") for s, n in zip(self.start.tolist(), self.length.tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class Series:
    """A block of consecutive rows: each row's time and value text, as written in the file."""

    times: Texts
    values: Texts
    # Each row's bytes, when they are exactly "time,value" (the output can copy them whole).
    rows: Texts | None = None
    # Read by the csv module: a field may need quotes again when written.
    quoted_fields: bool = False
    # The rows' bytes for numpy's own CSV parser (files without quotes), and the two columns' positions.
    body: bytes | None = None
    columns: tuple[int, int] = (0, 1)

    def time_texts(self) -> NDArray[np.bytes_]:
        """The time column as a numpy bytes array."""
        return self._column(self.columns[0], np.bytes_) if self.body is not None else self.times.fixed_width()

    def value_numbers(self) -> NDArray[np.float64]:
        """The value column as numbers; ValueError if one is not a number."""
        out: NDArray[np.float64] = (
            self._column(self.columns[1], np.float64)
            if self.body is not None
            else self.values.fixed_width().astype(np.float64)
        )
        return out

    def numbers(self) -> NDArray[np.float64] | None:
        """Time (unix seconds) and value columns, when both are numbers in a file numpy's parser reads."""
        if self.body is None:
            return None
        try:
            out: NDArray[np.float64] = np.loadtxt(
                io.BytesIO(self.body), np.float64, delimiter=",", comments=None, usecols=self.columns, ndmin=2
            )
        except ValueError:
            return None
        return out

    def _column(self, column: int, dtype: type[np.generic]) -> Any:
        """One column by numpy's CSV parser."""
        return np.loadtxt(io.BytesIO(self.body or b""), dtype, delimiter=",", comments=None, usecols=column, ndmin=1)

    def written(self) -> list[Texts]:
        """The time and value columns as csv.writer writes them back."""
        if self.rows is not None:
            return [self.rows]
        if not self.quoted_fields:
            return [self.times, self.values]
        return [Texts.of([_quoted(f.encode()) for f in column.decoded()]) for column in (self.times, self.values)]


@dataclass(frozen=True, slots=True)
class SeriesFile:
    """The time column's name and the file's rows in blocks (of about ``BLOCK_BYTES``, whole rows)."""

    time_column: str
    blocks: list[Series]

    def __len__(self) -> int:
        return sum(block.times.start.shape[0] for block in self.blocks)

    def numbers(self) -> NDArray[np.float64] | None:
        """Time (unix seconds) and value columns, when both are numbers in a file numpy's parser reads."""
        parts = [block.numbers() for block in self.blocks]
        if any(part is None for part in parts):
            return None
        return np.concatenate([p for p in parts if p is not None]) if parts else np.zeros((0, 2))

    def time_texts(self) -> NDArray[np.bytes_]:
        """The time column as a numpy bytes array."""
        return np.concatenate([block.time_texts() for block in self.blocks]) if self.blocks else np.zeros(0, "S1")

    def value_numbers(self) -> NDArray[np.float64]:
        """The value column as numbers; ValueError if one is not a number."""
        return np.concatenate([block.value_numbers() for block in self.blocks]) if self.blocks else np.zeros(0)

    def times_decoded(self) -> list[str]:
        """The time texts as Python strings."""
        return [text for block in self.blocks for text in block.times.decoded()]

    def values_decoded(self) -> list[str]:
        """The value texts as Python strings."""
        return [text for block in self.blocks for text in block.values.decoded()]

    def time_text(self, row: int) -> str:
        """One row's time text."""
        for block in self.blocks:
            rows = block.times.start.shape[0]
            if row < rows:
                return block.times.text(row)
            row -= rows
        raise IndexError(row)


def read_series(path: Path) -> SeriesFile:
    """The file's time and value columns; raises SeriesFileError (OSError if unreadable)."""
    data = path.read_bytes()
    first_end = data.find(b"\n")
    header_line = data if first_end < 0 else data[:first_end]
    header = next(csv.reader(io.StringIO(header_line.decode("utf-8"), newline="")), [])
    time_column = next((c for c in TIME_COLUMNS if c in header), None)
    if time_column is None or "value" not in header:
        raise SeriesFileError(": expected a header with 'timestamp' (or 'time') and 'value' columns")
    ti, vi = header.index(time_column), header.index("value")
    body = data[first_end + 1 :] if first_end >= 0 else b""
    if b'"' in body or body.count(b"\r") != body.count(b"\r\n"):
        return SeriesFile(time_column, [_read_with_csv(body, ti, vi)])
    raw = body.replace(b"\r\n", b"\n") if b"\r" in body else body
    blocks: list[Series] = []
    start = 0
    while start < len(raw):
        end = raw.find(b"\n", start + BLOCK_BYTES)
        end = len(raw) if end < 0 else end + 1
        block = _split(raw[start:end], len(header), ti, vi)
        if block is None:
            return SeriesFile(time_column, [_read_with_csv(body, ti, vi)])
        blocks.append(block)
        start = end
    return SeriesFile(time_column, blocks)


def _split(raw: bytes, columns: int, ti: int, vi: int) -> Series | None:
    """Rows and fields of a block (no quotes, "\\n" line ends) by array operations; None where the csv module
    must read the file."""
    buffer = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(buffer == _NEWLINE)
    if buffer.shape[0] and buffer[-1] != _NEWLINE:
        ends = np.append(ends, buffer.shape[0])
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    n = ends.shape[0]
    if np.any(ends == starts):
        return None  # a blank line: the csv module's reading reports it
    commas = np.flatnonzero(buffer == _COMMA)
    if commas.shape[0] != n * (columns - 1):
        return None
    line_of_comma = np.searchsorted(ends, commas)
    if np.any(np.bincount(line_of_comma, minlength=n) != columns - 1):
        return None
    # Field f of row r runs from bounds[r, f] to bounds[r, f + 1] - 1 (a comma or the line end).
    bounds = np.empty((n, columns + 1), np.int64)
    bounds[:, 0] = starts - 1
    bounds[:, 1:columns] = commas.reshape(n, columns - 1)
    bounds[:, columns] = ends

    def field(f: int) -> Texts:
        return Texts(buffer, bounds[:, f] + 1, bounds[:, f + 1] - bounds[:, f] - 1)

    verbatim = (columns, ti, vi) == (2, 0, 1)
    rows = Texts(buffer, starts, ends - starts, raw.replace(b"\n", b"")) if verbatim else None
    return Series(field(ti), field(vi), rows, body=raw, columns=(ti, vi))


def _read_with_csv(body: bytes, ti: int, vi: int) -> Series:
    """The csv module's reading (quotes, blank lines, ragged rows)."""
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    try:
        times = [r[ti].encode("utf-8") for r in rows]
        values = [r[vi].encode("utf-8") for r in rows]
    except IndexError:
        line = next(i for i, r in enumerate(rows, start=2) if len(r) <= max(ti, vi))
        raise SeriesFileError(f":{line}: missing columns") from None
    return Series(Texts.of(times), Texts.of(values), quoted_fields=True)


def _quoted(field: bytes) -> bytes:
    """The field as csv.writer's minimal quoting writes it."""
    if any(c in field for c in (b",", b'"', b"\r", b"\n")):
        return b'"' + field.replace(b'"', b'""') + b'"'
    return field


def join_rows(columns: list[Texts]) -> bytes:
    """Rows of the columns' texts joined by commas, each ended as csv.writer ends it.

    Each row is a sequence of pieces: variable-length columns, and blocks (n x width) of fixed-width bytes made
    of the commas, the line end and every column whose texts are all as long. A piece-number array over the
    output, made by one ``repeat``, tells where each piece's bytes go; each piece is then one masked copy.
    """
    n = columns[0].start.shape[0]
    comma = np.full((n, 1), _COMMA, np.uint8)
    lengths: list[NDArray[np.int64] | int] = []
    contents: list[NDArray[np.uint8]] = []
    block: list[NDArray[np.uint8]] = []

    def end_block() -> None:
        if block:
            joined = np.concatenate(block, axis=1)
            lengths.append(joined.shape[1])
            contents.append(joined.reshape(-1))
            block.clear()

    for k, column in enumerate(columns):
        if k:
            block.append(comma)
        width = int(column.length[0]) if n else 0
        if column.concatenated is None and np.all(column.length == width):
            block.append(column.buffer[column.start[:, None] + np.arange(width)])
            continue
        end_block()
        lengths.append(column.length)
        contents.append(column.in_row_order())
    block.append(np.tile(np.frombuffer(LINE_END, np.uint8), (n, 1)))
    end_block()
    counts = np.empty((n, len(lengths)), np.int64)
    for p, length in enumerate(lengths):
        counts[:, p] = length
    piece = np.repeat(np.tile(np.arange(len(lengths), dtype=np.uint8), n), counts.reshape(-1))
    if len(contents) == 1:
        return contents[0].tobytes()
    out = np.empty(piece.shape[0], np.uint8)
    for p, content in enumerate(contents):
        out[piece == p] = content
    return out.tobytes()


def fixed_point(x: NDArray[np.float64], decimals: int) -> Texts:
    """``"%.{decimals}f" % x`` for every entry: by integer arithmetic for 0 <= x < 10, by Python otherwise.

    Integer rounding equals printf's wherever x * 10**decimals is not within 1e-6 of a half; those entries,
    like those out of range or not finite, are formatted by Python.
    """
    n = x.shape[0]
    scale = 10.0**decimals
    with np.errstate(invalid="ignore"):
        scaled = x * scale
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
        fast = (x >= 0.0) & (x < 10.0 - 0.5 / scale) & ~near_half
    units = np.where(fast, np.rint(np.where(fast, scaled, 0.0)), 0.0).astype(np.int64)
    width = 2 + decimals
    digits = np.empty((n, width), np.uint8)
    digits[:, 0] = 48 + units // 10**decimals
    digits[:, 1] = ord(".")
    for d in range(decimals):
        digits[:, 2 + d] = 48 + (units // 10 ** (decimals - 1 - d)) % 10
    buffer = digits.reshape(-1)
    start = np.arange(n, dtype=np.int64) * width
    length = np.full(n, width, np.int64)
    slow = np.flatnonzero(~fast)
    if slow.shape[0]:
        extra = Texts.of([f"{v:.{decimals}f}".encode() for v in x[slow].tolist()])
        start[slow] = buffer.shape[0] + extra.start
        length[slow] = extra.length
        buffer = np.concatenate((buffer, extra.buffer))
    return Texts(buffer, start, length)


def integers(x: NDArray[np.integer]) -> Texts:
    """Decimal text of small non-negative integers (flags), through a table of the values present."""
    present = np.unique(x)
    return Texts.of([str(v).encode() for v in present.tolist()]).pick(np.searchsorted(present, x))
