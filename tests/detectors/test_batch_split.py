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


def _gas_loads(core: DetectionCore) -> list[np.ndarray]:
    return [core.gas.minutes.loads.copy(), core.gas.half_hours.loads.copy()]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 15 * STEPS - 1), min_size=1, max_size=40, unique=True))
@example(seed=17, cuts=[82, 181, 187])
@example(seed=828, cuts=[63, 160, 187, 190, 321])
def test_a_block_with_each_batchs_arrival_equals_the_batches(seed: int, cuts: list[int]) -> None:
    """A replay runs quiet batches as one block, each reading stamped with its own batch's arrival
    (daemon/drills/block_replay.py): transitions, flags, scores, device last-heard times and the gas rings' float
    load sums (whose rounding depends on how readings are grouped) equal the batches fed one by one."""
    site, batch = eventful_stream(seed, STEPS)
    bounds = [0, *sorted(cuts), len(batch)]
    # Each batch arrives a little after its newest reading, as a live batch closes after its last message, and
    # after the batch before it (a batch opens when the one before has closed): a block tells its batches apart by
    # their arrival times. (Two cuts within one time step once gave two batches the same arrival: seed 17, cuts
    # 82/181/187, whose gas load sums the block then added as one group.)
    arrivals: list[float] = []
    for a, b in itertools.pairwise(bounds):
        newest = float(batch.time[a:b].max()) + 0.02
        arrivals.append(max(newest, arrivals[-1] + 0.001) if arrivals else newest)
    one_by_one = DetectionCore(site.config)
    events: Events = {}
    flags, scores = [], []
    for (a, b), arrival in zip(itertools.pairwise(bounds), arrivals, strict=True):
        result = one_by_one.process(batch.take(slice(a, b)), received_at=arrival)
        for e in result.conditions:
            events.setdefault(e.condition, []).extend(
                (int(s), float(t), bool(on)) for s, t, on in zip(e.sensor, e.time, e.active, strict=True)
            )
        flags.append(result.flags)
        scores.append(result.anomaly_score)
    block = DetectionCore(site.config)
    received = np.repeat(np.array(arrivals), np.diff(bounds))
    result = block.process(batch, received_at=received)
    block_events: Events = {}
    for e in result.conditions:
        block_events.setdefault(e.condition, []).extend(
            (int(s), float(t), bool(on)) for s, t, on in zip(e.sensor, e.time, e.active, strict=True)
        )
    assert {k: sorted(v) for k, v in block_events.items()} == {k: sorted(v) for k, v in events.items()}
    np.testing.assert_array_equal(result.flags, np.concatenate(flags))
    np.testing.assert_array_equal(result.anomaly_score, np.concatenate(scores))
    np.testing.assert_array_equal(block.liveness.last_seen, one_by_one.liveness.last_seen)
    for mine, theirs in zip(_gas_loads(block), _gas_loads(one_by_one), strict=True):
        np.testing.assert_array_equal(mine, theirs)
