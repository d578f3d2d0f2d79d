"""The in-process harness: the production chain from ``Intake.accept`` to the database, with no broker and no clock.

Messages enter where the MQTT handler hands them over (``Intake.accept``), are decoded, batched, judged by the
pipeline (detection, rules, alarm book, incidents) and written by the store writer to a real SQLite file, on a
``ManualClock`` the test moves. A test that is about what the service does with readings uses this (the ``chain``
fixture of ``tests/conftest.py``); a test about the broker (sessions, QoS, reconnects, acknowledgements) uses the
machine's Mosquitto and a running ``Service``, and says so by its ``machine_broker``/``own_mosquitto`` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import AlarmSetup, build_intake, build_pipeline
from daemon.chain.pipeline import Pipeline
from daemon.clock import ManualClock
from daemon.config import ServiceConfig
from daemon.ingest.intake import Intake
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.writer import StoreWriter
from rules.sensor_table import SensorTable
from rules.site import Site

PREFIX = "hazwatch"  # the default topic prefix: topics are ``hazwatch/<site>/<device>``


@dataclass
class Chain:
    """One live chain on a SQLite file; ``clock`` is the only time it sees."""

    config: ServiceConfig
    table: SensorTable
    engine: AsyncEngine
    pipeline: Pipeline
    writer: StoreWriter
    intake: Intake
    metrics: Metrics
    clock: ManualClock

    def topic(self, device: str) -> str:
        """The topic a device of this site publishes on."""
        return f"{self.config.mqtt.topic_prefix}/{self.table.site.site}/{device}"

    def accept(self, device: str, payload: bytes) -> None:
        """A message from ``device`` arrives now (as the MQTT handler would hand it over)."""
        self.intake.accept(self.topic(device), payload, self.clock.now())

    async def settle(self) -> None:
        """Close the open batch, run every batch through the pipeline and commit every queued row."""
        await self.intake.settle()
        await self.writer.flush()

    def tick(self, seconds: float) -> None:
        """Move the clock on and run the time-driven logic (offline detection, escalations), as the service's timer."""
        self.clock.advance(seconds)
        self.pipeline.tick(self.clock.now())


@contextlib.asynccontextmanager
async def live_chain(url: str, site: Site, now: float, config: ServiceConfig | None = None) -> AsyncIterator[Chain]:
    """Build the live chain on the database at ``url`` (migrated here); commit and close it afterwards."""
    config = config or ServiceConfig()
    config.mqtt.topic_prefix = config.mqtt.topic_prefix or PREFIX
    config.ingest.decode_workers = 0  # the worker path has its own tests (tests/daemon/test_decode_pool.py)
    table = SensorTable.build(site)
    clock = ManualClock(now)
    engine = create_engine(url)
    metrics = Metrics(CollectorRegistry())
    try:
        await migrate(engine)
        writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
        task = asyncio.create_task(writer.run())
        pipeline = await build_pipeline(
            engine, table, AlarmSetup.load(config.alarms), writer, metrics, clock, drill=False
        )
        intake = build_intake(config, pipeline, writer, metrics, clock)
        try:
            yield Chain(config, table, engine, pipeline, writer, intake, metrics, clock)
            await intake.settle()
        finally:
            await intake.close()
            writer.close()
            await task
    finally:
        await engine.dispose()
