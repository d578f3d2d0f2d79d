"""A threshold detector judges only the sensors that have a level, with the same result as judging every reading."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.hysteresis import SortedBatch
from detectors.thresholds import ThresholdDetector, ThresholdParams


def _params(n: int) -> ThresholdParams:
    """Sensors 0-2 high only, 3-4 high-high only, 5-6 low only, 7-9 no level (as a level rule covers some kinds)."""
    nan = np.full(n, np.nan)
    high, high_high, low = nan.copy(), nan.copy(), nan.copy()
    high[0:3], high_high[3:5], low[5:7] = 12.0, 14.0, 8.0
    return ThresholdParams(high, high_high, low, np.full(n, 0.5), np.full(n, 20.0), np.full(n, 30.0))


def _run(detector: ThresholdDetector, seed: int) -> list[tuple[str, bytes, bytes, bytes, bytes]]:
    rng = np.random.default_rng(seed)
    out = []
    for block in range(12):
        size = int(rng.integers(1, 400))
        sensor = rng.integers(0, 10, size).astype(np.int32)
        time = np.sort(1000.0 * block + rng.uniform(0, 1000, size))
        value = 10.0 + 3.0 * rng.standard_normal(size)
        valid = rng.random(size) > 0.05
        censored = rng.random(size) > 0.97
        for e in detector.process(SortedBatch.build(sensor, time), value, valid, censored):
            out.append((e.condition, e.sensor.tobytes(), e.time.tobytes(), e.active.tobytes(), e.value.tobytes()))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_judging_only_sensors_with_levels_changes_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same transitions and carried state as a detector that judges every reading."""
    n = 10
    subset = ThresholdDetector(_params(n))
    got = _run(subset, seed)
    monkeypatch.setattr(ThresholdDetector, "_sensors_with_levels", lambda self: np.ones(n, np.bool_))
    every = ThresholdDetector(_params(n))
    want = _run(every, seed)
    assert got == want
    assert {c for c, *_ in want} == {"threshold.high", "threshold.high_high", "threshold.low"}
    for name, state in every.states.items():
        kept = subset.states[name]
        assert state.raw.tobytes() == kept.raw.tobytes()
        assert state.active.tobytes() == kept.active.tobytes()
        # raw_since counts only while raw is on or the alarm is active, which a sensor without a level never is:
        # the detector judging every reading stamps it there anyway, the other leaves it unset.
        assert np.array_equal(state.raw_since[:7], kept.raw_since[:7], equal_nan=True)
