"""SIGKILL the service in steady flow and under a backlog; restart the broker mid-stream: nothing lost, nothing doubled.

Before, paho acknowledged each message on receipt: a SIGKILL lost what had been received but not yet committed
(191 of 90,000 readings over 6 kills), and a broker restart doubled a few readings (QoS 1 redelivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    Mosquitto,
    NumberedPublisher,
    ServiceProcess,
    lost_and_doubled,
    wait_stored,
)
from tests.helpers import publish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A persistent Mosquitto for one test."""
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


async def test_sigkill_in_steady_flow_and_under_backlog_loses_and_doubles_nothing(
    tmp_path: Path, broker: Mosquitto, unique: str
) -> None:
    """Kill -9 twice while 200 msg/s flow (each restart meets the backlog that queued while it was down); every
    reading stored once. (A third kill proved nothing more and cost a restart.)

    Then a 5 KB payload of nested '[' before the last 200 readings, which are fewer than a batch and so go only by
    the flush timer: before, its RecursionError escaped the codec, dropped the batch and killed the timer (nothing
    more stored at a normal rate, /healthz "ok", SIGTERM exit 1). Now it is one quarantined message."""
    service = ServiceProcess(tmp_path / "service", broker.port, f"kill{unique}")
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 120)
    service.start()
    await service.wait_ready()
    try:
        for _ in range(2):
            publishing = asyncio.create_task(publisher.publish(300, rate=200))
            await asyncio.sleep(0.8)  # mid-stream, batches in flight
            service.kill()
            await publishing  # the broker queues what arrives meanwhile: a backlog for the next start
            service.start()
            await service.wait_ready()
        await publish(("127.0.0.1", broker.port), [(f"{service.prefix}/demo-park/gamma-01", b"[" * 5000)])
        await publisher.publish(200, rate=400)
        counts = await wait_stored(service.db_path, len(publisher.sent))
    finally:
        if service.process is not None and service.process.poll() is None:
            assert service.terminate() == 0, service.logs()[-3000:]
    with contextlib.closing(sqlite3.connect(service.db_path)) as connection:
        quarantined = connection.execute("SELECT reason FROM quarantine").fetchall()
    assert quarantined == [("too_deep",)]
    lost, doubled = lost_and_doubled(publisher.sent, counts)
    assert (len(lost), len(doubled)) == (0, 0), (lost[:5], doubled[:5])
    assert sum(counts.values()) == len(publisher.sent)
    assert "Traceback" not in service.logs()


async def test_broker_restarts_mid_stream_lose_and_double_nothing(
    tmp_path: Path, broker: Mosquitto, unique: str
) -> None:
    """The broker restarted twice while readings flow, once stopped and once SIGKILLed (the issue-17 row: 4-7
    readings stored twice): QoS 1 redelivery is not stored twice.

    One device in ten (gamma-10) is on the priority lane (a second session, ``daemon/ingest/priority_lane.py``): its
    messages come on both sessions, each session reconnects on its own and the broker delivers again what either had
    not acknowledged, and still each reading is stored once. (test_broker_outage covers the single session.)
    """
    service = ServiceProcess(
        tmp_path / "service", broker.port, f"brk{unique}", mqtt_extra='priority_devices = ["gamma-10"]\n'
    )
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 120)
    service.start()
    await service.wait_ready()
    try:
        # The first restart starts the broker saving after every change: the SIGKILL of the second then loses
        # nothing it had acknowledged to the publisher, and what it had sent the service unacknowledged (stored or
        # not) comes again.
        broker.autosave_on_changes = True
        for stop in (broker.stop, broker.kill):
            await publisher.publish(300, rate=300)
            stop()
            await asyncio.sleep(1.0)
            broker.start()
            await service.wait_ready()
        await publisher.publish(100, rate=300)
        counts = await wait_stored(service.db_path, len(publisher.sent))
    finally:
        assert service.terminate() == 0, service.logs()[-3000:]
    lost, doubled = lost_and_doubled(publisher.sent, counts)
    assert (len(lost), len(doubled)) == (0, 0), (lost[:5], doubled[:5])
    assert any(sensor == "gamma-10-dose" for sensor, _ in counts)
    assert f"as svc-{service.prefix}-priority" in service.logs()  # the lane was up (its reconnects are not waited for)
