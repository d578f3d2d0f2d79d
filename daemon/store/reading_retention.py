"""Raw readings are kept ``keep_days``; older ones become per-minute aggregates (``reading_minutes``).

PostgreSQL (revision 0009): live chunks are partitioned by UTC day. A day whose every chunk began before the cutoff
is summarised and its partition dropped in one transaction (the summary commits if and only if the raw rows go).
Chunks that landed in the default partition (a day without its own partition) are summarised and deleted row by
row. Partitions for today and the next days are created ahead, so new rows never go to the default one.
SQLite keeps one table and deletes live chunks past the cutoff (no summary: a single-machine install).
Drill rows are never touched here: a drill run's rows belong to the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Insert, delete, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.store.reading_chunks import StoredReadings, decode_chunk
from daemon.store.schema import reading_chunks, reading_minutes

log = logging.getLogger(__name__)
PARTS = "hazwatch_parts"
DAY_S = 86400.0
# A chunk holds what the writer gathered in well under a minute; a day is dropped only once this much of the next
# day is past the cutoff too, so a chunk that began before midnight never carries readings newer than the cutoff.
SPILL_S = 3600.0
CHUNKS_PER_BATCH = 2000  # chunks decoded at a time (a chunk holds at most a few thousand readings)
ROWS_PER_INSERT = 5000


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one pass did."""

    minutes: int  # aggregate rows written
    dropped_days: tuple[str, ...]  # partitions dropped (PostgreSQL)
    deleted_chunks: int  # chunks deleted row by row


def day_start(t: float) -> float:
    """Midnight UTC at or before ``t``."""
    return float(int(t // DAY_S) * DAY_S)


def partition_name(day: float) -> str:
    """``reading_chunks_live_YYYYMMDD`` for the UTC day starting at ``day``."""
    return "reading_chunks_live_" + dt.datetime.fromtimestamp(day, dt.UTC).strftime("%Y%m%d")


async def ensure_day_partitions(engine: AsyncEngine, first: float, last: float) -> list[str]:
    """Create the live partitions of the UTC days from ``first`` to ``last`` that do not exist (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        return []
    created = []
    day = day_start(first)
    async with engine.begin() as connection:
        existing = await _day_partitions(connection)
        while day <= last:
            name = partition_name(day)
            if name not in existing:
                try:
                    async with connection.begin_nested():
                        await connection.execute(
                            text(
                                f"CREATE TABLE {PARTS}.{name} PARTITION OF {PARTS}.reading_chunks_live "
                                f"FOR VALUES FROM ({day!r}) TO ({day + DAY_S!r})"
                            )
                        )
                    created.append(name)
                except Exception as exc:  # rows of that day already sit in the default partition: they stay there
                    log.warning("cannot create partition %s (%s); its rows stay in the default partition", name, exc)
            day += DAY_S
    return created


async def apply_retention(engine: AsyncEngine, now: float, keep_days: float) -> RetentionResult:
    """Summarise and remove live raw readings older than ``keep_days`` before ``now``."""
    cutoff = now - keep_days * DAY_S
    if engine.dialect.name != "postgresql":
        async with engine.begin() as connection:
            result = await connection.execute(
                delete(reading_chunks).where(reading_chunks.c.drill.is_(False), reading_chunks.c.time_max < cutoff)
            )
        return RetentionResult(0, (), max(result.rowcount, 0))
    minutes, dropped = 0, []
    async with engine.connect() as connection:
        days = sorted((await _day_partitions(connection)).items())
    for name, day in days:
        if day + DAY_S + SPILL_S > cutoff:
            continue
        async with engine.begin() as connection:
            minutes += await _summarise(connection, f"{PARTS}.{name}", None)
            await connection.execute(text(f"DROP TABLE {PARTS}.{name}"))
        dropped.append(name)
    async with engine.begin() as connection:
        default = f"{PARTS}.reading_chunks_live_default"
        minutes += await _summarise(connection, default, cutoff)
        # The table name is this module's constant; the cutoff is a bound parameter.
        statement = text(f"DELETE FROM {default} WHERE time_max < :cutoff")  # noqa: S608
        deleted = (await connection.execute(statement, {"cutoff": cutoff})).rowcount
    if dropped or deleted:
        log.info(
            "reading retention: %d day partitions dropped, %d chunks deleted, %d minute aggregates written",
            len(dropped), deleted, minutes,
        )  # fmt: skip
    return RetentionResult(minutes, tuple(dropped), max(deleted, 0))


async def _day_partitions(connection: AsyncConnection) -> dict[str, float]:
    """The live day partitions that exist, with the start of their day."""
    rows = await connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = :schema AND p.relname = 'reading_chunks_live'"
        ),
        {"schema": PARTS},
    )
    out = {}
    for (name,) in rows:
        stamp = name.removeprefix("reading_chunks_live_")
        if stamp.isdigit():
            out[name] = dt.datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=dt.UTC).timestamp()
    return out


async def _summarise(connection: AsyncConnection, table: str, before: float | None) -> int:
    """Add the per-minute aggregates of the chunks in ``table`` to ``reading_minutes``; returns rows written.

    The chunks are read in batches (a city day is tens of millions of readings), so one minute can be summed from
    two batches: the second merges into the first (counts and flags add, min/max widen, means weigh by count).
    """
    # Table names are built here from constants and dates, never from input; the cutoff is a bound parameter.
    sql = f"SELECT id, format, sensors, data, count FROM {table} WHERE id > :after"  # noqa: S608
    if before is not None:
        sql += " AND time_max < :cutoff"
    sql += " ORDER BY id LIMIT :limit"
    written, after = 0, -1
    while True:  # keyset pages: no cursor stays open on the partition about to be dropped
        params = {"after": after, "limit": CHUNKS_PER_BATCH, "cutoff": before}
        batch = (await connection.execute(text(sql), params)).all()
        if not batch:
            return written
        after = int(batch[-1][0])
        rows = minute_aggregates(StoredReadings.concatenate([decode_chunk(*row[1:]) for row in batch]))
        for start in range(0, len(rows), ROWS_PER_INSERT):
            await connection.execute(_merge(rows[start : start + ROWS_PER_INSERT]))
        written += len(rows)


def _merge(rows: list[dict[str, object]]) -> Insert:
    """Insert minute rows; a minute already stored (an earlier batch) absorbs the new one."""
    statement = pg_insert(reading_minutes).values(rows)
    old, new = reading_minutes.c, statement.excluded
    total = old.count + new.count
    return statement.on_conflict_do_update(
        index_elements=["sensor_id", "minute"],
        set_={
            "count": total,
            "min": func.least(old.min, new.min),
            "max": func.greatest(old.max, new.max),
            "mean": (old.mean * old.count + new.mean * new.count) / total,
            "flagged": old.flagged + new.flagged,
        },
    )


def minute_aggregates(readings: StoredReadings) -> list[dict[str, object]]:
    """Per (sensor, minute): count, min, max, mean of the values and how many readings carried a quality flag."""
    if not len(readings):
        return []
    names, sensor = np.unique(readings.sensor_id.astype(str), return_inverse=True)
    minute = np.floor(readings.time / 60.0).astype(np.int64)
    order = np.lexsort((minute, sensor))
    sensor, minute = sensor[order], minute[order]
    value, flagged = readings.value[order], (readings.flags[order] != 0).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, (np.diff(sensor) != 0) | (np.diff(minute) != 0)])
    counts = np.diff(np.r_[starts, len(order)])
    sums = np.add.reduceat(value, starts)
    return [
        {
            "sensor_id": str(names[s]),
            "minute": float(m * 60),
            "count": int(c),
            "min": float(lo),
            "max": float(hi),
            "mean": float(total / c),
            "flagged": int(f),
        }
        for s, m, c, lo, hi, total, f in zip(
            sensor[starts].tolist(),
            minute[starts].tolist(),
            counts.tolist(),
            np.minimum.reduceat(value, starts).tolist(),
            np.maximum.reduceat(value, starts).tolist(),
            sums.tolist(),
            np.add.reduceat(flagged, starts).tolist(),
            strict=True,
        )
    ]
