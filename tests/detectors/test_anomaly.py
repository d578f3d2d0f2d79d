"""Anomalies against a learned baseline: spike, shift, drift; the baseline never learns an ongoing anomaly."""

from __future__ import annotations

import numpy as np

from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from tests.detectors.synthetic import T0, first_on, run, stream

STEP_S = 30.0


def _events(values: np.ndarray) -> dict[str, list[tuple[int, float, bool]]]:
    config = CoreConfig.build([Kind.SOURCE_DOSE_RATE], report_interval_s=np.array([STEP_S]))
    return run(DetectionCore(config), stream([0], T0, STEP_S, {0: values}))


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return 1500 + np.random.default_rng(seed).normal(0, 20, n)


def test_single_spike_gives_one_alarm() -> None:
    """A three-reading burst gives exactly one spike alarm, not one per reading."""
    values = _noise(300)
    values[150:153] = 3000
    events = _events(values)
    assert [a for _, _, a in events["anomaly.spike"]] == [True, False]
    assert first_on(events, "anomaly.spike") == T0 + 150 * STEP_S


def test_shift_is_not_learned_while_it_lasts() -> None:
    """A sustained +5 sigma shift stays alarmed for hundreds of readings (baseline frozen), then clears."""
    values = _noise(1200)
    values[200:900] += 100
    events = _events(values)
    shift = events["anomaly.shift"]
    assert shift[0][2] is True
    assert T0 + 200 * STEP_S <= shift[0][1] <= T0 + 205 * STEP_S
    assert len(shift) == 2
    assert shift[1][2] is False
    assert shift[1][1] > T0 + 900 * STEP_S


def test_slow_drift_is_caught_as_drift() -> None:
    """A slow creep of half a sigma per hundred readings: drift, long before it would be a spike."""
    values = _noise(1500)
    values[300:] += np.arange(1200) * 0.1
    events = _events(values)
    t = first_on(events, "anomaly.drift")
    assert np.isfinite(t)
    assert t < T0 + 700 * STEP_S
    assert "anomaly.spike" not in events


def test_quiet_signal_is_quiet() -> None:
    """Long stationary noise raises no anomaly."""
    assert not [k for k in _events(_noise(3000, seed=4)) if k.startswith("anomaly.")]


def test_false_alarm_rate_on_many_quiet_sensors() -> None:
    """200,000 readings of stationary noise over 50 sensors: no shift or drift alarm at all."""
    from detectors.readings import ReadingBatch

    n, steps = 50, 4000
    config = CoreConfig.build([Kind.SOURCE_DOSE_RATE] * n, report_interval_s=np.full(n, STEP_S))
    rng = np.random.default_rng(9)
    values = 1500 + 20 * rng.standard_normal((steps, n))
    t = np.repeat(T0 + STEP_S * np.arange(steps), n)
    batch = ReadingBatch(
        np.tile(np.arange(n, dtype=np.int32), steps), t, values.ravel(), np.zeros(n * steps, np.uint16)
    )
    names = {e.condition for e in DetectionCore(config).process(batch).conditions}
    assert not names & {"anomaly.shift", "anomaly.drift"}
