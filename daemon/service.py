"""The running service: wires broker, ingest, pipeline, store and HTTP together, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.assessment.gamma_search import GammaSearch
from daemon.assessment.runner import AssessmentRunner
from daemon.chain.build import AlarmSetup, build_intake, build_pipeline, reload_rules
from daemon.chain.checkpoint import StateCheckpoints
from daemon.clock import Clock, WallClock
from daemon.config import ServiceConfig
from daemon.drills import runs
from daemon.drills.recording import RotatingRecorder
from daemon.errors import ConfigError, HazwatchError, PortInUseError
from daemon.ha.pair import HaPair
from daemon.ha.shared_operations import SharedOperations
from daemon.ha.standby import StandbyHold
from daemon.health import ServiceHealth
from daemon.ingest.broker_url import BrokerTarget, parse_broker
from daemon.ingest.demo_feed import DemoFeed
from daemon.ingest.embedded_broker import EmbeddedBroker, free_port, port_is_free
from daemon.ingest.field_protocols import FieldProtocols, start_field_protocols
from daemon.ingest.intake import Intake
from daemon.ingest.mqtt import Ack, MessageHandler, MqttIngest
from daemon.ingest.priority_lane import LANE_SEEN_SCAN, Lane, LaneCopies, lane_handler, priority_topics
from daemon.metrics.adapters import AlarmBookMetrics, IncidentEngineMetrics
from daemon.metrics.exposition import Exposition
from daemon.metrics.instruments import Metrics
from daemon.metrics.render_process import RenderProcess
from daemon.metrics.sensors import SensorCollector, SensorStateCollector, SiteCollector
from daemon.metrics.sources import MetricSources
from daemon.metrics.status import StatusCollector
from daemon.notify.channels.demo_inbox import DemoInbox
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.demo_roster import with_demo_inbox
from daemon.notify.drill_pages import check_drill_destinations
from daemon.notify.memory_delivery import MemoryDelivery
from daemon.notify.outbox import Outbox, OutboxSink
from daemon.notify.page_links import link_key
from daemon.notify.routes import AlarmNotifier, AlarmRouter
from daemon.notify.worker import DeliveryWorker
from daemon.store.engine import create_engine, migrate
from daemon.store.quarantine_retention import delete_old_quarantine
from daemon.store.reading_chunks import latest_readings
from daemon.store.reading_retention import DAY_S, apply_retention, ensure_day_partitions
from daemon.store.schema import alarms, incidents
from daemon.store.spool import read_spool, write_spool
from daemon.store.writer import StoreWriter, WriteGroup
from daemon.tasks.supervisor import Supervisor, end_task
from daemon.web.api.context import ApiContext
from daemon.web.api.engine_operations import EngineOperations
from daemon.web.api.errors import Conflict
from daemon.web.app import create_app
from daemon.web.assessment import attach_assessment
from daemon.web.demo_inbox import add_demo_inbox_route
from daemon.web.events import EventBus
from daemon.web.page_ack import PageAckContext, add_page_ack_routes
from rules.sensor_table import SensorTable
from rules.site import Site

log = logging.getLogger(__name__)
DRILL_QUERY_TIMEOUT_S = 2.0  # a scrape waits at most this long for the drill runs
QUARANTINE_RETENTION_EVERY_S = 3600.0


def _recording_handler(recorder: RotatingRecorder, accept: MessageHandler) -> MessageHandler:
    """Record every message exactly as it arrived, then process it."""

    def handle(topic: str, payload: bytes, received: float, ack: Ack | None) -> None:
        recorder(topic, payload, received)
        accept(topic, payload, received, ack)

    return handle


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
        self.metric_sources = MetricSources(len(self.table))  # components replace its defaults when wired in
        self.target: BrokerTarget = parse_broker(self.config.mqtt.broker)
        self.setup = AlarmSetup.load(self.config.alarms)
        self.demo_inbox = DemoInbox() if self.demo else None
        if self.demo:
            self.setup = dataclasses.replace(self.setup, roster=with_demo_inbox(self.setup.roster))
        check_drill_destinations(self.config.notify, self.setup.roster)
        self.engine: AsyncEngine = create_engine(self.config.database.url)  # connects lazily
        self.broker: EmbeddedBroker | None = None
        self.ingest: MqttIngest | None = None
        self.priority_lane: MqttIngest | None = None  # the second session of mqtt.priority_devices (None: off)
        self._intake: Intake | None = None  # built by start(); stop() also runs after a start that failed before it
        self.http_port: int | None = None
        self._runner: web.AppRunner | None = None
        self._render_process: RenderProcess | None = None  # the /metrics render child; stop() ends it
        self.supervisor = Supervisor(self.metrics, self.clock)
        self.ready = False  # start() finished: reloads run at once (before, a SIGHUP is queued)
        self._reload_queued = False
        self._writer_task: asyncio.Task[None] | None = None
        self.recorder: RotatingRecorder | None = None
        self.bus = EventBus()
        self.notifier: DeliveryWorker | None = None
        self._channels: ChannelSet | None = None
        self.field_protocols = FieldProtocols()
        self.ha: HaPair | None = None  # set when this instance is one of a high-availability pair

    @property
    def intake(self) -> Intake:
        """Where decoded readings enter the chain (built by ``start``)."""
        if self._intake is None:
            raise RuntimeError("start() the service first")
        return self._intake

    @property
    def spool_path(self) -> Path:
        """The spool file: as configured, else beside a SQLite database, else ``hazwatch.spool`` here."""
        if self.config.database.spool_file is not None:
            return self.config.database.spool_file
        url = self.config.database.url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            return Path(url.removeprefix("sqlite:///") + ".spool")
        return Path("hazwatch.spool")

    async def start(self) -> None:
        """Open the database, start the broker if embedded, connect, serve HTTP."""
        config = self.config
        self._check_http_port()
        await migrate(self.engine)
        self.writer = StoreWriter(
            self.engine,
            [s.id for s in self.table.sensors],
            self.metrics,
            retry_max_s=config.database.write_retry_max_s,
        )
        if config.ha.enabled and self.engine.dialect.name == "postgresql":
            # One of a pair: a follower until the lock is won, so not even the start-up writes may commit yet.
            self.writer.hold = StandbyHold(config.ha.hold_s, after_keep=self.writer.after_commit)
        self._writer_task = asyncio.create_task(self.writer.run(), name="store-writer")
        spooled = read_spool(self.spool_path, remove=False)
        if spooled is not None:  # rows a shutdown could not write: into the database before anything new
            log.info("writing the rows spooled at the last shutdown (%s)", self.spool_path)
            if spooled.readings_left_out or spooled.rows_lost:
                log.error(
                    "the last shutdown's spool was over its bound: %d readings left out (to come again from the "
                    "broker), %d other rows lost",
                    spooled.readings_left_out,
                    spooled.rows_lost,
                )
                self.metrics.spool_readings_left_out.inc(spooled.readings_left_out)
                self.metrics.spool_rows_lost.inc(spooled.rows_lost)
            self.writer.requeue(spooled.group)
            await self.writer.flush()
            self.spool_path.unlink()
        self.pipeline = await build_pipeline(
            self.engine,
            self.table,
            self.setup,
            self.writer,
            self.metrics,
            self.clock,
            drill=False,
            store_readings=config.database.store_readings,
        )
        self.checkpoints = StateCheckpoints(
            self.pipeline,
            self.setup.checkpoint_configuration(self.table, self.pipeline.detector.config),
            self.writer,
            self.clock,
            config.alarms.checkpoint_interval_s,
        )
        await self._remember_stored_readings()
        self.writer.before_commit.append(self.checkpoints.before_commit)
        self._plug_metric_sources()
        self.assessment = AssessmentRunner(self.table, self.pipeline.flow)
        self.pipeline.batch_listeners.append(self.assessment.on_batch)
        self.gamma_search = GammaSearch(self.table, self.pipeline.flow, self.pipeline.detector.gamma)
        self._start_notifications()
        await self._start_ha()
        self._intake = build_intake(
            config, self.pipeline, self.writer, self.metrics, self.clock, rules=self.setup.rules
        )
        self.intake.on_status(lambda status: self.pipeline.device_status(status.device, status.online, status.time))
        self.intake.start()
        handler: MessageHandler = self.intake.accept
        priority_handler: MessageHandler = self.intake.accept_priority
        if config.recording.enabled:
            rotate_bytes = config.recording.rotate_mb * 1024 * 1024
            self.recorder = RotatingRecorder(config.recording.dir, rotate_bytes, self.site.site)
            handler = _recording_handler(self.recorder, self.intake.accept)
            priority_handler = _recording_handler(self.recorder, self.intake.accept_priority)
        lane_topics = self._lane_topics()
        if lane_topics:
            copies = LaneCopies(lane_topics)
            handler = lane_handler(copies, Lane.MAIN, handler, self.writer.add_acks, self.metrics)
            priority_handler = lane_handler(copies, Lane.PRIORITY, priority_handler, self.writer.add_acks, self.metrics)
            lane = MqttIngest(
                self.target, config.mqtt, priority_handler, self.metrics, self.clock, topics=copies.topics,
                client_id=f"{config.mqtt.client_id}-priority",
                receive_maximum=config.mqtt.priority_receive_maximum, main=False,
            )  # fmt: skip
            lane.full = lambda: lane.unacknowledged >= config.mqtt.priority_receive_maximum
            self.priority_lane = lane
        self._register_collectors()
        if self.target.embedded:
            self._pick_embedded_port()
            self.broker = EmbeddedBroker(self.target.host, self.target.port)
            await self.broker.start()
        # Workers ready before subscribing, so a backlog delivered at once goes to them (bounded: until they are
        # ready every batch is decoded in place; nothing waits for them, and nothing is acknowledged before commit).
        if not await self.intake.wait_ready(config.ingest.decode_workers_start_s):
            log.warning(
                "decode workers not ready after %.0fs; decoding in place meanwhile",
                config.ingest.decode_workers_start_s,
            )
        self.ingest = MqttIngest(self.target, config.mqtt, handler, self.metrics, self.clock)
        self.intake.input_pending = self.ingest.input_pending
        self.ingest.full = functools.partial(self.intake.holds, config.mqtt.receive_maximum)
        self.supervisor.start("batch-flush", self._flush_timer)
        self.supervisor.start("alarm-timers", self._alarm_timer)
        self.supervisor.start("quarantine-retention", self._quarantine_retention)
        if self.priority_lane is not None:
            # Subscribed before the main session: a message published from then on is queued for both.
            self.supervisor.start("mqtt-priority-lane", self.priority_lane.run)
        self.supervisor.start("mqtt-ingest", self.ingest.run)
        self.field_protocols = await start_field_protocols(config, self.table, self.intake, self.metrics, self.clock)
        self.exposition.start_soon()
        await self._start_http()
        if self.demo:
            feed = DemoFeed(self.site, self.target, config.mqtt.topic_prefix, self.clock)
            self.supervisor.start("demo-feed", feed.run)
        self.ready = True
        if self._reload_queued:
            self._reload_queued = False
            self.reload()

    def _lane_topics(self) -> list[str]:
        """The priority lane's topics (none: no lane; with the embedded broker, the demo's, one session is enough)."""
        mqtt = self.config.mqtt
        return [] if self.target.embedded else priority_topics(self.table, mqtt.topic_prefix, mqtt.priority_devices)

    async def _remember_stored_readings(self) -> None:
        """Fill the pipeline's memory of stored readings, so messages the broker delivers again are dropped (the
        priority lane's sensors in a memory of their own)."""
        if self._lane_topics():
            wanted = set(self.config.mqtt.priority_devices)
            devices = [i for i, d in enumerate(self.table.devices) if d.id in wanted or d.type.value in wanted]
            self.pipeline.keep_apart(devices)
        limit = self.pipeline.seen.generation
        sensor_ids = [s.id for s in self.table.sensors]
        batch = await latest_readings(self.engine, sensor_ids, limit)
        self.pipeline.seen.remember(batch.sensor, batch.time)
        lane_seen = self.pipeline.lane_seen
        if lane_seen is not None:
            # The lane's sensors among the newest LANE_SEEN_SCAN x generation readings: the main session's copy of
            # a lane message can come that far behind it (a backlog queued for the main session at the restart).
            batch = await latest_readings(self.engine, sensor_ids, LANE_SEEN_SCAN * limit)
            mine = self.pipeline.lane_sensors[batch.sensor]
            lane_seen.remember(batch.sensor[mine], batch.time[mine])

    async def _quarantine_retention(self) -> None:
        """Delete quarantine rows past their retention, at start and every hour."""
        keep_s = self.config.ingest.quarantine_retention_days * 86400.0
        while True:
            deleted = await delete_old_quarantine(self.engine, self.clock.now() - keep_s)
            if deleted:
                log.info("deleted %d quarantine rows older than %.0f days", deleted, keep_s / 86400)
            await self._reading_retention()
            await asyncio.sleep(QUARANTINE_RETENTION_EVERY_S)

    async def _reading_retention(self) -> None:
        """Day partitions ahead (PostgreSQL) and raw readings past their days summarised; the leader only."""
        if self.ha is not None and not self.ha.leader:
            return
        now = self.clock.now()
        keep_days = self.config.database.raw_readings_keep_days
        try:
            await ensure_day_partitions(self.engine, now, now + 2 * DAY_S)
            if keep_days is not None:
                await apply_retention(self.engine, now, keep_days)
        except Exception:  # the database may be briefly away: the next hourly pass catches up
            log.exception("reading retention failed; trying again in an hour")

    def _start_notifications(self) -> None:
        """Direct alarm routes queue outbox rows with the alarm's own rows; the worker delivers them."""
        config = self.config.notify
        self.writer.after_commit.append(self._after_commit)
        router = AlarmRouter(config, self.table)
        self.link_key = link_key(self.environ, config.ack_link_key_env)
        outbox = Outbox(config, self.link_key)  # plan pages and alarm routes: one intent type, one outbox
        # Plan pages carry the release estimate and the gamma search.
        outbox.assessments = (self.assessment.page_summary, self.gamma_search.page_summary)
        self.pipeline.flow.outbox = outbox
        self.pipeline.flow.listeners.append(AlarmNotifier(router, OutboxSink(self.writer, outbox), drill=False))
        if config.enabled:
            self._channels = ChannelSet(config, self.environ, self.demo_inbox)
            self.notifier = DeliveryWorker(
                self.engine, self._channels.channels, self.clock, self.metrics, config, self.pipeline.flow
            )
            self.writer.page_claim = self.notifier  # pages are claimed by the commit that stores their alarm
            if not self.config.ha.enabled:
                self._start_delivery()

    def _start_delivery(self) -> None:
        if self.notifier is not None and not self.supervisor.running("notify-worker"):
            self.supervisor.start("notify-worker", self.notifier.run)
            # urgent pages the database has not taken in time go out from memory (issue 17)
            self.supervisor.start("notify-memory", MemoryDelivery(self.notifier, self.writer, self.clock).run)

    async def _stop_delivery(self) -> None:
        await self.supervisor.stop_one("notify-worker")
        await self.supervisor.stop_one("notify-memory")
        if self.notifier is not None:
            # Claimed pages whose request never started go back to the table: the next leader or start sends them
            # (left ``sending``, they would end outcome_unknown after their lease without ever having been sent).
            with contextlib.suppress(Exception):  # no database: the lease ends and the cut-mid-request rule applies
                await self.notifier.release_unsent()

    async def _start_ha(self) -> None:
        """One of a pair: follow (hold writes, no pages) until the advisory lock is ours (``daemon/ha/``)."""
        if not self.config.ha.enabled:
            return
        hold = self.writer.hold
        if not isinstance(hold, StandbyHold):  # installed with the writer on PostgreSQL only
            log.warning("[ha] enabled on %s: no lock to share, this instance leads", self.engine.dialect.name)
            self._start_delivery()
            return
        self.ha = HaPair(
            self.config.ha,
            self.config.database.url,
            self.engine,
            self.writer,
            hold,
            self.pipeline,
            start_delivery=self._start_delivery,
            stop_delivery=self._stop_delivery,
            local_operations=self._engine_operations(),
            supervisor=Supervisor(self.metrics, self.clock),
            registry=self.registry,
        )
        if self.notifier is not None:
            self.notifier.fence = self.ha.fence
        await self.ha.start()

    def _engine_operations(self) -> EngineOperations:
        return EngineOperations(
            self.engine,
            self.table.index,
            lambda: self.pipeline.flow,
            self.writer,
            detector=lambda: self.pipeline.detector,
        )

    def _after_commit(self, group: WriteGroup) -> None:
        # Published only once durable, so a console that reacts by fetching finds the rows.
        for row in group.inserts.get(alarms, []):
            self.bus.publish("alarm.raised", {"row": {"id": row["id"], "sensor_id": row["sensor_id"]}})
        for table, row_id, _ in group.updates:
            if table is alarms:
                self.bus.publish("alarm.updated", {"row": {"id": row_id}})
            elif table is incidents:
                self.bus.publish("incident.updated", {"row": {"id": row_id}})
        if group.inserts.get(incidents):
            self.bus.publish("incident.updated", {"row": {}})
        if self.notifier is not None:
            self.notifier.after_commit(group)

    def _register_collectors(self) -> None:
        """Scrape-time collectors over the pipeline's arrays and the providers in ``metric_sources``."""
        self.metrics.start_time.set(self.clock.now())
        self.metrics.drill_running.set(0)
        table, pipeline = self.table, self.pipeline
        self.site_collector = SiteCollector(table, self.setup.rules, pipeline.detector.config)
        # Per-sensor families grow with the site: rendered from snapshots in a child process (metrics/exposition.py).
        process = RenderProcess() if self.config.http.metrics_render_process else None
        self._render_process = process
        self.exposition = Exposition(
            self.registry,
            [
                StatusCollector(table, self.clock, self.metric_sources),
                self.site_collector,
                SensorCollector(table, pipeline.latest_value, pipeline.latest_time),
                SensorStateCollector(table, self.clock, pipeline, self.metric_sources, self.intake.device_online),
            ],
            process,
        )

    def _plug_metric_sources(self) -> None:
        """Point the scrape-time collectors at the engines (again after a reload replaces them)."""
        state = self.pipeline.flow.state
        book_metrics = AlarmBookMetrics(state.book)
        self.metric_sources.alarms = book_metrics
        self.metric_sources.conditions = book_metrics
        self.metric_sources.service_status = book_metrics
        self.metric_sources.incidents = IncidentEngineMetrics(state.incidents)
        self.metric_sources.quality = self.pipeline.detector.quality

    def _check_http_port(self) -> None:
        """Fail before starting anything when the HTTP address is taken (one line, not a traceback)."""
        http = self.config.http
        if http.port and not port_is_free(http.host, http.port):
            raise PortInUseError(
                f"cannot serve HTTP on {http.host}:{http.port}: the port is in use (another hazwatch?); "
                f"choose another with --http {http.host}:PORT or [http] port in the config"
            )

    def _pick_embedded_port(self) -> None:
        """Plain `embedded` prefers 1883; if another broker already has it, take a free port and say so."""
        target = self.target
        if port_is_free(target.host, target.port):
            return
        if target.port_chosen:
            raise HazwatchError(
                f"cannot start the embedded broker: {target.host}:{target.port} is in use; choose another port "
                f"(--broker embedded:{target.host}:PORT) or use the broker that is there (--broker "
                f"mqtt://{target.host}:{target.port})"
            )
        port = free_port(target.host)
        log.warning(
            "port %d is taken (another MQTT broker?); the embedded broker listens on %s:%d instead: "
            "point devices there, or use --broker mqtt://%s:%d to use the existing broker",
            target.port, target.host, port, target.host, target.port,
        )  # fmt: skip
        self.target = dataclasses.replace(target, port=port)

    async def _start_http(self) -> None:
        ingest = self.ingest
        pipeline = self.pipeline
        api = ApiContext(
            # One of a pair: actions go through the shared log, so the leader applies them whoever took them.
            operations=SharedOperations(self.ha.actions) if self.ha is not None else self._engine_operations(),
            bus=self.bus,
            clock=self.clock,
            table=self.table,
            latest=lambda: (pipeline.latest_value, pipeline.latest_time),
            public_read=self.config.http.public_read,
            max_shelve_s=self.config.http.max_shelve_s,
            roster=lambda: self.setup.roster,
            map=self.config.map,
        )
        health = ServiceHealth(
            self.intake, self.writer, self.supervisor, self.clock, self.config.ingest.stall_after_s,
            lag_degraded_s=self.config.ingest.lag_degraded_s, behind_degraded_s=self.config.ingest.behind_degraded_s,
            receive_window=self.config.mqtt.receive_maximum,
        )  # fmt: skip
        lane = self.priority_lane
        if lane is not None:
            health.priority_lane_connected = lane.connected.is_set
        if self.ha is not None:
            health.more_supervisors = (self.ha.supervisor,)
        app = create_app(
            self.engine,
            self.registry,
            lambda: ingest is not None and ingest.connected.is_set(),
            api,
            max_body_bytes=self.config.http.max_body_bytes,
            before_scrape=[self._refresh_drill_running],
            exposition=self.exposition,
            service_health=health.check,
        )
        attach_assessment(app, self.assessment, lambda: self.pipeline.flow, self.gamma_search)
        add_page_ack_routes(app, self._page_ack_context(api))
        if self.demo_inbox is not None:
            add_demo_inbox_route(app, self.demo_inbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http.host, self.config.http.port)
        try:
            await site.start()
        except OSError as exc:  # taken between the check at start and now
            raise PortInUseError(
                f"cannot serve HTTP on {self.config.http.host}:{self.config.http.port}: {exc.strerror}"
            ) from exc
        addresses = self._runner.addresses  # the bound (host, port, ...) tuples: port 0 becomes the real port
        self.http_port = int(addresses[0][1]) if addresses else self.config.http.port
        log.info("HTTP on http://%s:%s (console /, /api, /metrics)", self.config.http.host, self.http_port)

    def _page_ack_context(self, api: ApiContext) -> PageAckContext:
        """Acknowledging from a page's link goes through the same engine operation as the console's button."""
        operations = api.operations

        async def engine_ack(row_id: int, actor: str, now: float) -> None:
            with contextlib.suppress(Conflict):  # the row was already acknowledged on the console
                await operations.acknowledge_notification(row_id, actor, now)

        secret = self.environ.get(self.config.notify.inbound_sms_secret_env or "", "") or None
        return PageAckContext(
            self.engine,
            self.link_key,
            self.clock,
            self.metrics,
            engine_ack,
            secret,
            self.config.notify.utc_offset_h,
            self.environ,
        )

    async def _stop_writer(self) -> None:
        """Let the writer commit what it holds; past ``stop_timeout_s`` keep the rest in the spool file."""
        assert self._writer_task is not None  # noqa: S101 - called only when it runs
        self.writer.close()
        done, _ = await asyncio.wait([self._writer_task], timeout=self.config.database.stop_timeout_s)
        if done:
            return
        await end_task(self._writer_task)
        unwritten = self.writer.unwritten()
        if unwritten:
            write_spool(self.spool_path, unwritten, self.config.database.spool_max_bytes)

    async def _refresh_drill_running(self) -> None:
        """``hazwatch_drill_running``: 1 while a replay writes into this service's database (its run is alive)."""
        try:
            async with asyncio.timeout(DRILL_QUERY_TIMEOUT_S):
                running = await runs.count_running(self.engine, self.clock.now())
        except Exception:  # a slow or failing database must not fail the scrape: keep the last value
            log.warning("could not read the running drill runs for /metrics", exc_info=True)
            return
        self.metrics.drill_running.set(1 if running else 0)

    async def _flush_timer(self) -> None:
        # Checking five times per batch delay bounds a batch's wait at 1.2x the delay (a full delay per tick could
        # let a batch opened just after a tick wait twice as long), which keeps alarm latency low.
        while True:
            await asyncio.sleep(self.intake.batch_window / 5)
            self.intake.flush_if_due()
            if self.recorder is not None:
                self.recorder.flush()

    async def _alarm_timer(self) -> None:
        """Run time-driven alarm and plan logic, and checkpoint the state now and then."""
        alarms = self.config.alarms
        last_checkpoint = self.clock.now()
        while True:
            await asyncio.sleep(alarms.tick_interval_s)
            now = self.clock.now()
            self.pipeline.tick(now)
            await self.assessment.tick_in_thread(now)
            await self.gamma_search.tick_in_thread(now)
            if self.checkpoints.dirty or now - last_checkpoint >= alarms.checkpoint_interval_s:
                self.checkpoints.save(now, by_timer=True)
                last_checkpoint = now

    def request_reload(self) -> None:
        """SIGHUP: reload now, or once ``start`` has finished (a signal that early is queued, not fatal)."""
        if not self.ready:
            log.info("reload requested while starting: it runs once the service is ready")
            self._reload_queued = True
            return
        try:
            self.reload()
        except Exception:  # a signal handler must never take the service down
            log.exception("configuration reload failed; the running rules stay in force")

    def reload(self) -> bool:
        """Re-read rule, plan and roster files; a bad file is rejected and the running rules stay in force."""
        try:
            new = AlarmSetup.load(self.config.alarms)
            check_drill_destinations(self.config.notify, new.roster)
        except ConfigError as exc:
            # The located issues say everything; a traceback would bury them.
            log.error("configuration reload rejected; the running rules stay in force:\n%s", "\n".join(exc.issues))  # noqa: TRY400
            return False
        now = self.clock.now()
        reload_rules(self.pipeline, self.setup, new, now)
        self.setup = new
        self.checkpoints.configuration = new.checkpoint_configuration(self.table, self.pipeline.detector.config)
        self._plug_metric_sources()
        self.site_collector.update_levels(new.rules, self.pipeline.detector.config)
        if self.intake.prescreen is not None:
            self.intake.prescreen.update_levels(new.rules, self.pipeline.detector.config)
        self.checkpoints.save(now)
        return True

    async def wait_connected(self) -> None:
        """Wait until the MQTT subscription is in place (tests and benchmarks bound it with a timeout)."""
        if self.ingest is None:
            raise RuntimeError("start() the service first")
        await self.ingest.connected.wait()
        if self.priority_lane is not None:
            await self.priority_lane.connected.wait()

    async def drain(self) -> None:
        """Process the partial batch and commit every queued write (tests and benchmarks)."""
        self.field_protocols.flush()
        await self.intake.settle()
        await self.writer.flush()

    async def stop(self) -> None:
        """Stop taking input, process what was received, commit (or spool, past a time limit), close everything."""
        await self._stop_delivery()
        if self._intake is not None:
            # Commit what arrived while the connection is still up, so its acknowledgements reach the broker
            # (what arrives after this is acknowledged never and delivered again at the next start).
            await self.intake.settle()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(2.0, self.config.database.stop_timeout_s / 2)):
                    await self.writer.flush()
        await self.supervisor.stop()
        await self.field_protocols.stop()
        if self._intake is not None:
            await self.intake.settle()
            await self.intake.close()
            self.checkpoints.save(self.clock.now())
        if self.recorder is not None:
            self.recorder.close()
        if self._writer_task is not None:
            await self._stop_writer()
        if self._channels is not None:
            await self._channels.close()
        self.bus.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._render_process is not None:
            await self._render_process.close()
        if self.broker is not None:
            await self.broker.stop()
        if self.ha is not None:
            await self.ha.stop()  # the lock goes last: the follower takes over once everything is committed
        with contextlib.suppress(TimeoutError):  # a database that does not answer must not hold the exit
            async with asyncio.timeout(self.config.database.stop_timeout_s):
                await self.engine.dispose()
        log.info("hazwatch stopped cleanly")
