"""Raw-reading retention on the machine's PostgreSQL (day partitions, per-minute aggregates) and on SQLite."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from sqlalchemy import func, insert, select, text

from daemon.store import reading_retention
from daemon.store.engine import create_engine, migrate
from daemon.store.reading_chunks import StoredReadings, count_readings, encode_chunks, read_readings
from daemon.store.reading_retention import (
    DAY_S,
    apply_retention,
    day_start,
    ensure_day_partitions,
    minute_aggregates,
    partition_name,
)
from daemon.store.schema import reading_chunks, reading_minutes
from detectors.readings import ReadingBatch

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
SENSORS = ["gas-1-cl2", "gas-2-nh3"]
Reading = tuple[str, float, float, int]


def _day_readings(day: float, rng: np.random.Generator) -> list[Reading]:
    """Both sensors every 20 s over the first ten minutes of a day; every seventh reading flagged."""
    out = []
    for i in range(30):
        for s, sensor in enumerate(SENSORS):
            out.append((sensor, day + 20.0 * i + s, float(rng.normal(1.0, 0.3)), 1 if i % 7 == 0 else 0))
    return out


def _rows(readings: list[Reading], *, drill: bool = False) -> list[dict[str, object]]:
    batch = ReadingBatch.from_lists(
        [SENSORS.index(r[0]) for r in readings], [r[1] for r in readings], [r[2] for r in readings],
        [r[3] for r in readings],
    )  # fmt: skip
    rows: list[dict[str, object]] = []
    for start in range(0, len(readings), 16):  # several chunks a day, as the writer makes them
        part = batch.take(np.arange(start, min(start + 16, len(readings))))
        rows += encode_chunks(part, SENSORS, drill=drill, drill_run_id=7 if drill else None)
    return rows


def _expected(readings: list[Reading]) -> dict[tuple[str, float], tuple[int, float, float, float, int]]:
    """Per (sensor, minute), computed plainly: count, min, max, mean, flagged."""
    groups: dict[tuple[str, float], list[Reading]] = defaultdict(list)
    for reading in readings:
        groups[(reading[0], math.floor(reading[1] / 60) * 60.0)].append(reading)
    return {
        key: (
            len(g),
            min(r[2] for r in g),
            max(r[2] for r in g),
            sum(r[2] for r in g) / len(g),
            sum(r[3] > 0 for r in g),
        )
        for key, g in groups.items()
    }


async def test_postgres_drops_old_days_and_keeps_minute_aggregates(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One chunk (16 readings) per batch: minutes (6 readings) split across batches and must merge.
    monkeypatch.setattr(reading_retention, "CHUNKS_PER_BATCH", 1)
    rng = np.random.default_rng(3)
    today = day_start(NOW)
    days = [today - k * DAY_S for k in range(5, -1, -1)]  # five days back to today
    by_day = {day: _day_readings(day, rng) for day in days}
    orphan = _day_readings(today - 10 * DAY_S, rng)  # a day without a partition: the default partition takes it
    drill = _day_readings(today - 5 * DAY_S, rng)  # a drill replay of old data: never touched by retention
    engine = create_engine(postgres_url)
    try:
        await migrate(engine)
        created = await ensure_day_partitions(engine, days[0], NOW + 2 * DAY_S)
        assert created == [partition_name(today + k * DAY_S) for k in range(-5, 3)]
        assert await ensure_day_partitions(engine, days[0], NOW + 2 * DAY_S) == []
        async with engine.begin() as connection:
            for readings in [*by_day.values(), orphan]:
                await connection.execute(insert(reading_chunks), _rows(readings))
            await connection.execute(insert(reading_chunks), _rows(drill, drill=True))
            in_default = (
                await connection.execute(text("SELECT count(*) FROM hazwatch_parts.reading_chunks_live_default"))
            ).scalar()
        assert in_default == len(_rows(orphan))

        result = await apply_retention(engine, NOW, keep_days=2.0)
        # Cutoff 2027-01-13 08:00: the days of the 10th, 11th and 12th end (plus an hour) before it.
        assert result.dropped_days == tuple(partition_name(d) for d in days[:3])
        assert result.deleted_chunks == len(_rows(orphan))
        old = [r for d in days[:3] for r in by_day[d]] + orphan
        async with engine.connect() as connection:
            stored = (await connection.execute(select(reading_minutes))).mappings().all()
            live = await read_readings(connection, drill=False)
            drill_left = await count_readings(connection, drill=True)
        expected = _expected(old)
        assert len(stored) == len(expected)
        assert result.minutes > len(expected), "the batches did split minutes (the merge was exercised)"
        for row in stored:
            count, low, high, mean, flagged = expected[(row["sensor_id"], row["minute"])]
            assert (row["count"], row["flagged"]) == (count, flagged)
            assert row["min"] == pytest.approx(low)
            assert row["max"] == pytest.approx(high)
            assert row["mean"] == pytest.approx(mean)
        kept = [r for d in days[3:] for r in by_day[d]]
        assert sorted(live.time.tolist()) == sorted(r[1] for r in kept), "exactly the last days stay raw"
        assert drill_left == len(drill)

        again = await apply_retention(engine, NOW, keep_days=2.0)
        assert (again.minutes, again.dropped_days, again.deleted_chunks) == (0, (), 0)
        async with engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(reading_minutes))).scalar() == len(stored)
    finally:
        await engine.dispose()


async def test_sqlite_deletes_live_chunks_by_age(sqlite_url: str) -> None:
    rng = np.random.default_rng(4)
    today = day_start(NOW)
    old, recent = _day_readings(today - 4 * DAY_S, rng), _day_readings(today, rng)
    drill = _day_readings(today - 4 * DAY_S, rng)
    engine = create_engine(sqlite_url)
    try:
        await migrate(engine)
        assert await ensure_day_partitions(engine, today, today) == []
        async with engine.begin() as connection:
            await connection.execute(insert(reading_chunks), _rows(old) + _rows(recent) + _rows(drill, drill=True))
        result = await apply_retention(engine, NOW, keep_days=2.0)
        assert result.deleted_chunks == len(_rows(old))
        async with engine.connect() as connection:
            live = await read_readings(connection, drill=False)
            assert await count_readings(connection, drill=True) == len(drill)
        assert sorted(live.time.tolist()) == sorted(r[1] for r in recent)
    finally:
        await engine.dispose()


def test_minute_aggregates_of_nothing() -> None:
    assert minute_aggregates(StoredReadings.concatenate([])) == []
