"""Readings are stored in chunks: one row per write, its arrays packed as little-endian binary.

Why not one row per reading: at 10,000+ readings/s the per-row work (building a row in Python,
a B-tree insert into the table and its index in the database) was most of the service's CPU,
more than receiving and judging the readings. A chunk costs one row per commit, whatever it
holds, and a reading takes 22 bytes in it against about 90 as an indexed row. Historians store
samples in compressed blocks for the same reasons.

A chunk names its sensors itself (``sensors``: the ids, in the order the packed indices refer
to), so stored readings stay readable after the site file changes. Readings inside a chunk are
in arrival order; ``time_min``/``time_max`` bound the measurement times for range queries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.store.schema import reading_chunks
from detectors.readings import ReadingBatch

CHUNK_FORMAT = 1
# Column order and byte layout of format 1: sensor index, time (unix s), value (canonical unit), flags.
_LAYOUT: tuple[tuple[str, np.dtype[Any]], ...] = (
    ("sensor", np.dtype("<u4")),
    ("time", np.dtype("<f8")),
    ("value", np.dtype("<f8")),
    ("flags", np.dtype("<u2")),
)
BYTES_PER_READING = sum(dtype.itemsize for _, dtype in _LAYOUT)
# A chunk stays below a few MB even when a replay or a backlog hands the writer millions of readings.
MAX_CHUNK_READINGS = 100_000


class ChunkFormatError(ValueError):
    """A stored chunk that this version cannot read."""


def encode_chunks(
    batch: ReadingBatch, sensor_ids: Sequence[str], *, drill: bool, drill_run_id: int | None = None
) -> list[dict[str, Any]]:
    """Rows for ``reading_chunks`` holding ``batch`` (sensor numbers index ``sensor_ids``), tagged with the drill
    run that wrote them (None: live)."""
    rows = []
    for start in range(0, len(batch), MAX_CHUNK_READINGS):
        part = slice(start, start + MAX_CHUNK_READINGS)
        used, local = np.unique(batch.sensor[part], return_inverse=True)
        times = batch.time[part]
        payload = b"".join(
            np.ascontiguousarray(array, dtype).tobytes()
            for array, (_, dtype) in zip((local, times, batch.value[part], batch.flags[part]), _LAYOUT, strict=True)
        )
        rows.append(
            {
                "time_min": float(times.min()),
                "time_max": float(times.max()),
                "count": int(times.shape[0]),
                "drill": drill,
                "drill_run_id": drill_run_id,
                "format": CHUNK_FORMAT,
                "sensors": json.dumps([sensor_ids[i] for i in used.tolist()], separators=(",", ":")),
                "data": payload,
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class StoredReadings:
    """Readings read back from the store, sensors named by id."""

    sensor_id: NDArray[np.object_]
    time: NDArray[np.float64]
    value: NDArray[np.float64]
    flags: NDArray[np.uint16]

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> StoredReadings:
        """The readings at ``index`` (positions or a mask)."""
        return StoredReadings(self.sensor_id[index], self.time[index], self.value[index], self.flags[index])

    @staticmethod
    def concatenate(parts: Sequence[StoredReadings]) -> StoredReadings:
        """One set holding ``parts`` in order."""
        if not parts:
            return StoredReadings(
                np.empty(0, np.object_), np.empty(0, np.float64), np.empty(0, np.float64), np.empty(0, np.uint16)
            )
        return StoredReadings(
            np.concatenate([p.sensor_id for p in parts]),
            np.concatenate([p.time for p in parts]),
            np.concatenate([p.value for p in parts]),
            np.concatenate([p.flags for p in parts]),
        )


def decode_chunk(fmt: int, sensors: str, data: bytes, count: int) -> StoredReadings:
    """The readings of one stored chunk."""
    if fmt != CHUNK_FORMAT:
        raise ChunkFormatError(f"reading chunk format {fmt} is not known to this version (knows {CHUNK_FORMAT})")
    if len(data) != count * BYTES_PER_READING:
        raise ChunkFormatError(
            f"reading chunk of {count} readings has {len(data)} bytes, not {count * BYTES_PER_READING}"
        )
    columns = []
    offset = 0
    for _, dtype in _LAYOUT:
        columns.append(np.frombuffer(data, dtype, count, offset).astype(dtype.newbyteorder("=")))
        offset += count * dtype.itemsize
    names = np.array(json.loads(sensors), dtype=np.object_)
    return StoredReadings(names[columns[0]], columns[1], columns[2], columns[3])


def _chunk_filter(
    since: float | None, until: float | None, drill: bool | None, after_chunk: int, drill_run_id: int | None = None
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [reading_chunks.c.id > after_chunk]
    if drill_run_id is not None:
        conditions.append(reading_chunks.c.drill_run_id == drill_run_id)
    if since is not None:
        conditions.append(reading_chunks.c.time_max >= since)
    if until is not None:
        conditions.append(reading_chunks.c.time_min < until)
    if drill is not None:
        conditions.append(reading_chunks.c.drill.is_(drill))
    return and_(*conditions)


async def read_readings(
    connection: AsyncConnection,
    *,
    since: float | None = None,
    until: float | None = None,
    drill: bool | None = False,
    sensor_ids: Collection[str] | None = None,
    after_chunk: int = 0,
    drill_run_id: int | None = None,
) -> StoredReadings:
    """Readings with ``since <= time < until``, ordered by time (ties keep the order they were stored in).

    ``drill``: False for live readings only, True for drill readings only, None for both.
    ``after_chunk``: only chunks written after the one with this id.
    ``drill_run_id``: only the readings that drill run wrote.
    """
    query = (
        select(reading_chunks.c.format, reading_chunks.c.sensors, reading_chunks.c.data, reading_chunks.c.count)
        .where(_chunk_filter(since, until, drill, after_chunk, drill_run_id))
        .order_by(reading_chunks.c.id)
    )
    wanted = None if sensor_ids is None else set(sensor_ids)
    parts = []
    for fmt, sensors, data, count in (await connection.execute(query)).all():
        chunk = decode_chunk(fmt, sensors, data, count)
        keep = np.ones(len(chunk), np.bool_)
        if since is not None:
            keep &= chunk.time >= since
        if until is not None:
            keep &= chunk.time < until
        if wanted is not None:
            keep &= np.fromiter((s in wanted for s in chunk.sensor_id), np.bool_, len(chunk))
        parts.append(chunk.take(keep))
    out = StoredReadings.concatenate(parts)
    return out.take(np.argsort(out.time, kind="stable"))


async def stream_readings(
    engine: AsyncEngine, since: float, until: float, *, drill: bool | None = False, window_s: float = 600.0
) -> AsyncIterator[StoredReadings]:
    """``read_readings`` window by window, so a day of a large site never sits in memory at once."""
    start = since
    while start < until:
        end = min(start + window_s, until)
        async with engine.connect() as connection:
            part = await read_readings(connection, since=start, until=end, drill=drill)
        if len(part):
            yield part
        start = end


def count_query(*, drill: bool | None = None, after_chunk: int = 0) -> Select[tuple[Any]]:
    """A query for how many readings are stored (for sync and async connections alike)."""
    return select(func.coalesce(func.sum(reading_chunks.c.count), 0)).where(
        _chunk_filter(None, None, drill, after_chunk)
    )


async def count_readings(connection: AsyncConnection, *, drill: bool | None = None, after_chunk: int = 0) -> int:
    """How many readings are stored."""
    total = (await connection.execute(count_query(drill=drill, after_chunk=after_chunk))).scalar_one()
    return int(total)


async def latest_readings(engine: AsyncEngine, sensor_ids: Sequence[str], limit: int) -> ReadingBatch:
    """About the ``limit`` newest stored live readings (whole chunks, newest first), numbered as ``sensor_ids``."""
    index = {sensor_id: number for number, sensor_id in enumerate(sensor_ids)}
    parts: list[ReadingBatch] = []
    total = 0
    statement = (
        select(reading_chunks.c.format, reading_chunks.c.sensors, reading_chunks.c.data, reading_chunks.c.count)
        .where(reading_chunks.c.drill.is_(False))
        .order_by(reading_chunks.c.id.desc())
    )
    async with engine.connect() as connection:
        result = await connection.stream(statement)
        async for row in result:
            count = int(row[3])  # by position: Row.count is the tuple method
            stored = decode_chunk(row.format, row.sensors, row.data, count)
            numbers = np.array([index.get(name, -1) for name in stored.sensor_id.tolist()], np.int32)
            known = numbers >= 0  # sensors removed from the site file since: nothing of theirs can come again
            parts.append(ReadingBatch(numbers[known], stored.time[known], stored.value[known], stored.flags[known]))
            total += count
            if total >= limit:
                break
        await result.close()
    return ReadingBatch.concat(parts) if parts else ReadingBatch.empty()
