"""Where a simulation goes: a JSON Lines recording, a columnar recording, or a live broker at real speed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiomqtt

from daemon.clock import Clock
from daemon.drills.columnar import ColumnarWriter
from daemon.drills.recording import RecordingWriter, message_line
from daemon.drills.simulator import Simulator
from daemon.ingest.broker_url import BrokerTarget

log = logging.getLogger(__name__)


def write_jsonl(sim: Simulator, path: Path) -> int:
    """Write the scenario as a JSON Lines recording with the ground truth in its header; return the message count."""
    with RecordingWriter(path, "simulator", site=sim.site.site, ground_truth=sim.ground_truth()) as writer:
        for message in sim.messages():
            writer.write_line(message_line(message.received, message.topic, message.payload))
        return writer.messages


def write_columnar(sim: Simulator, path: Path) -> int:
    """Write the scenario as a columnar recording; return the reading count."""
    ids = [s.id for s in sim.table.sensors]
    with ColumnarWriter(path, "simulator", ids, site=sim.site.site, ground_truth=sim.ground_truth()) as writer:
        for batch, extra, first, last, received in sim.batches():
            writer.write_chunk(batch, extra, first, last, received)
        return writer.readings


async def publish_live(sim: Simulator, target: BrokerTarget, wall: Clock, client_id: str) -> int:
    """Publish the scenario to a broker at real speed, shifted to start now (status messages retained)."""
    shift: float | None = None
    sent = 0
    async with aiomqtt.Client(
        target.host, target.port, identifier=client_id, username=target.username, password=target.password
    ) as client:
        for message in sim.messages():
            if shift is None:
                # Start "now" once the first message is ready: connecting and the simulator's first step (about a
                # CPU-second of setup, several seconds on a loaded machine) would otherwise make the first seconds
                # of the scenario overdue, sent in one burst instead of at real speed.
                shift = wall.now() - sim.t0
            due = message.received + shift
            wait = due - wall.now()
            if wait > 0:
                await asyncio.sleep(wait)
            payload = message.payload
            if payload.startswith(b'[{"bn"'):
                payload = _shift_times(payload, shift)
            retain = message.topic.endswith("/status")
            await client.publish(message.topic, payload, qos=1, retain=retain)
            sent += 1
    return sent


def _shift_times(payload: bytes, shift: float) -> bytes:
    """Move a simulated SenML message's base time to now (devices send their own clock)."""
    head, _, rest = payload.partition(b'"bt":')
    number, comma, tail = rest.partition(b",")
    return head + b'"bt":' + repr(round(float(number) + shift, 3)).encode() + comma + tail
