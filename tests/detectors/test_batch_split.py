"""Batch results equal point-by-point results whatever the batch split, for every detector."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.core import CoreResult, DetectionCore
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import T0, eventful_stream, mixed_site, run, stream

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


def _check_any_split(seed: int, cuts: list[int]) -> None:
    """The stream of ``seed`` fed whole and cut at ``cuts`` gives the same transitions, flags and scores."""
    site, batch = eventful_stream(seed, STEPS)
    _assert_same(_feed(DetectionCore(site.config), batch, []), _feed(DetectionCore(site.config), batch, sorted(cuts)))


# Found by the search below: the rain starts in the same minute as a gamma reading, and the rain gauge's reading comes
# after it in the stream; the whole batch let the gamma reading see it (natural), the cut did not (transient).
@pytest.mark.parametrize(("seed", "cuts"), [(892, [1216])])
def test_a_split_that_once_differed_equals_one_batch(seed: int, cuts: list[int]) -> None:
    """The cut the search below once found to differ gives the same transitions, flags and scores."""
    _check_any_split(seed, cuts)


@pytest.mark.slow  # 25 streams of a whole mixed site through the detection core twice: about 6 CPU-s
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 15 * STEPS - 1), max_size=25, unique=True))
def test_any_split_equals_one_batch(seed: int, cuts: list[int]) -> None:
    """Any cut of the stream into batches gives the same transitions, flags and scores (one pass each way)."""
    _check_any_split(seed, cuts)


def _gas_loads(core: DetectionCore) -> list[np.ndarray]:
    return [core.gas.minutes.loads.copy(), core.gas.half_hours.loads.copy()]


def _arrivals(batch: ReadingBatch, bounds: list[int]) -> list[float]:
    """When each batch arrives: a little after its newest reading, as a live batch closes after its last message,
    and after the batch before it (a batch opens when the one before has closed), so a block tells its batches
    apart by their arrival times. (Two cuts within one time step once gave two batches the same arrival: seed 17,
    cuts 82/181/187, whose gas load sums the block then added as one group.)"""
    arrivals: list[float] = []
    for a, b in itertools.pairwise(bounds):
        newest = float(batch.time[a:b].max()) + 0.02
        arrivals.append(max(newest, arrivals[-1] + 0.001) if arrivals else newest)
    return arrivals


def _gas_events(result: CoreResult) -> list[ConditionEvents]:
    return [e for e in result.conditions if e.condition.startswith("gas.") and len(e)]


def _gas_state(core: DetectionCore) -> dict[str, np.ndarray]:
    """Every array the gas detector carries (both slot rings, the censored and hot slots)."""
    gas = core.gas
    out = {f"censored_{k}": v.copy() for k, v in gas.censored_slot.items()}
    out |= {f"hot_{k}": v.copy() for k, v in gas.hot_slot.items()}
    for name, ring in (("minutes", gas.minutes), ("half_hours", gas.half_hours)):
        for field in ("sums", "counts", "loads", "peaks", "current", "window_sum", "window_count", "window_filled"):
            out[f"{name}.{field}"] = getattr(ring, field).copy()
    return out


def _check_clean_air_block(seed: int, cuts: list[int], late: bool) -> None:
    """An hour of clean air on two gas sensors, fed batch by batch and as one block: the same ring arrays."""
    site = mixed_site()
    rng = np.random.default_rng(seed)
    steps = 360  # an hour at 10 s: sixty minute slots, two half-hour slots
    values: dict[int, NDArray[np.float64]] = {
        site.cl2: np.round(np.abs(rng.normal(0, 0.02, steps)), 3).astype(np.float64),
        site.nh3: np.round(1.0 + rng.normal(0, 0.05, steps), 2).astype(np.float64),
    }
    batch = stream([site.cl2, site.nh3], T0, 10.0, values)
    bounds = [0, *sorted(cuts), len(batch)]
    arrivals = _arrivals(batch, bounds)
    cores = DetectionCore(site.config), DetectionCore(site.config)
    if late:
        ahead = stream([site.cl2, site.nh3], T0 + 1200.0, 10.0, {site.cl2: np.full(1, 0.01), site.nh3: np.full(1, 0.3)})
        for core in cores:
            core.process(ahead, received_at=T0 + 1200.02)
    one_by_one, block = cores
    for (a, b), arrival in zip(itertools.pairwise(bounds), arrivals, strict=True):
        assert not _gas_events(one_by_one.process(batch.take(slice(a, b)), received_at=arrival))
    received = np.repeat(np.array(arrivals), np.diff(bounds))
    assert not _gas_events(block.process(batch, received_at=received))
    theirs = _gas_state(one_by_one)
    for name, mine in _gas_state(block).items():
        np.testing.assert_array_equal(mine, theirs[name], err_msg=name)


@pytest.mark.parametrize(
    ("seed", "cuts", "late"), [(3, list(range(1, 2 * 360, 2)), False)]
)  # every 10-s step its own batch
def test_clean_air_in_a_block_of_single_steps_folds_into_the_rings_as_the_batches_do(
    seed: int, cuts: list[int], late: bool
) -> None:
    """As below, for the hour cut into 360 batches of one step per sensor."""
    _check_clean_air_block(seed, cuts, late)


@pytest.mark.slow  # 15 hours of two gas sensors, each fed twice: about 4 CPU-s
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 2 * 360 - 1), min_size=1, max_size=150, unique=True),
    late=st.booleans(),
)
def test_clean_air_in_a_block_folds_into_the_rings_as_the_batches_do(seed: int, cuts: list[int], late: bool) -> None:
    """Clean air in a block of many batches is folded into the gas rings a slot at a time (``add_runs_by_slot``):
    every ring array, the float32 load sums included, equals the batches fed one by one. ``late``: the rings had
    already moved past the first minutes of the block (late data)."""
    _check_clean_air_block(seed, cuts, late)


def _check_block_with_arrivals(seed: int, cuts: list[int]) -> None:
    """Feed the cut stream batch by batch and as one block stamped with each batch's arrival; compare everything."""
    site, batch = eventful_stream(seed, STEPS)
    bounds = [0, *sorted(cuts), len(batch)]
    arrivals = _arrivals(batch, bounds)
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


@pytest.mark.parametrize(("seed", "cuts"), [(17, [82, 181, 187]), (828, [63, 160, 187, 190, 321])])
def test_a_block_cut_where_it_once_differed_equals_the_batches(seed: int, cuts: list[int]) -> None:
    """The cuts the search below once found to differ (``_arrivals`` says what went wrong) give equal results."""
    _check_block_with_arrivals(seed, cuts)


@pytest.mark.slow  # 15 streams of a whole mixed site through the detection core twice: about 4 CPU-s
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 15 * STEPS - 1), min_size=1, max_size=40, unique=True))
def test_a_block_with_each_batchs_arrival_equals_the_batches(seed: int, cuts: list[int]) -> None:
    """A replay runs quiet batches as one block, each reading stamped with its own batch's arrival
    (daemon/drills/block_replay.py): transitions, flags, scores, device last-heard times and the gas rings' float
    load sums (whose rounding depends on how readings are grouped) equal the batches fed one by one."""
    _check_block_with_arrivals(seed, cuts)
