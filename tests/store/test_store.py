"""The store on a real SQLite file and on the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from daemon.chain.build import AlarmSetup, build_pipeline
from daemon.chain.checkpoint import save
from daemon.clock import ManualClock
from daemon.config import AlarmConfig
from daemon.metrics.instruments import Metrics
from daemon.store import queries
from daemon.store.engine import create_engine, migrate
from daemon.store.reading_chunks import count_readings
from daemon.store.schema import alarm_events, metadata, quarantine
from daemon.store.writer import StoreWriter
from detectors.readings import ReadingBatch
from detectors.substances import SUBSTANCES
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


async def test_writes_and_reads_round_trip(migrated_db_url: str, demo_site: Site) -> None:
    """Readings, quarantine, alarms and their journal are stored and read back; a checkpoint resumes the state."""
    table = SensorTable.build(demo_site)
    metrics = Metrics(CollectorRegistry())
    setup = AlarmSetup.load(AlarmConfig())
    clock = ManualClock(10_000.0)
    engine = create_engine(migrated_db_url)
    try:
        writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
        task = asyncio.create_task(writer.run())
        pipeline = await build_pipeline(engine, table, setup, writer, metrics, clock, drill=False)
        cl2 = table.index["gas-n01-cl2"]
        level2 = 2 * SUBSTANCES["Cl2"].occupational_limit_ppm
        n = 5000
        values = [0.01 * (i % 3) for i in range(n - 2)] + [level2 * 3] * 2
        pipeline.process(ReadingBatch.from_lists([cl2] * n, [100.0 + 20 * i for i in range(n)], values), clock.now())
        writer.add_quarantine(5.0, "hazwatch/x/y", "invalid_json", "bad", b"\x00\xffraw")
        save(pipeline, setup.checkpoint_configuration(table, pipeline.detector.config), writer, clock.now())
        await writer.flush()
        async with engine.connect() as connection:
            assert await count_readings(connection) == n
            assert (await connection.execute(select(quarantine.c.payload))).scalar_one() == b"\x00\xffraw"
            events = (await connection.execute(select(alarm_events.c.to_state))).scalars().all()
        rows = await queries.list_alarms(engine, active_only=True)
        site_rows = {r["rule"]: r for r in rows if r["rule"] in ("cl2-level1", "cl2-level2")}
        assert set(site_rows) == {"cl2-level1", "cl2-level2"}
        assert {r["raised_at"] for r in site_rows.values()} == {100.0 + 20 * (n - 2)}
        assert events.count("active_unack") == len(rows)
        assert (await queries.next_ids(engine))["alarms"] == len(rows) + 1

        resumed = await build_pipeline(engine, table, setup, writer, metrics, clock, drill=False)
        assert set(resumed.flow.state.episodes) == {r["alarm_key"] for r in rows}
        # The resumed detector knows the level is exceeded: a normal reading clears the alarms.
        resumed.process(ReadingBatch.from_lists([cl2], [100.0 + 20 * n], [0.0]), clock.now())
        await writer.flush()
        cleared = {r["rule"]: r for r in await queries.list_alarms(engine) if r["rule"] in site_rows}
        assert {r["cleared_at"] for r in cleared.values()} == {100.0 + 20 * n}
        assert {r["id"] for r in cleared.values()} == {r["id"] for r in site_rows.values()}
        writer.close()
        await task
    finally:
        await engine.dispose()


def test_head_revision_read_from_the_files_is_alembics() -> None:
    """The at-head shortcut (no Alembic import) agrees with Alembic about which revision is the newest."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from daemon.store.engine import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


async def test_a_failed_commit_is_retried_with_pauses_doubling_up_to_the_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that cannot be opened: the writer keeps the rows and retries after 0.1 s, doubling the pause up to
    ``retry_max_s`` (``database.write_retry_max_s``); once the file can be opened the rows are committed."""
    folder = tmp_path / "not-yet"  # SQLite cannot create a file in a folder that does not exist: every commit fails
    url = f"sqlite:///{folder / 'hazwatch.db'}"
    engine = create_engine(url)
    writer = StoreWriter(engine, [], Metrics(CollectorRegistry()), retry_max_s=0.25)
    pauses: list[float] = []
    sleep = asyncio.sleep

    async def recorded(delay: float) -> None:
        pauses.append(delay)
        if len(pauses) == 5:  # the database is back before the fifth retry
            folder.mkdir()
            back = create_engine(url)
            await migrate(back)
            await back.dispose()
        await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    writer.add_quarantine(5.0, "hazwatch/x/y", "invalid_json", "bad", b"kept")
    task = asyncio.create_task(writer.run())
    try:
        async with asyncio.timeout(30):
            await writer.flush()
        async with engine.connect() as connection:
            assert (await connection.execute(select(quarantine.c.payload))).scalars().all() == [b"kept"]
    finally:
        writer.close()
        await task
        await engine.dispose()
    assert pauses == [0.1, 0.2, 0.25, 0.25, 0.25]
    assert writer.failing_since is None


async def test_rows_in_a_transaction_that_waits_count_as_held(tmp_path: Path) -> None:
    """``backlog_rows`` (``/healthz`` ``store_backlog_rows``) counts the rows in the transaction under way, not just
    the queue beside it: during a database fault the rows spend most of their time in the retried transaction, and the
    figure said 0 then (CI, tests/faults/test_sqlite_disk_faults.py[full_disk])."""
    import sqlite3

    path = tmp_path / "hazwatch.db"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    await migrate(engine)
    writer = StoreWriter(engine, [], Metrics(CollectorRegistry()))
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the writer's transaction waits on the lock (busy_timeout) with its rows
    task = asyncio.create_task(writer.run())
    try:
        writer.add_quarantine(5.0, "hazwatch/x/y", "invalid_json", "bad", b"held")
        writer.add_quarantine(6.0, "hazwatch/x/y", "invalid_json", "bad", b"held too")
        for _ in range(1000):  # until the rows are in the transaction, nothing queued beside it
            if writer.unwritten() is not writer._pending and not writer._pending:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the writer never began its transaction")
        assert writer.backlog_rows() == 2
        locker.execute("COMMIT")
        async with asyncio.timeout(30):
            await writer.flush()
        assert writer.backlog_rows() == 0
    finally:
        locker.close()
        writer.close()
        await task
        await engine.dispose()
