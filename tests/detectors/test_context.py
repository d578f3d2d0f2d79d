"""Context novelty: a learned recurring pattern scores low, a break in it scores high, online and in time order."""

from __future__ import annotations

import numpy as np

from detectors.context import REST_READINGS, context_novelty, context_score


def _cycle(cycles: int, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """A daily-like cycle of 24 readings with small noise."""
    rng = np.random.default_rng(seed)
    phase = np.arange(24 * cycles) % 24
    return 10.0 + 5.0 * np.sin(2 * np.pi * phase / 24) + rng.normal(0.0, noise, phase.shape[0])


def test_a_broken_cycle_is_new_where_the_cycle_is_not() -> None:
    """After 30 cycles the pattern is familiar; a peak that fails to come (a value inside the range) is new."""
    values = _cycle(40)
    broken = 24 * 35 + 6  # the peak of cycle 35
    values[broken - 2 : broken + 3] = 10.0  # flat where the peak should be: every value seen before
    score = context_novelty(values)
    familiar = score[24 * 30 : 24 * 35]
    assert familiar.max() < 0.2
    assert score[broken - 2 : broken + 3].max() > 0.5
    assert score[broken - 2 : broken + 3].max() > 3 * familiar.max()


def test_one_event_is_reported_once() -> None:
    """After a high novelty the next readings are held at 0 (CAD-OSE's rest period)."""
    values = _cycle(20, noise=0.0)
    values[24 * 15] = 100.0  # far outside the range: every order is new
    score = context_novelty(values)
    at = 24 * 15
    assert score[at] > 0.9
    assert np.all(score[at + 1 : at + 1 + REST_READINGS] == 0.0)
    assert score[24 * 10 : at].max() < 0.1  # the noiseless cycle was familiar before


def test_scores_depend_only_on_the_past() -> None:
    """Changing the future leaves every earlier score as it was (online)."""
    values = _cycle(10)
    changed = values.copy()
    changed[150:] += 7.0
    np.testing.assert_array_equal(context_novelty(values)[:150], context_novelty(changed)[:150])
    assert not np.array_equal(context_novelty(values)[150:], context_novelty(changed)[150:])


def test_non_finite_readings_score_zero_and_are_skipped() -> None:
    """A NaN or inf reading scores 0 and does not enter any context: the rest scores as without it."""
    values = _cycle(10)
    holed = np.insert(values, 100, [np.nan, np.inf])
    score = context_novelty(holed)
    assert score[100] == 0.0
    assert score[101] == 0.0
    np.testing.assert_array_equal(np.delete(score, [100, 101]), context_novelty(values))


def test_context_score_is_in_time_order_and_bounded() -> None:
    """Shuffled input gives the shuffled scores; the blend with the evidence score stays in 0..1."""
    values = _cycle(10)
    time = 1.7e9 + 3600.0 * np.arange(values.shape[0], dtype=np.float64)
    evidence = np.linspace(0.0, 3.0, values.shape[0])  # evidence above 1 is capped
    forward = context_score(time, values, evidence)
    perm = np.random.default_rng(1).permutation(values.shape[0])
    np.testing.assert_array_equal(context_score(time[perm], values[perm], evidence[perm]), forward[perm])
    assert forward.min() >= 0.0
    assert forward.max() <= 1.0
