"""The broker down for 30 s (stopped, not restarted at once) while devices go on measuring: they queue locally and
retry, the service reconnects on its own, and afterwards every reading is stored exactly once.

What can go wrong: messages the service received but had not committed when the broker went away are delivered
again by the broker (they were never acknowledged) and must not be stored twice; readings a device sent just before
the stop may be sent again by the device when their PUBACK never came; and the service must neither exit nor give
up reconnecting during a long outage. test_kill_and_restart restarts the broker within a second between bursts;
here readings keep coming before, during and after an outage 30 times longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.faults.harness import Mosquitto, QueueingPublisher, ServiceProcess, lost_and_doubled, wait_stored
from tests.helpers import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

OUTAGE_S = 30.0  # the outage: longer than the service's reconnect back-off cap, as in a real broker failure
RATE = 100.0  # readings per second from the devices, before, during and after the outage
# Readings flow this long before the stop and after the return: 200 readings either side are batches in flight at
# the stop and a catch-up after it (5 s either side, as before, showed nothing more and cost 6 s).
AROUND_S = 2.0


async def test_broker_down_30s_while_devices_queue_loses_and_doubles_nothing(tmp_path: Path, unique: str) -> None:
    """Readings at 100/s for 2 s, through a 30 s outage, and 2 s after: every one stored once; /healthz said the
    broker was gone during the outage and the service kept running."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    # Back-off capped at 5 s (default 30 s) so the catch-up starts within seconds of the broker's return.
    service = ServiceProcess(tmp_path / "service", broker.port, f"out{unique}", mqtt_extra="reconnect_max_s = 5.0\n")
    devices = QueueingPublisher(broker.port, service.prefix, time.time() - 600)
    sender: asyncio.Task[None] | None = None
    try:
        service.start()
        await service.wait_ready()
        sender = asyncio.create_task(devices.send_forever())
        await devices.produce_at(RATE, AROUND_S)
        broker.stop()
        producing = asyncio.create_task(devices.produce_at(RATE, OUTAGE_S))

        async def broker_gone() -> dict[str, object] | None:
            status, body = await service.health()
            return body if status == 503 and body.get("broker_connected") is False else None

        during = await eventually(broker_gone, timeout=20)
        await producing
        queued_at_return = devices.queued
        broker.start()
        await devices.produce_at(RATE, AROUND_S)
        counts = await wait_stored(service.db_path, len(devices.sent), timeout=120)
        assert service.terminate() == 0, service.logs()[-3000:]
    finally:
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
    lost, doubled = lost_and_doubled(devices.sent, counts)
    assert (len(lost), len(doubled)) == (0, 0), (lost[:5], doubled[:5])
    assert sum(counts.values()) == len(devices.sent)
    assert during["broker_connected"] is False
    assert queued_at_return >= RATE * OUTAGE_S * 0.9  # the devices really held the outage's readings
    assert devices.reconnects > 0
    assert "Traceback" not in service.logs()
