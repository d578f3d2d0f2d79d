"""Batch results equal point-by-point results whatever the batch split, for every detector."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.core import DetectionCore
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import eventful_stream, run

STEPS = 240


def _per_piece(core: DetectionCore, batch: ReadingBatch, cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    bounds = [0, *cuts, len(batch)]
    flags, scores = [], []
    for a, b in itertools.pairwise(bounds):
        result = core.process(batch.take(slice(a, b)))
        flags.append(result.flags)
        scores.append(result.anomaly_score)
    return np.concatenate(flags), np.concatenate(scores)


def test_scenario_raises_many_conditions() -> None:
    """The stream used below exercises most detectors, so the equality tests mean something."""
    site, batch = eventful_stream(1, STEPS)
    events = run(DetectionCore(site.config), batch)
    expected = {
        "gamma.rise",
        "gas.level1",
        "gas.level2",
        "gas.aegl2_10min",
        "source.missing",
        "source.tamper",
        "source.geofence_exit",
        "source.detector_fault",
        "quality.jump",
        "source.battery_low",
        "source.mains_lost",
        "threshold.high",
        "quality.stuck",
        "quality.flatline",
        "quality.out_of_range",
        "gas.aegl1_60min",
        "gamma.rise_natural",
    }
    assert expected <= set(events), expected - set(events)


def test_one_reading_at_a_time_equals_one_batch() -> None:
    """Point-by-point feeding gives the same transitions, flags and scores as the whole batch."""
    site, batch = eventful_stream(2, 120)
    whole = run(DetectionCore(site.config), batch)
    point_core = DetectionCore(site.config)
    point = run(point_core, batch, list(range(1, len(batch))))
    assert point == whole
    flags_a, scores_a = _per_piece(DetectionCore(site.config), batch, [])
    flags_b, scores_b = _per_piece(DetectionCore(site.config), batch, list(range(1, len(batch))))
    np.testing.assert_array_equal(flags_a, flags_b)
    np.testing.assert_array_equal(scores_a, scores_b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 15 * STEPS - 1), max_size=25, unique=True))
def test_any_split_equals_one_batch(seed: int, cuts: list[int]) -> None:
    """Any cut of the stream into batches gives the same transitions, flags and scores."""
    site, batch = eventful_stream(seed, STEPS)
    cuts = sorted(cuts)
    assert run(DetectionCore(site.config), batch, cuts) == run(DetectionCore(site.config), batch)
    flags_a, scores_a = _per_piece(DetectionCore(site.config), batch, [])
    flags_b, scores_b = _per_piece(DetectionCore(site.config), batch, cuts)
    np.testing.assert_array_equal(flags_a, flags_b)
    np.testing.assert_array_equal(scores_a, scores_b)
