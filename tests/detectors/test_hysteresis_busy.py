"""The debounced state machine steps only the sensors that can be on, with the result of stepping every one."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.hysteresis import HysteresisState, SortedBatch, step
from detectors.streams import debounce

N_SENSORS = 300


def _batches(seed: int) -> list[tuple[SortedBatch, np.ndarray, np.ndarray]]:
    """Blocks of readings from many sensors, a handful of which cross an on level (some only in later blocks)."""
    rng = np.random.default_rng(seed)
    hot = rng.choice(N_SENSORS, 6, replace=False)
    out = []
    for block in range(10):
        size = int(rng.integers(200, 6000))  # from BUSY_FROM (2048) readings on, only the busy sensors step
        sensor = rng.integers(0, N_SENSORS, size).astype(np.int32)
        time = np.sort(100.0 * block + rng.uniform(0, 100, size))
        value = rng.uniform(0.0, 1.0, size)
        value[np.isin(sensor, hot[: 1 + block // 2])] += rng.uniform(
            0.0, 1.0, int(np.isin(sensor, hot[: 1 + block // 2]).sum())
        )
        batch = SortedBatch.build(sensor, time)
        v = value[batch.order]
        out.append((batch, v >= 1.2, v < 0.9))
    return out


def _one_sensor_at_a_time(batch: SortedBatch) -> list[SortedBatch]:
    """The batch cut into one batch per sensor (each stepped whole: a single sensor has no one to leave out)."""
    bounds = np.append(batch.segment_starts, batch.sensor.shape[0])
    return [
        SortedBatch.from_sorted(np.arange(a, b), batch.sensor[a:b], batch.time[a:b])
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_stepping_busy_sensors_alone_equals_stepping_each_sensor(seed: int) -> None:
    on_delay, off_delay = np.full(N_SENSORS, 5.0), np.full(N_SENSORS, 20.0)
    together, alone = HysteresisState.new(N_SENSORS), HysteresisState.new(N_SENSORS)
    turned_on = 0
    for batch, on, off in _batches(seed):
        got = step(batch, on, off, on_delay, off_delay, together)
        want = np.concatenate(
            [
                step(part, on[part.order], off[part.order], on_delay, off_delay, alone)
                for part in _one_sensor_at_a_time(batch)
            ]
        )
        assert np.array_equal(got, want)
        turned_on += int(got.sum())
        assert np.array_equal(together.raw, alone.raw)
        assert np.array_equal(together.active, alone.active)
        # raw_since counts only while raw is on or the alarm is active (a lone quiet sensor's step returns early and
        # leaves it unset, where a batch with an alarm in it stamps it).
        counts = alone.raw | alone.active
        assert np.array_equal(together.raw_since[counts], alone.raw_since[counts], equal_nan=True)
    assert turned_on > 0


@pytest.mark.parametrize("seed", [5, 6])
def test_debounce_of_busy_sensors_alone_gives_every_transition(seed: int) -> None:
    on_delay, off_delay = np.zeros(N_SENSORS), np.full(N_SENSORS, 10.0)
    together, alone = HysteresisState.new(N_SENSORS), HysteresisState.new(N_SENSORS)
    events = 0
    for batch, on, off in _batches(seed):
        value = np.arange(batch.sensor.shape[0], dtype=np.float64)
        level = np.full(batch.sensor.shape[0], 1.2)
        got = debounce("x", batch, on, off, on_delay, off_delay, together, value, level)
        carried = alone.active.copy()
        active = np.zeros(batch.sensor.shape[0], np.bool_)
        for part in _one_sensor_at_a_time(batch):
            active[part.order] = step(part, on[part.order], off[part.order], on_delay, off_delay, alone)
        previous = np.empty_like(active)
        previous[1:] = active[:-1]
        previous[batch.segment_starts] = carried[batch.sensor[batch.segment_starts]]
        changed = np.flatnonzero(active != previous)
        assert np.array_equal(got.sensor, batch.sensor[changed])
        assert np.array_equal(got.time, batch.time[changed])
        assert np.array_equal(got.active, active[changed])
        assert np.array_equal(got.value, value[changed])
        events += len(got)
    assert events > 0
