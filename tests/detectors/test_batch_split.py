"""Batch results equal point-by-point results whatever the batch split, for every detector."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from detectors.core import DetectionCore
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import eventful_stream, run

STEPS = 240


Events = dict[str, list[tuple[int, float, bool]]]


def _feed(core: DetectionCore, batch: ReadingBatch, cuts: list[int]) -> tuple[Events, np.ndarray, np.ndarray]:
    """One pass over the pieces: the transitions (as ``synthetic.run`` lists them), flags and anomaly scores."""
    bounds = [0, *cuts, len(batch)]
    events: Events = {}
    flags, scores = [], []
    for a, b in itertools.pairwise(bounds):
        result = core.process(batch.take(slice(a, b)))
        for e in result.conditions:
            events.setdefault(e.condition, []).extend(
                (int(s), float(t), bool(on)) for s, t, on in zip(e.sensor, e.time, e.active, strict=True)
            )
        flags.append(result.flags)
        scores.append(result.anomaly_score)
    return events, np.concatenate(flags), np.concatenate(scores)


def _assert_same(whole: tuple[Events, np.ndarray, np.ndarray], cut: tuple[Events, np.ndarray, np.ndarray]) -> None:
    assert cut[0] == whole[0]
    np.testing.assert_array_equal(cut[1], whole[1])
    np.testing.assert_array_equal(cut[2], whole[2])


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
    whole = _feed(DetectionCore(site.config), batch, [])
    assert whole[0] == run(DetectionCore(site.config), batch)  # the same transitions the other detector tests read
    _assert_same(whole, _feed(DetectionCore(site.config), batch, list(range(1, len(batch)))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 15 * STEPS - 1), max_size=25, unique=True))
# Found by this test: the rain starts in the same minute as a gamma reading, and the rain gauge's reading comes
# after it in the stream; the whole batch let the gamma reading see it (natural), the cut did not (transient).
@example(seed=892, cuts=[1216])
def test_any_split_equals_one_batch(seed: int, cuts: list[int]) -> None:
    """Any cut of the stream into batches gives the same transitions, flags and scores (one pass each way)."""
    site, batch = eventful_stream(seed, STEPS)
    _assert_same(_feed(DetectionCore(site.config), batch, []), _feed(DetectionCore(site.config), batch, sorted(cuts)))
