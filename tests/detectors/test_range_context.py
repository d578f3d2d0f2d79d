"""Range-context novelty: the along-time sorts equal a reading-by-reading context memory (spikes and steps: in
test_cad_ose.py, with CAD-OSE)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.range_context import (
    LEVELS,
    MAX_HOUR_ORDER,
    MAX_ORDER,
    levels,
    range_context_raw,
    range_context_score,
    times_seen_before,
)


def _cycle(readings: int, seed: int) -> NDArray[np.float64]:
    """A 50-reading cycle with small noise."""
    rng = np.random.default_rng(seed)
    phase = np.arange(readings) % 50
    return 10.0 + 5.0 * np.sin(2 * np.pi * phase / 50) + rng.normal(0.0, 0.1, readings)


def _raw_one_at_a_time(time: NDArray[np.float64], value: NDArray[np.float64]) -> list[float]:
    """The same score as a plain dictionary of contexts, learned one reading at a time."""
    low, high = float(value.min()), float(value.max())
    step = (high - low) / (LEVELS - 1)
    seen: dict[tuple[object, ...], int] = {}
    history: list[int] = []
    out = []

    def novelty(context: tuple[object, ...]) -> float:
        count = seen.get(context, 0)
        seen[context] = count + 1
        return 1.0 / (1.0 + count)

    for t, v in zip(time.tolist(), value.tolist(), strict=True):
        history.append(min(int((v - low) / step), LEVELS - 1))
        hour = int(t // 3600) % 24
        in_sequence = sum(novelty(("sequence", k, *history[-k - 1 :])) for k in range(MAX_ORDER + 1))
        at_hour = sum(novelty(("hour", k, hour, *history[-k - 1 :])) for k in range(MAX_HOUR_ORDER + 1))
        out.append((in_sequence / (MAX_ORDER + 1) + at_hour / (MAX_HOUR_ORDER + 1)) / 2.0)
    return out


def test_times_seen_before_counts_earlier_equal_codes() -> None:
    """Each entry's count of earlier entries with its code."""
    codes = np.array([5, 3, 5, 5, 3, 9, 5])
    np.testing.assert_array_equal(times_seen_before(codes), [0, 0, 1, 2, 1, 0, 3])


def test_raw_score_equals_a_context_dictionary() -> None:
    """Sorting along time gives exactly what a dictionary of contexts gives reading by reading."""
    rng = np.random.default_rng(3)
    for value in (_cycle(3000, seed=2), rng.normal(0.0, 1.0, 2000), np.repeat(rng.normal(0.0, 1.0, 300), 5)):
        time = np.arange(value.shape[0], dtype=np.float64) * 600.0 + 1.7e9
        np.testing.assert_allclose(range_context_raw(time, value), _raw_one_at_a_time(time, value), rtol=0, atol=1e-12)


def test_levels_put_the_maximum_alone_at_the_top() -> None:
    """CAD-OSE's scaling: 8 levels over the range, the top one holding the maximum only."""
    np.testing.assert_array_equal(levels(np.array([0.0, 6.99, 7.0, 1.0])), [0, 6, 7, 1])
    np.testing.assert_array_equal(levels(np.array([2.0, 2.0])), [0, 0])


def test_non_finite_readings_score_zero_and_are_skipped() -> None:
    """A NaN scores 0 and the finite readings score as if it were not there."""
    values = _cycle(1200, seed=4)
    time = np.arange(1201, dtype=np.float64) * 600.0
    with_gap = np.insert(values, 700, np.nan)
    score = range_context_score(time, with_gap)
    assert score[700] == 0.0
    np.testing.assert_array_equal(np.delete(score, 700), range_context_score(np.delete(time, 700), values))
    assert not range_context_score(time[:5], np.full(5, np.nan)).any()


def test_a_level_new_at_its_hour_of_day_scores() -> None:
    """A day-night square wave learned for 30 days; one night at the day level is new at those hours only."""
    hours = 24 * 40
    time = np.arange(hours, dtype=np.float64) * 3600.0
    day = ((np.arange(hours) % 24) >= 8) & ((np.arange(hours) % 24) < 20)
    values = np.where(day, 10.0, 2.0)
    night = 24 * 35 + 20
    values[night : night + 12] = 10.0  # the lights stay on
    raw = range_context_raw(time, values)
    assert raw[night : night + 12].min() > 2 * raw[24 * 10 : night].max()
