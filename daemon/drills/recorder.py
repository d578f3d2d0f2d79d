"""Make recordings: from a live broker (``hazwatch record``) or from the store (``--from-db``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import Clock
from daemon.drills.recording import RecordingWriter
from daemon.ingest.broker_url import BrokerTarget
from daemon.store.reading_chunks import stream_readings
from detectors.kinds import BOOLEAN_KINDS, CANONICAL_UNIT
from rules.sensor_table import SensorTable

log = logging.getLogger(__name__)


async def record_broker(
    target: BrokerTarget,
    topic: str,
    writer: RecordingWriter,
    clock: Clock,
    *,
    duration_s: float | None,
    client_id: str,
    ready: asyncio.Event | None = None,
) -> int:
    """Write every message on ``topic`` (a filter like ``hazwatch/#``) until ``duration_s`` passes; return the count."""
    async with aiomqtt.Client(
        target.host, target.port, identifier=client_id, username=target.username, password=target.password
    ) as client:
        await client.subscribe(topic, qos=1)
        if ready is not None:
            ready.set()
        try:
            async with asyncio.timeout(duration_s):
                async for message in client.messages:
                    payload = message.payload
                    if not isinstance(payload, bytes | bytearray):
                        payload = b"" if payload is None else str(payload).encode()
                    writer.write(clock.now(), message.topic.value, bytes(payload))
        except TimeoutError:
            pass
    return writer.messages


async def record_from_store(
    engine: AsyncEngine, table: SensorTable, prefix: str, since: float, until: float, writer: RecordingWriter
) -> int:
    """Rebuild the SenML messages each device sent from stored (non-drill) readings; one message per device and time."""
    pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
    current_time: float | None = None

    def emit() -> None:
        for device, records in pending.items():
            records[0] = {"bn": f"{device}:", "bt": current_time, **records[0]}
            payload = json.dumps(records, separators=(",", ":")).encode()
            writer.write(float(current_time or 0.0), f"{prefix}/{table.site.site}/{device}", payload)
        pending.clear()

    async for part in stream_readings(engine, since, until, drill=False):
        for sensor_id, time, value in zip(
            part.sensor_id.tolist(), part.time.tolist(), part.value.tolist(), strict=True
        ):
            number = table.index.get(sensor_id)
            if number is None:
                continue  # the sensor left the site file
            if current_time is not None and time != current_time:
                emit()
            current_time = time
            spec = table.sensors[number]
            device = table.devices[int(table.device_of[number])].id
            record: dict[str, Any] = {"n": spec.name}
            if spec.kind in BOOLEAN_KINDS:
                record["vb"] = value >= 0.5
            else:
                record["u"] = CANONICAL_UNIT[spec.kind]  # stored values are canonical
                record["v"] = value
            pending[device].append(record)
    if pending:
        emit()
    return writer.messages
