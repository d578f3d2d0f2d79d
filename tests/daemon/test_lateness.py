"""Lateness is judged against each sensor's usual lateness: a growing backlog counts within seconds, a device whose
clock is off (steadily late) never does, and the figure returns to zero once the backlog is gone."""

from __future__ import annotations

import numpy as np

from daemon.ingest.lateness import LatenessFloor
from detectors.readings import ReadingBatch

T0 = 1_800_000_000.0
SENSORS = 10


def _batch(times: list[float], sensors: list[int] | None = None) -> ReadingBatch:
    n = len(times)
    numbers = np.arange(n, dtype=np.int32) if sensors is None else np.array(sensors, np.int32)
    return ReadingBatch(numbers, np.array(times), np.full(n, 90.0), np.zeros(n, np.uint16))


def test_a_growing_backlog_is_late_within_seconds_and_a_skewed_clock_never() -> None:
    """Ten sensors, one with a clock 120 s slow; an hour normal, then 2.6x overload: 1.6 s more late each second."""
    floor = LatenessFloor(SENSORS, rise_s=600.0)
    usual = [0.2] * (SENSORS - 1) + [120.2]  # transit, and sensor 9's slow clock
    excesses = []
    for second in range(3600):  # normal: every batch within 1 s of the floor, the slow clock included
        now = T0 + second
        excesses.append(floor.excess(_batch([now - late for late in usual]), now))
    assert max(excesses) < 1.0
    # The slow-clock sensor alone in a batch (a small site at night): still as usual.
    assert floor.excess(_batch([T0 + 3600 - 120.2], [SENSORS - 1]), T0 + 3600) < 1.0
    backlog = []
    for second in range(1, 60):
        now = T0 + 3600 + second
        backlog.append(floor.excess(_batch([now - late - 1.6 * second for late in usual]), now))
    first_over = next(second for second, excess in enumerate(backlog, 1) if excess > 10.0)
    assert first_over <= 8  # seconds, not minutes (a fixed 300 s bar took over three minutes at this rate)
    now = T0 + 3700
    assert floor.excess(_batch([now - late for late in usual]), now) == 0.0  # caught up: a lower lateness is usual


def test_a_device_sending_a_minute_of_buffered_readings_is_as_late_as_its_newest() -> None:
    """60 readings a second apart in every message, the newest 0.3 s old: never later than usual."""
    floor = LatenessFloor(SENSORS, rise_s=600.0)
    excesses = []
    for minute in range(30):
        now = T0 + 60 * minute
        times = [now - 0.3 - k for k in range(60)]
        excesses.append(floor.excess(_batch(times, [0] * 60), now))
    assert max(excesses) < 1.0
