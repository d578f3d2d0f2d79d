"""The store on a real SQLite file and on the machine's PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from daemon.alarm_tracker import AlarmTracker
from daemon.metrics import Metrics
from daemon.pipeline import Pipeline
from daemon.store import queries
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import alarm_events, metadata, quarantine, readings
from daemon.store.writer import StoreWriter
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable
from rules.site import Site


async def test_migrations_build_exactly_the_schema(db_url: str) -> None:
    """Alembic head and schema.py agree, on both backends."""
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        await migrate(engine)  # idempotent
        async with engine.connect() as connection:
            diff = await connection.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        assert diff == []
    finally:
        await engine.dispose()


async def test_writes_and_reads_round_trip(db_url: str, demo_site: Site) -> None:
    """Readings, quarantine, alarms and their events are stored and read back; restart resumes ids."""
    table = SensorTable.build(demo_site)
    metrics = Metrics(CollectorRegistry())
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
        task = asyncio.create_task(writer.run())
        tracker = AlarmTracker(table, writer, metrics, await queries.next_alarm_id(engine))
        pipeline = Pipeline(table, writer, tracker, metrics)
        cl2 = table.index["gas-n01-cl2"]
        high_high = float(table.thresholds.high_high[cl2])
        n = 5000
        pipeline.process(
            ReadingBatch.from_lists(
                [cl2] * n, [1000.0 + 20 * i for i in range(n)], [0.0] * (n - 2) + [high_high * 3] * 2
            )
        )
        writer.add_quarantine(5.0, "hazwatch/x/y", "invalid_json", "bad", b"\x00\xffraw")
        await writer.flush()
        async with engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(readings))).scalar_one() == n
            assert (await connection.execute(select(quarantine.c.payload))).scalar_one() == b"\x00\xffraw"
            events = (await connection.execute(select(alarm_events.c.to_state))).scalars().all()
        assert events == ["active_unacknowledged", "active_unacknowledged"]
        rows = await queries.list_alarms(engine, active_only=True)
        assert {r["rule"] for r in rows} == {"threshold.high", "threshold.high_high"}
        assert await queries.next_alarm_id(engine) == 3
        open_rows = await queries.open_alarms(engine, drill=False)
        assert {(r["rule"], r["sensor_id"]) for r in open_rows} == {
            ("threshold.high", "gas-n01-cl2"),
            ("threshold.high_high", "gas-n01-cl2"),
        }
        writer.close()
        await task
    finally:
        await engine.dispose()
