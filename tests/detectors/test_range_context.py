"""Range-context novelty: the along-time sorts equal a reading-by-reading context memory (spikes and steps: in
test_cad_ose.py, with CAD-OSE)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.range_context import LEVELS, MAX_ORDER, levels, range_context_raw, range_context_score, times_seen_before


def _cycle(readings: int, seed: int) -> NDArray[np.float64]:
    """A 50-reading cycle with small noise."""
    rng = np.random.default_rng(seed)
    phase = np.arange(readings) % 50
    return 10.0 + 5.0 * np.sin(2 * np.pi * phase / 50) + rng.normal(0.0, 0.1, readings)


def _raw_one_at_a_time(value: NDArray[np.float64]) -> list[float]:
    """The same score as a plain dictionary of contexts, learned one reading at a time."""
    low, high = float(value.min()), float(value.max())
    step = (high - low) / (LEVELS - 1)
    seen: dict[tuple[int, ...], int] = {}
    history: list[int] = []
    out = []
    for v in value.tolist():
        history.append(min(int((v - low) / step), LEVELS - 1))
        novelty = 0.0
        for k in range(MAX_ORDER + 1):
            context = (k, *history[-k - 1 :])
            novelty += 1.0 / (1.0 + seen.get(context, 0))
            seen[context] = seen.get(context, 0) + 1
        out.append(novelty / (MAX_ORDER + 1))
    return out


def test_times_seen_before_counts_earlier_equal_codes() -> None:
    """Each entry's count of earlier entries with its code."""
    codes = np.array([5, 3, 5, 5, 3, 9, 5])
    np.testing.assert_array_equal(times_seen_before(codes), [0, 0, 1, 2, 1, 0, 3])


def test_raw_score_equals_a_context_dictionary() -> None:
    """Sorting along time gives exactly what a dictionary of contexts gives reading by reading."""
    rng = np.random.default_rng(3)
    for value in (_cycle(3000, seed=2), rng.normal(0.0, 1.0, 2000), np.repeat(rng.normal(0.0, 1.0, 300), 5)):
        np.testing.assert_allclose(range_context_raw(value), _raw_one_at_a_time(value), rtol=0, atol=1e-12)


def test_levels_put_the_maximum_alone_at_the_top() -> None:
    """CAD-OSE's scaling: 8 levels over the range, the top one holding the maximum only."""
    np.testing.assert_array_equal(levels(np.array([0.0, 6.99, 7.0, 1.0])), [0, 6, 7, 1])
    np.testing.assert_array_equal(levels(np.array([2.0, 2.0])), [0, 0])


def test_non_finite_readings_score_zero_and_are_skipped() -> None:
    """A NaN scores 0 and the finite readings score as if it were not there."""
    values = _cycle(1200, seed=4)
    with_gap = np.insert(values, 700, np.nan)
    score = range_context_score(with_gap)
    assert score[700] == 0.0
    np.testing.assert_array_equal(np.delete(score, 700), range_context_score(values))
    assert not range_context_score(np.full(5, np.nan)).any()
