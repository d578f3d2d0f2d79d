"""Bad input costs only itself: a nested payload, a decoder bug or a 1 MB message never stops a timer, drops a
batch or fills the database. Through the same seam as production (``Intake.accept``) on a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.chain.build import AlarmSetup, build_intake, build_pipeline
from daemon.chain.pipeline import Pipeline
from daemon.clock import ManualClock
from daemon.config import ServiceConfig
from daemon.ingest.intake import Intake
from daemon.ingest.quarantine_budget import QuarantineBudget
from daemon.ingest.senml import BatchBuilder, DecodeResult, SenmlDecoder
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.quarantine_retention import delete_old_quarantine
from daemon.store.writer import StoreWriter
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.faults.harness import stored_readings
from tests.helpers import senml

NOW = 1_800_000_000.0


@dataclass
class Chain:
    """A live chain on a real SQLite file and a manual clock."""

    config: ServiceConfig
    pipeline: Pipeline
    writer: StoreWriter
    metrics: Metrics
    clock: ManualClock
    db: Path

    def intake(self, **overrides: object) -> Intake:
        """The configured intake, decoding in place."""
        self.config.ingest.decode_workers = 0
        intake = build_intake(self.config, self.pipeline, self.writer, self.metrics, self.clock)
        for name, value in overrides.items():
            setattr(intake, name, value)
        return intake

    def quarantine(self) -> list[tuple[str, str, int]]:
        """(reason, detail, payload bytes) of every quarantine row."""
        with closing(sqlite3.connect(self.db)) as connection:
            rows = connection.execute("SELECT reason, detail, length(payload) FROM quarantine ORDER BY id").fetchall()
        return [(str(r), str(d), int(n)) for r, d, n in rows]

    def count(self, name: str, **labels: str) -> float:
        """A metric's value."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def chain(tmp_path: Path, demo_site: Site) -> AsyncIterator[Chain]:
    """Writer running; committed and closed afterwards."""
    db = tmp_path / "hazwatch.db"
    engine = create_engine(f"sqlite:///{db}")
    await migrate(engine)
    config = ServiceConfig()
    table = SensorTable.build(demo_site)
    metrics = Metrics(CollectorRegistry())
    clock = ManualClock(NOW)
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
    task = asyncio.create_task(writer.run())
    pipeline = await build_pipeline(engine, table, AlarmSetup.load(config.alarms), writer, metrics, clock, drill=False)
    try:
        yield Chain(config, pipeline, writer, metrics, clock, db)
    finally:
        writer.close()
        await task
        await engine.dispose()


def gamma(device: str, value: float, t: float) -> tuple[str, bytes]:
    """A gamma reading message."""
    return f"hazwatch/demo-park/{device}", senml(device, [("dose_rate", value, "nSv/h")], t)


async def test_nested_payload_is_quarantined_and_the_batch_goes_through(chain: Chain) -> None:
    """5 KB of '[' (RecursionError before) is one quarantined message; the readings around it are stored."""
    intake = chain.intake()
    acked: list[int] = []
    for n, (topic, payload) in enumerate(
        [gamma("gamma-01", 90.0, NOW - 2), ("hazwatch/demo-park/gamma-02", b"[" * 5000), gamma("gamma-03", 91.0, NOW)]
    ):
        intake.accept(topic, payload, NOW, lambda n=n: acked.append(n))  # type: ignore[misc]  # binds the loop value
    chain.clock.advance(1.0)
    intake.flush_if_due()  # what the flush timer calls: it must not raise
    await chain.writer.flush()
    assert set(stored_readings(chain.db)) == {("gamma-01-dose", NOW - 2), ("gamma-03-dose", NOW)}
    assert [reason for reason, _, _ in chain.quarantine()] == ["too_deep"]
    assert sorted(acked) == [0, 1, 2]  # acknowledged once their rows (readings, quarantine) committed
    assert chain.count("hazwatch_quarantined_messages_total", reason="too_deep") == 1


class BuggyDecoder(SenmlDecoder):
    """The real decoder with a bug on one device (a white-box stand-in for an unknown codec bug)."""

    def decode(self, topic: str, payload: bytes, received: float, out: BatchBuilder) -> DecodeResult:
        result = super().decode(topic, payload, received, out)
        if topic.endswith("/gamma-02"):
            raise KeyError("a bug after half the work")
        return result


async def test_a_decoder_bug_quarantines_that_message_only(chain: Chain, demo_site: Site) -> None:
    """An exception inside the codec costs the one message (kept with reason decode_error), never the batch."""
    intake = chain.intake()
    intake._decoder = BuggyDecoder(SensorTable.build(demo_site), "hazwatch", 256 * 1024, 300.0, 7 * 86400.0)
    for device in ("gamma-01", "gamma-02", "gamma-03"):
        intake.accept(*gamma(device, 90.0, NOW), NOW, None)
    intake.flush()
    await chain.writer.flush()
    assert set(stored_readings(chain.db)) == {("gamma-01-dose", NOW), ("gamma-03-dose", NOW)}
    assert [reason for reason, _, _ in chain.quarantine()] == ["decode_error"]


async def test_a_chain_bug_quarantines_the_batch_and_the_next_batch_goes_through(chain: Chain) -> None:
    """An exception in the processing chain keeps the batch's messages for inspection; the intake goes on."""
    intake = chain.intake()
    original = chain.pipeline.process

    def broken_once(batch: object, now: float) -> None:
        chain.pipeline.process = original  # type: ignore[method-assign]
        raise RuntimeError("a bug in the chain")

    chain.pipeline.process = broken_once  # type: ignore[method-assign]
    intake.accept(*gamma("gamma-01", 90.0, NOW - 1), NOW, None)
    intake.flush()
    intake.accept(*gamma("gamma-02", 90.0, NOW), NOW, None)
    intake.flush()
    await chain.writer.flush()
    assert set(stored_readings(chain.db)) == {("gamma-02-dose", NOW)}
    assert [reason for reason, _, _ in chain.quarantine()] == ["processing_error"]


async def test_quarantine_keeps_a_bounded_number_of_bytes_per_payload_and_per_day(chain: Chain) -> None:
    """A 1 MB message keeps its first 4 KiB; past the day's budget rejections are counted, not stored."""
    intake = chain.intake(_budget=QuarantineBudget(max_payload_bytes=4096, max_bytes_per_day=20_000))
    big = b"x" * (1024 * 1024)
    for _ in range(8):
        intake.accept("hazwatch/demo-park/gamma-01", big, NOW, None)
    intake.flush()
    await chain.writer.flush()
    rows = chain.quarantine()
    assert 1 <= len(rows) < 8
    assert all(size == 4096 for _, _, size in rows)
    assert "cut to its first 4096 of 1048576 bytes" in rows[0][1]
    assert chain.count("hazwatch_quarantine_not_stored_total") == 8 - len(rows)
    assert chain.count("hazwatch_quarantined_messages_total", reason="payload_too_large") == 8
    # The next day has a new budget.
    intake.accept("hazwatch/demo-park/gamma-01", big, NOW + 86400, None)
    intake.flush()
    await chain.writer.flush()
    assert len(chain.quarantine()) == len(rows) + 1


async def test_quarantine_rows_past_their_retention_are_deleted(chain: Chain, tmp_path: Path) -> None:
    """Retention deletes old rows and keeps recent ones."""
    intake = chain.intake()
    intake.accept("hazwatch/demo-park/gamma-01", b"not json", NOW - 40 * 86400, None)
    intake.accept("hazwatch/demo-park/gamma-01", b"not json either", NOW, None)
    intake.flush()
    await chain.writer.flush()
    engine = create_engine(f"sqlite:///{chain.db}")
    try:
        assert await delete_old_quarantine(engine, NOW - 30 * 86400) == 1
    finally:
        await engine.dispose()
    assert len(chain.quarantine()) == 1


async def test_redelivered_readings_are_neither_stored_nor_judged_twice(chain: Chain) -> None:
    """QoS 1 redelivery of a stored message (and one message naming a reading twice) stores each reading once."""
    intake = chain.intake()
    message = gamma("gamma-01", 90.0, NOW)
    twice = (
        "hazwatch/demo-park/gamma-02",
        json.dumps([{"bn": "gamma-02:", "bt": NOW, "n": "dose_rate", "v": 90.0}] * 2).encode(),
    )
    intake.accept(*message, NOW, None)
    intake.accept(*twice, NOW, None)
    intake.flush()
    intake.accept(*message, NOW, None)  # the broker delivers it again (its acknowledgement was lost)
    intake.flush()
    await chain.writer.flush()
    counts = stored_readings(chain.db)
    assert counts == {("gamma-01-dose", NOW): 1, ("gamma-02-dose", NOW): 1}
    assert chain.count("hazwatch_duplicate_readings_total") == 2
    assert chain.count("hazwatch_ingest_readings_total") == 2  # judged once each
