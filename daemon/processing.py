"""The processing chain every input goes through (live MQTT, replayed recordings): intake, pipeline, alarms, store.

Built in one place so a drill replay runs exactly what the live service runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.alarm_tracker import AlarmTracker
from daemon.clock import Clock
from daemon.codec import SenmlDecoder
from daemon.config import ServiceConfig
from daemon.intake import Intake
from daemon.metrics import Metrics
from daemon.pipeline import Pipeline
from daemon.store import queries
from daemon.store.writer import StoreWriter
from rules.sensor_table import SensorTable


@dataclass(frozen=True, slots=True)
class ProcessingChain:
    """The parts of one processing chain; the caller runs ``writer.run()`` as a task."""

    writer: StoreWriter
    alarms: AlarmTracker
    pipeline: Pipeline
    intake: Intake


async def build_chain(
    config: ServiceConfig,
    table: SensorTable,
    engine: AsyncEngine,
    metrics: Metrics,
    clock: Clock,
    *,
    drill: bool,
    store_readings: bool | None = None,
) -> ProcessingChain:
    """Build writer, alarm tracker, pipeline and intake; ``drill`` marks every row they write."""
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics, drill=drill)
    alarms = AlarmTracker(table, writer, metrics, await queries.next_alarm_id(engine))
    keep_readings = config.database.store_readings if store_readings is None else store_readings
    pipeline = Pipeline(table, writer, alarms, metrics, store_readings=keep_readings)
    intake = Intake(
        SenmlDecoder(
            table,
            config.mqtt.topic_prefix,
            config.ingest.max_payload_bytes,
            config.ingest.max_future_skew_s,
            config.ingest.max_past_age_s,
        ),
        pipeline,
        writer,
        metrics,
        clock,
        batch_max_messages=config.ingest.batch_max_messages,
        batch_max_delay_s=config.ingest.batch_max_delay_s,
        quarantine_log_interval_s=config.ingest.quarantine_log_interval_s,
    )
    return ProcessingChain(writer, alarms, pipeline, intake)
