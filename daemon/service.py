"""The running service: wires broker, ingest, pipeline, store and HTTP together, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.alarm_tracker import AlarmTracker
from daemon.api.context import ApiContext
from daemon.api.operations import StoreOperations
from daemon.broker_url import BrokerTarget, parse_broker
from daemon.clock import Clock, WallClock
from daemon.codec import SenmlDecoder
from daemon.config import ServiceConfig
from daemon.demo_feed import DemoFeed
from daemon.embedded_broker import EmbeddedBroker
from daemon.events import EventBus
from daemon.http_app import create_app
from daemon.intake import Intake
from daemon.metrics import Metrics, SensorCollector
from daemon.mqtt_ingest import MqttIngest
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.routes import AlarmNotifier, AlarmRouter
from daemon.notify.worker import CHANNEL_FAILING_RULE, DeliveryWorker
from daemon.pipeline import Pipeline
from daemon.store import queries
from daemon.store.engine import create_engine, migrate
from daemon.store.writer import StoreWriter, WriteGroup
from rules.sensor_table import SensorTable
from rules.site import Site

log = logging.getLogger(__name__)


@dataclass
class Service:
    """Everything one ``hazwatch run`` owns. ``start`` brings it up, ``stop`` takes it down in order."""

    config: ServiceConfig
    site: Site
    clock: Clock = field(default_factory=WallClock)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    demo: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))  # channel secrets

    def __post_init__(self) -> None:
        self.table = SensorTable.build(self.site)
        self.metrics = Metrics(self.registry)
        self.target: BrokerTarget = parse_broker(self.config.mqtt.broker)
        self.engine: AsyncEngine = create_engine(self.config.database.url)  # connects lazily
        self.broker: EmbeddedBroker | None = None
        self.ingest: MqttIngest | None = None
        self.http_port: int | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._writer_task: asyncio.Task[None] | None = None
        self.bus = EventBus()
        self.notifier: DeliveryWorker | None = None
        self._channels: ChannelSet | None = None

    async def start(self) -> None:
        """Open the database, start the broker if embedded, connect, serve HTTP."""
        config = self.config
        await migrate(self.engine)
        self.writer = StoreWriter(self.engine, [s.id for s in self.table.sensors], self.metrics)
        self._writer_task = asyncio.create_task(self.writer.run(), name="store-writer")
        self.writer.after_commit.append(self._after_commit)
        self.alarms = AlarmTracker(self.table, self.writer, self.metrics, await queries.next_alarm_id(self.engine))
        self.alarms.listeners.append(
            AlarmNotifier(AlarmRouter(config.notify, self.table), self.writer, self.clock, drill=False)
        )
        if config.notify.enabled:
            self._channels = ChannelSet(config.notify, self.environ)
            self.notifier = DeliveryWorker(
                self.engine, self._channels.channels, self.clock, self.metrics, config.notify, self.alarms
            )
            self._tasks.append(asyncio.create_task(self.notifier.run(), name="notify-worker"))
        self.pipeline = Pipeline(
            self.table, self.writer, self.alarms, self.metrics, store_readings=config.database.store_readings
        )
        await self._restore_alarms()
        self.registry.register(SensorCollector(self.table, self.pipeline.latest_value, self.pipeline.latest_time))
        self.intake = Intake(
            SenmlDecoder(
                self.table,
                config.mqtt.topic_prefix,
                config.ingest.max_payload_bytes,
                config.ingest.max_future_skew_s,
                config.ingest.max_past_age_s,
            ),
            self.pipeline,
            self.writer,
            self.metrics,
            self.clock,
            batch_max_messages=config.ingest.batch_max_messages,
            batch_max_delay_s=config.ingest.batch_max_delay_s,
            quarantine_log_interval_s=config.ingest.quarantine_log_interval_s,
        )
        if self.target.embedded:
            self.broker = EmbeddedBroker(self.target.host, self.target.port)
            await self.broker.start()
        self.ingest = MqttIngest(self.target, config.mqtt, self.intake.accept, self.metrics, self.clock)
        self._tasks.append(asyncio.create_task(self.ingest.run(), name="mqtt-ingest"))
        self._tasks.append(asyncio.create_task(self._flush_timer(), name="batch-flush"))
        await self._start_http()
        if self.demo:
            feed = DemoFeed(self.site, self.target, config.mqtt.topic_prefix, self.clock)
            self._tasks.append(asyncio.create_task(feed.run(), name="demo-feed"))

    async def _restore_alarms(self) -> None:
        for row in await queries.open_alarms(self.engine, drill=False):
            if row["rule"] == CHANNEL_FAILING_RULE:
                self.alarms.restore_service(row["rule"], row["sensor_id"], row["id"], row["priority"])
                continue
            sensor = self.table.index.get(row["sensor_id"])
            if sensor is None:
                continue  # the sensor left the site file; its alarm stays open for a person to close
            self.alarms.restore(row["rule"], sensor, row["id"], row["priority"], row)
            self.pipeline.restore_open_alarm(row["rule"], sensor)

    def _after_commit(self, group: WriteGroup) -> None:
        # Published only once durable, so a console that reacts by fetching finds the rows.
        for row in group.alarm_inserts:
            self.bus.publish("alarm.raised", {"row": row})
        for change in group.alarm_updates:
            self.bus.publish("alarm.updated", {"row": {"id": change["id"]}})
        if group.notifications and self.notifier is not None:
            self.notifier.poke()

    async def _start_http(self) -> None:
        ingest = self.ingest
        pipeline = self.pipeline
        api = ApiContext(
            operations=StoreOperations(self.engine, self.table.index),
            bus=self.bus,
            clock=self.clock,
            table=self.table,
            latest=lambda: (pipeline.latest_value, pipeline.latest_time),
            public_read=self.config.http.public_read,
            max_shelve_s=self.config.http.max_shelve_s,
        )
        app = create_app(
            self.engine,
            self.registry,
            lambda: ingest is not None and ingest.connected.is_set(),
            api,
            max_body_bytes=self.config.http.max_body_bytes,
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http.host, self.config.http.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.config.http.port
        log.info("HTTP on http://%s:%s (console /, /api, /metrics)", self.config.http.host, self.http_port)

    async def _flush_timer(self) -> None:
        # Checking five times per batch delay bounds a batch's wait at 1.2x the delay (a full delay per tick could
        # let a batch opened just after a tick wait twice as long), which keeps alarm latency low.
        interval = self.config.ingest.batch_max_delay_s / 5
        while True:
            await asyncio.sleep(interval)
            self.intake.flush_if_due()

    async def wait_connected(self) -> None:
        """Wait until the MQTT subscription is in place (tests and benchmarks bound it with a timeout)."""
        if self.ingest is None:
            raise RuntimeError("start() the service first")
        await self.ingest.connected.wait()

    async def drain(self) -> None:
        """Process the partial batch and commit every queued write (tests and benchmarks)."""
        self.intake.flush()
        await self.writer.flush()

    async def stop(self) -> None:
        """Stop taking input, process what was received, commit, then close everything."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if hasattr(self, "intake"):
            self.intake.flush()
        if self._writer_task is not None:
            self.writer.close()
            await self._writer_task
        if self._channels is not None:
            await self._channels.close()
        self.bus.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.broker is not None:
            await self.broker.stop()
        await self.engine.dispose()
        log.info("hazwatch stopped cleanly")
