"""Overload on a real broker: an alarm-level reading is judged ahead of the routine backlog, no sensor is judged out
of order, nothing is lost or doubled, and /healthz says degraded while the backlog is late, ok once it is gone.

Before, the service judged strictly in arrival order (a 5,000 nSv/h reading waited 29.9 s behind the backlog at 2.6x
capacity in bench/overload.py) and /healthz said ok while 91 s behind. Nothing here is timed: the properties are
the order readings were judged in (the order of the stored chunks), counts, and the health the service reported.

The overload is made as it happens: the service's event loop is busy (here: blocked by the publishers, as a long
batch or a stalled disk would block it) while devices go on publishing, so when it runs again the broker and the
socket hold a backlog far larger than a batch.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest

from daemon.service import Service
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.faults.harness import GAMMA_DEVICES, Mosquitto, lost_and_doubled, stored_readings
from tests.helpers import eventually

ROUTINE = GAMMA_DEVICES[:-1]
HAZARD = GAMMA_DEVICES[-1]
PER_DEVICE = 1500  # 13,500 routine messages: several batches beyond the look-ahead


def _line(device: str, t: float, value: float) -> bytes:
    return f'[{{"bn":"{device}:","bt":{t:.6f},"n":"dose_rate","u":"nSv/h","v":{value}}}]\n'.encode()


def _publish(port: int, prefix: str, lines: dict[str, list[bytes]]) -> None:
    """One ``mosquitto_pub -l`` per device (QoS 1), each fed its lines; returns once the broker has them all."""
    processes = {
        device: subprocess.Popen(
            ["mosquitto_pub", "-p", str(port), "-q", "1", "-l", "-t", f"{prefix}/demo-park/{device}",
             "-i", f"pub-{prefix}-{device}"],
            stdin=subprocess.PIPE,
        )
        for device in lines
    }  # fmt: skip
    for device, process in processes.items():
        assert process.stdin is not None
        process.stdin.write(b"".join(lines[device]))
        process.stdin.close()
    for process in processes.values():
        assert process.wait(timeout=120) == 0


def _judged_order(db: Path) -> list[tuple[str, float]]:
    """Every stored reading in the order it was judged: chunk by chunk (commit order), arrival order inside."""
    import sqlite3
    from contextlib import closing

    from daemon.store.reading_chunks import decode_chunk

    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(
            "SELECT format, sensors, data, count FROM reading_chunks WHERE drill = 0 ORDER BY id"
        ).fetchall()
    judged: list[tuple[str, float]] = []
    for fmt, sensors, data, count in rows:
        chunk = decode_chunk(fmt, sensors, data, count)
        judged += zip(chunk.sensor_id.tolist(), chunk.time.tolist(), strict=True)
    return judged


async def _health(service: Service) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.http_port}/healthz") as response,
    ):
        return response.status, dict(await response.json())


@pytest.mark.slow
async def test_under_overload_an_alarm_reading_jumps_the_backlog_in_order(
    tmp_path: Path, demo_site: Site, unique: str
) -> None:
    """13,500 routine readings, then one of 5,000 nSv/h, then 900 more: it is judged thousands of places early."""
    broker = Mosquitto(tmp_path / "broker")  # unbounded queues: the backlog waits at the broker, none dropped
    broker.start()
    db = tmp_path / "hazwatch.db"
    prefix = f"ov{unique}"
    config = service_config(f"mqtt://127.0.0.1:{broker.port}", f"sqlite:///{db}", prefix, f"svc{unique}")
    config.ingest.behind_degraded_s = 2.0  # the backlog below is a few seconds late: degraded well within it
    try:
        async with running_service(config, demo_site) as service:
            # Fresh readings first: every sensor learns its usual lateness (a fraction of a second here).
            now = time.time()
            fresh = {device: [_line(device, now, 90.0)] for device in GAMMA_DEVICES}
            await asyncio.to_thread(_publish, broker.port, prefix, fresh)

            async def learnt() -> bool:
                return (service.metrics.registry.get_sample_value("hazwatch_ingest_readings_total") or 0) >= 10

            await eventually(learnt, timeout=30)
            # The loop is busy (blocked right here) while the devices publish the backlog and the hazard reading.
            base = time.time()
            routine = {d: [_line(d, base + k * 1e-4, 90.0) for k in range(PER_DEVICE)] for d in ROUTINE}
            _publish(broker.port, prefix, routine)
            hazard_time = time.time()
            _publish(broker.port, prefix, {HAZARD: [_line(HAZARD, hazard_time, 5000.0)]})
            after = {d: [_line(d, hazard_time + 1e-3 + k * 1e-4, 90.0) for k in range(100)] for d in ROUTINE}
            _publish(broker.port, prefix, after)
            time.sleep(max(0.0, base + 3.0 - time.time()))  # noqa: ASYNC251 - the busy loop is the point: 3 s late
            published_before_hazard = len(ROUTINE) * PER_DEVICE
            total = 10 + published_before_hazard + 1 + 900
            samples: list[tuple[int, dict[str, object]]] = []

            async def all_stored() -> bool:
                samples.append(await _health(service))
                return (service.metrics.registry.get_sample_value("hazwatch_ingest_readings_total") or 0) >= total

            await eventually(all_stored, timeout=50, interval=0.2)
            await service.writer.flush()
            urgent = service.metrics.registry.get_sample_value("hazwatch_ingest_urgent_messages_total") or 0

            async def healthy() -> bool:
                status, _ = await _health(service)
                return status == 200

            await eventually(healthy, timeout=30)  # caught up: ok again
            final = (await _health(service))[1]
    finally:
        broker.stop()
    judged = _judged_order(db)
    # Nothing lost, nothing doubled.
    sent = [(f"{d}-dose", round(now, 6)) for d in GAMMA_DEVICES]
    sent += [(f"{d}-dose", round(base + k * 1e-4, 6)) for d in ROUTINE for k in range(PER_DEVICE)]
    sent += [(f"{HAZARD}-dose", round(hazard_time, 6))]
    sent += [(f"{d}-dose", round(hazard_time + 1e-3 + k * 1e-4, 6)) for d in ROUTINE for k in range(100)]
    counts = stored_readings(db)
    rounded = type(counts)({(s, round(t, 6)): n for (s, t), n in counts.items()})
    lost, doubled = lost_and_doubled(sent, rounded)
    assert (lost, doubled) == ([], [])
    # Priority: the hazard reading was judged thousands of places before its turn (the look-ahead it jumped).
    hazard = (f"{HAZARD}-dose", round(hazard_time, 6))
    position = next(i for i, (sensor, value_time) in enumerate(judged) if (sensor, round(value_time, 6)) == hazard)
    assert urgent >= 1
    assert position < 10 + published_before_hazard - 2000, (position, published_before_hazard)
    # Order: every sensor's readings were judged in the order of their times (each device published them so).
    by_sensor: dict[str, list[float]] = defaultdict(list)
    for sensor, value_time in judged:
        by_sensor[sensor].append(value_time)
    assert all(times == sorted(times) for times in by_sensor.values())
    # Health: degraded while the judged data was later than usual, with the figure; ok once caught up.
    degraded = [body for status, body in samples if status == 503]
    assert any(float(str(body.get("data_later_than_usual_s") or 0)) > 2.0 for body in degraded), samples[:5]
    assert final["status"] == "ok"
    assert final["messages_waiting"] == 0
    assert final["priority_lane_connected"] is None  # no lane configured


@pytest.mark.slow
async def test_with_a_priority_lane_alarm_readings_overtake_a_broker_backlog(
    tmp_path: Path, demo_site: Site, unique: str
) -> None:
    """13,500 routine readings queued at the broker (far beyond the receive window: the look-ahead cannot see past
    them), then the hazard device's readings: on its own session they are judged before most of the backlog.

    The broker's queue is one per session, in publish order: with one session a reading published at the end of a
    backlog is judged at the end of it, however urgent (the look-ahead reorders only a receive window's worth), so
    alarm latency after an overload recovers only once the whole backlog is drained. The hazard device's messages
    also reach the main session (it subscribes to everything): each is judged once, none is lost.
    """
    broker = Mosquitto(tmp_path / "broker")  # unbounded queues: the backlog waits at the broker, none dropped
    broker.start()
    db = tmp_path / "hazwatch.db"
    prefix = f"ol{unique}"
    config = service_config(f"mqtt://127.0.0.1:{broker.port}", f"sqlite:///{db}", prefix, f"svc{unique}")
    config.mqtt.receive_maximum = 1000  # the service holds at most this: the rest of the backlog waits at the broker
    config.mqtt.priority_devices = [HAZARD]
    try:
        async with running_service(config, demo_site) as service:
            assert service.priority_lane is not None
            assert service.priority_lane.connected.is_set()
            now = time.time()
            await asyncio.to_thread(_publish, broker.port, prefix, {d: [_line(d, now, 90.0)] for d in GAMMA_DEVICES})

            async def learnt() -> bool:
                return (service.metrics.registry.get_sample_value("hazwatch_ingest_readings_total") or 0) >= 10

            await eventually(learnt, timeout=30)
            # The loop is busy while the backlog, then the hazard device's readings (the first raises the alarm;
            # the others are the "after the load" probes), then more routine readings are published.
            base = time.time()
            _publish(
                broker.port, prefix, {d: [_line(d, base + k * 1e-4, 90.0) for k in range(PER_DEVICE)] for d in ROUTINE}
            )
            hazard_base = time.time()
            hazard_times = [hazard_base + k * 1e-3 for k in range(6)]
            _publish(broker.port, prefix, {HAZARD: [_line(HAZARD, t, 5000.0) for t in hazard_times]})
            after = {d: [_line(d, hazard_base + 0.01 + k * 1e-4, 90.0) for k in range(100)] for d in ROUTINE}
            _publish(broker.port, prefix, after)
            total = 10 + len(ROUTINE) * PER_DEVICE + len(hazard_times) + len(ROUTINE) * 100
            registry = service.metrics.registry
            main_behind: list[float] = []  # the lane's gauge while the backlog drains

            async def all_stored() -> bool:
                main_behind.append(registry.get_sample_value("hazwatch_priority_lane_main_behind_messages") or 0)
                return (registry.get_sample_value("hazwatch_ingest_readings_total") or 0) >= total

            await eventually(all_stored, timeout=60, interval=0.2)
            await service.writer.flush()
            duplicates = registry.get_sample_value("hazwatch_duplicate_readings_total") or 0
            lane_health = (await _health(service))[1]["priority_lane_connected"]
            lane_messages = {
                session: registry.get_sample_value("hazwatch_priority_lane_messages_total", {"first_on": session})
                for session in ("priority", "main")
            }
            main_behind_at_end = registry.get_sample_value("hazwatch_priority_lane_main_behind_messages")
    finally:
        broker.stop()
    judged = _judged_order(db)
    sent = [(f"{d}-dose", round(now, 6)) for d in GAMMA_DEVICES]
    sent += [(f"{d}-dose", round(base + k * 1e-4, 6)) for d in ROUTINE for k in range(PER_DEVICE)]
    sent += [(f"{HAZARD}-dose", round(t, 6)) for t in hazard_times]
    sent += [(f"{d}-dose", round(hazard_base + 0.01 + k * 1e-4, 6)) for d in ROUTINE for k in range(100)]
    counts = stored_readings(db)
    rounded = type(counts)({(s, round(t, 6)): n for (s, t), n in counts.items()})
    assert lost_and_doubled(sent, rounded) == ([], [])
    assert len(judged) == len(sent)
    assert lane_health is True  # /healthz says whether the lane is up
    # /metrics says what the lane did: each of the hazard device's 7 messages judged once, the 6 published behind the
    # backlog first from the lane; the main session was behind the lane while it drained, and caught up.
    assert sum(value or 0 for value in lane_messages.values()) == 1 + len(hazard_times), lane_messages
    assert (lane_messages["priority"] or 0) >= len(hazard_times), lane_messages
    assert max(main_behind) >= 1, main_behind
    assert main_behind_at_end == 0
    # The lane's copies were paired by the bytes, not left to the memory of seen readings: none reached the pipeline.
    assert duplicates == 0
    # Every hazard reading, the last published after the whole backlog, was judged within the first receive windows
    # of it: not behind the 13,500 routine readings published before them.
    positions = [i for i, (sensor, _) in enumerate(judged) if sensor == f"{HAZARD}-dose"][1:]  # [0]: the fresh one
    published_before = 10 + len(ROUTINE) * PER_DEVICE
    assert len(positions) == len(hazard_times)
    assert max(positions) < published_before // 4, (positions, published_before)
    by_sensor: dict[str, list[float]] = defaultdict(list)
    for sensor, value_time in judged:
        by_sensor[sensor].append(value_time)
    assert all(times == sorted(times) for times in by_sensor.values())
