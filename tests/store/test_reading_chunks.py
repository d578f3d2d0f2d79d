"""Readings stored as chunks: what goes in comes back, on both backends, and old row-per-reading stores convert."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store import reading_chunks as chunks_module
from daemon.store.engine import create_engine, downgrade, migrate
from daemon.store.reading_chunks import (
    ChunkFormatError,
    count_readings,
    decode_chunk,
    encode_chunks,
    read_readings,
    stream_readings,
)
from daemon.store.schema import reading_chunks
from detectors.readings import ReadingBatch

IDS = [f"s{i:03d}" for i in range(300)]


def random_batch(n: int, seed: int, t0: float = 1.7e9) -> ReadingBatch:
    rng = np.random.default_rng(seed)
    return ReadingBatch(
        rng.integers(0, len(IDS), n).astype(np.int32),
        t0 + np.sort(rng.uniform(0, 3600, n)),
        rng.normal(0, 1e3, n),
        rng.integers(0, 1 << 15, n).astype(np.uint16),
    )


def test_a_chunk_gives_back_exactly_what_was_packed() -> None:
    batch = random_batch(5000, 1)
    (row,) = encode_chunks(batch, IDS, drill=False)
    assert row["count"] == 5000
    assert len(row["data"]) == 5000 * 22
    assert (row["time_min"], row["time_max"]) == (batch.time.min(), batch.time.max())
    back = decode_chunk(row["format"], row["sensors"], row["data"], row["count"])
    assert back.sensor_id.tolist() == [IDS[i] for i in batch.sensor.tolist()]
    np.testing.assert_array_equal(back.time, batch.time)  # bit for bit, no rounding
    np.testing.assert_array_equal(back.value, batch.value)
    np.testing.assert_array_equal(back.flags, batch.flags)


def test_huge_batches_are_split_and_bad_chunks_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks_module, "MAX_CHUNK_READINGS", 1000)
    rows = encode_chunks(random_batch(2500, 2), IDS, drill=True)
    assert [row["count"] for row in rows] == [1000, 1000, 500]
    assert all(row["drill"] for row in rows)
    with pytest.raises(ChunkFormatError, match="format 9"):
        decode_chunk(9, rows[0]["sensors"], rows[0]["data"], 1000)
    with pytest.raises(ChunkFormatError, match="bytes"):
        decode_chunk(1, rows[0]["sensors"], rows[0]["data"][:-1], 1000)


async def _store(engine: AsyncEngine, batch: ReadingBatch, *, drill: bool) -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.insert(reading_chunks), encode_chunks(batch, IDS, drill=drill))


async def test_range_sensor_and_drill_queries(migrated_db_url: str) -> None:
    engine = create_engine(migrated_db_url)
    try:
        live = [random_batch(3000, seed) for seed in range(4)]
        for batch in live:
            await _store(engine, batch, drill=False)
        await _store(engine, random_batch(700, 99), drill=True)
        everything = ReadingBatch.concat(live)
        async with engine.connect() as connection:
            assert await count_readings(connection) == 12_700
            assert await count_readings(connection, drill=False) == 12_000
            since, until = 1.7e9 + 600, 1.7e9 + 1800
            got = await read_readings(connection, since=since, until=until, sensor_ids={"s001", "s002"})
            drill = await read_readings(connection, drill=True)
        inside = (everything.time >= since) & (everything.time < until) & np.isin(everything.sensor, [1, 2])
        expected = everything.take(inside).sorted_by_time()
        assert got.sensor_id.tolist() == [IDS[i] for i in expected.sensor.tolist()]
        np.testing.assert_array_equal(got.value, expected.value)
        assert np.all(np.diff(got.time) >= 0)
        assert len(drill) == 700
        windows = [part async for part in stream_readings(engine, 1.7e9, 1.7e9 + 3600, window_s=500)]
        assert sum(len(part) for part in windows) == 12_000
        streamed = np.concatenate([part.time for part in windows])
        np.testing.assert_array_equal(streamed, np.sort(everything.time))
    finally:
        await engine.dispose()


async def test_migration_converts_stored_readings_both_ways(db_url: str) -> None:
    """A store from before chunks keeps every reading through the upgrade, and through a downgrade back."""
    engine = create_engine(db_url)
    old = sa.table(
        "readings",
        sa.column("sensor_id", sa.String),
        sa.column("time", sa.Float),
        sa.column("value", sa.Float),
        sa.column("flags", sa.SmallInteger),
        sa.column("drill", sa.Boolean),
    )
    rows = [
        {"sensor_id": f"gas-{i % 7}", "time": 1.7e9 + i, "value": i * 0.5, "flags": i % 3, "drill": i % 10 == 0}
        for i in range(2500)
    ]
    try:
        await migrate(engine, "0003")
        async with engine.begin() as connection:
            await connection.execute(sa.insert(old), rows)
        await migrate(engine)
        async with engine.connect() as connection:
            live = await read_readings(connection, drill=False)
            drill = await read_readings(connection, drill=True)
        assert len(live) + len(drill) == 2500
        expected_live = [r for r in rows if not r["drill"]]
        assert live.sensor_id.tolist() == [r["sensor_id"] for r in expected_live]
        assert live.value.tolist() == [r["value"] for r in expected_live]
        assert live.flags.tolist() == [r["flags"] for r in expected_live]
        assert drill.time.tolist() == [r["time"] for r in rows if r["drill"]]
        await downgrade(engine, "0003")
        async with engine.connect() as connection:
            back = (
                await connection.execute(
                    sa.select(old.c.sensor_id, old.c.time, old.c.value, old.c.flags, old.c.drill).order_by(old.c.time)
                )
            ).all()
        assert [dict(row._mapping) for row in back] == rows
    finally:
        await engine.dispose()
