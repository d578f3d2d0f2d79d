"""Under overload an urgent reading is judged ahead of the routine backlog, and no sensor's readings go out of order.

Through the production seam (``Intake.accept``, the pipeline, a real SQLite file). ``input_pending`` says what the
MQTT socket would: more input waits, so the intake reads ahead instead of judging the backlog batch by batch.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
from sqlalchemy import select

from daemon.chain.build import AlarmSetup, build_intake
from daemon.ingest.intake import EARLY_CLOSE_BURST, Intake
from daemon.ingest.priority import Prescreen
from daemon.store.reading_chunks import decode_chunk
from daemon.store.schema import reading_chunks
from detectors.readings import ReadingBatch
from tests.seam import Chain

ROUTINE = [f"gamma-{n:02d}" for n in range(1, 10)]
HAZARD = "gamma-10"


def _reading(device: str, t: float, value: float) -> bytes:
    return json.dumps([{"bn": f"{device}:", "bt": t, "n": "dose_rate", "u": "nSv/h", "v": value}]).encode()


def _live_intake(chain: Chain) -> Intake:
    """The live intake with the default rules' levels, its socket always holding more (overload)."""
    rules = AlarmSetup.load(chain.config.alarms).rules
    intake = build_intake(chain.config, chain.pipeline, chain.writer, chain.metrics, chain.clock, rules=rules)
    intake.input_pending = lambda: True
    intake.behind_excess_s = 60.0  # the data judged is a minute later than usual: behind, so it reads ahead
    return intake


async def _judged_in_order(chain: Chain) -> list[tuple[str, float]]:
    """(sensor, time) of every stored reading, in the order the pipeline judged them (chunk id, then position)."""
    async with chain.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(reading_chunks.c.format, reading_chunks.c.sensors, reading_chunks.c.data, reading_chunks.c.count)
                .where(reading_chunks.c.drill.is_(False))
                .order_by(reading_chunks.c.id)
            )
        ).all()
    judged: list[tuple[str, float]] = []
    for fmt, sensors, data, count in rows:
        chunk = decode_chunk(fmt, sensors, data, count)
        judged += zip(chunk.sensor_id.tolist(), chunk.time.tolist(), strict=True)
    return judged


async def test_an_alarm_level_reading_jumps_the_backlog_with_its_device_in_order(chain: Chain) -> None:
    """5,000 routine messages wait; the hazard device's messages (routine ones first, then 5,000 nSv/h) go next."""
    intake = _live_intake(chain)
    t0 = chain.clock.now() - 60
    hazard_times = []
    for number in range(5000):
        t = t0 + number * 0.002
        if number % 500 == 7:  # the hazard device's own routine readings, spread through the backlog
            intake.accept(chain.topic(HAZARD), _reading(HAZARD, t, 90.0), chain.clock.now())
            hazard_times.append(t)
        elif number == 3100:
            intake.accept(chain.topic(HAZARD), _reading(HAZARD, t, 5000.0), chain.clock.now())
            hazard_times.append(t)
        else:
            device = ROUTINE[number % len(ROUTINE)]
            intake.accept(chain.topic(device), _reading(device, t, 90.0), chain.clock.now())
    assert chain.metrics.registry.get_sample_value("hazwatch_ingest_readings_total") == 0  # all waiting
    chain.clock.advance(2 * intake.batch_window)
    intake.flush_if_due()  # the timer's tick
    await chain.writer.flush()
    judged = await _judged_in_order(chain)
    # Only the hazard device was judged: every one of its waiting messages, in its own order, nothing else.
    assert judged == [(f"{HAZARD}-dose", t) for t in hazard_times]
    assert chain.metrics.registry.get_sample_value("hazwatch_ingest_urgent_messages_total") == len(hazard_times)
    assert intake.waiting()[0] == 5000 - len(hazard_times)
    # The socket runs dry: the routine backlog follows, oldest first; every sensor saw its readings in time order.
    intake.input_pending = lambda: False
    chain.clock.advance(2 * intake.batch_window)  # grown: the readings were a minute late
    intake.flush_if_due()
    await chain.writer.flush()
    judged = await _judged_in_order(chain)
    assert len(judged) == 5000
    by_sensor: dict[str, list[float]] = defaultdict(list)
    for sensor, t in judged:
        by_sensor[sensor].append(t)
    assert all(times == sorted(times) for times in by_sensor.values())
    assert judged[len(hazard_times)][1] == t0  # the routine backlog starts at its oldest message


async def test_an_urgent_reading_closes_its_batch_at_once_with_the_messages_before_it(chain: Chain) -> None:
    """No backlog: an alarm-level reading does not wait out the batch window; routine readings still do.

    Every message is pre-screened now (the CPU it costs: ``bench/intake_cpu.py``); nothing jumps, so the urgent
    counter (messages judged ahead of a backlog) stays 0.
    """
    intake = _live_intake(chain)
    intake.behind_excess_s = 0.0  # not behind: a burst, not a backlog
    now = chain.clock.now()
    intake.accept(chain.topic(ROUTINE[0]), _reading(ROUTINE[0], now - 1, 90.0), now)
    intake.accept(chain.topic(HAZARD), _reading(HAZARD, now - 0.5, 5000.0), now)
    intake.accept(chain.topic(ROUTINE[1]), _reading(ROUTINE[1], now - 0.4, 90.0), now)
    await chain.writer.flush()  # no timer tick, no time passed
    assert await _judged_in_order(chain) == [(f"{ROUTINE[0]}-dose", now - 1), (f"{HAZARD}-dose", now - 0.5)]
    assert intake.waiting()[0] == 1  # the routine reading after it waits for the window
    chain.clock.advance(2 * intake.batch_window)
    intake.flush_if_due()
    await chain.writer.flush()
    assert (await _judged_in_order(chain))[-1] == (f"{ROUTINE[1]}-dose", now - 0.4)
    assert chain.metrics.registry.get_sample_value("hazwatch_ingest_urgent_messages_total") == 0


async def test_urgent_readings_close_at_most_one_batch_early_per_window_past_a_burst(chain: Chain) -> None:
    """A flood of urgent messages: the first two close their batch at once, the next ones wait for the timer to close
    them once a configured window has passed, so urgent traffic at most doubles the number of batches and none waits
    longer than the configured window."""
    intake = _live_intake(chain)
    intake.behind_excess_s = 0.0
    window = chain.config.ingest.batch_max_delay_s  # the configured one (the half-second-late readings grow it)
    assert EARLY_CLOSE_BURST == 2
    now = chain.clock.now()
    times = [now - 0.5 + 0.01 * k for k in range(5)]
    for t in times[:3]:
        intake.accept(chain.topic(HAZARD), _reading(HAZARD, t, 5000.0), now)
    await chain.writer.flush()
    assert await _judged_in_order(chain) == [(f"{HAZARD}-dose", t) for t in times[:2]]
    chain.clock.advance(window / 2)
    intake.accept(chain.topic(HAZARD), _reading(HAZARD, times[3], 5000.0), chain.clock.now())
    intake.flush_if_due()
    assert intake.waiting()[0] == 2  # the bucket is empty: still held
    chain.clock.advance(window)
    assert chain.clock.now() - now < intake.batch_window  # the (grown) window of the third message's batch runs on
    intake.flush_if_due()  # but the bucket has one early close again: the held ones close now
    assert intake.waiting()[0] == 0
    chain.clock.advance(1.5 * window)
    intake.accept(chain.topic(HAZARD), _reading(HAZARD, times[4], 5000.0), chain.clock.now())  # past the bound
    await chain.writer.flush()
    assert await _judged_in_order(chain) == [(f"{HAZARD}-dose", t) for t in times]
    assert intake.waiting()[0] == 0


async def test_a_window_grown_by_late_readings_does_not_hold_back_the_next_urgent_reading(chain: Chain) -> None:
    """An early batch of hours-old readings grows the batch window; the next urgent message a configured window later
    still closes its batch at once."""
    intake = _live_intake(chain)
    intake.behind_excess_s = 0.0
    window = chain.config.ingest.batch_max_delay_s
    now = chain.clock.now()
    old = now - 4 * 3600
    intake.accept(chain.topic(HAZARD), _reading(HAZARD, old, 5000.0), now)
    assert intake.batch_window > 2 * window  # grown by the late reading
    chain.clock.advance(1.5 * window)
    intake.accept(chain.topic(HAZARD), _reading(HAZARD, old + 1, 5000.0), chain.clock.now())
    await chain.writer.flush()
    assert await _judged_in_order(chain) == [(f"{HAZARD}-dose", old), (f"{HAZARD}-dose", old + 1)]


async def test_an_urgent_reading_within_the_first_batch_does_not_wait_for_the_look_ahead(chain: Chain) -> None:
    """Behind, with more input waiting: routine messages wait in the look-ahead, but an urgent one among the first
    batch's worth closes that batch at once (before, it waited until the look-ahead filled or the socket ran dry)."""
    intake = _live_intake(chain)
    now = chain.clock.now()
    intake.accept(chain.topic(ROUTINE[0]), _reading(ROUTINE[0], now - 60, 90.0), now)
    chain.clock.advance(2 * intake.batch_window)
    intake.flush_if_due()  # reading ahead: the routine message waits
    await chain.writer.flush()
    assert await _judged_in_order(chain) == []
    intake.accept(chain.topic(HAZARD), _reading(HAZARD, now - 59, 5000.0), chain.clock.now())
    await chain.writer.flush()
    assert await _judged_in_order(chain) == [(f"{ROUTINE[0]}-dose", now - 60), (f"{HAZARD}-dose", now - 59)]


def test_prescreen_tells_urgent_from_routine(chain: Chain) -> None:
    """Beyond the first level (200 nSv/h, gamma-level-200), a status message, a device in alarm: urgent."""
    screen = Prescreen(chain.intake._decoder, chain.table, chain.config.mqtt.topic_prefix)
    screen.update_levels(AlarmSetup.load(chain.config.alarms).rules, chain.pipeline.detector.config)
    now = chain.clock.now()
    topic = chain.topic("gamma-01")
    assert not screen.urgent(topic, _reading("gamma-01", now, 150.0), now)
    assert screen.urgent(topic, _reading("gamma-01", now, 250.0), now)
    assert screen.urgent(topic, _reading("gamma-01", now, 0.25).replace(b"nSv/h", b"uSv/h"), now)  # 250 nSv/h
    assert screen.urgent(topic + "/status", b"offline", now)
    assert not screen.urgent(chain.topic("nobody"), _reading("nobody", now, 9e9), now)  # bad input waits its turn
    assert not screen.urgent(topic, b"[" * 5000, now)
    screen.devices_in_alarm = frozenset({int(chain.table.device_of[chain.table.index["gamma-01-dose"]])})
    assert screen.urgent(topic, _reading("gamma-01", now, 90.0), now)  # its device is in alarm
    assert screen.topics_of(topic + "/status") == (topic, topic + "/status")


async def test_readings_of_other_ingests_do_not_wait_in_the_mqtt_look_ahead(chain: Chain) -> None:
    """Behind on MQTT with 3,000 messages waiting: a Modbus/HJ 212 batch (decoded ahead) goes through at the tick."""
    intake = _live_intake(chain)
    now = chain.clock.now()
    for number in range(3000):
        device = ROUTINE[number % len(ROUTINE)]
        intake.accept(chain.topic(device), _reading(device, now - 60 + number * 0.001, 90.0), now)
    sensor = chain.table.index[f"{HAZARD}-dose"]
    intake.accept_decoded(
        ReadingBatch(np.array([sensor], np.int32), np.array([now - 0.5]), np.array([95.0]), np.zeros(1, np.uint16))
    )
    chain.clock.advance(2 * intake.batch_window)
    intake.flush_if_due()
    await chain.writer.flush()
    assert await _judged_in_order(chain) == [(f"{HAZARD}-dose", now - 0.5)]
    assert intake.waiting()[0] == 3000
