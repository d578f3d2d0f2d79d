"""Readings of one sensor less than a millisecond apart are distinct readings; a redelivery is still one reading.

The keys of ``SeenReadings`` were milliseconds: a second reading 0.4 ms after the first was dropped as a
"redelivery" (counted in hazwatch_duplicate_readings_total, never stored or judged). On SQLite and PostgreSQL, both
are stored now, and after a restart (the memory refilled from the store) the same messages delivered again are not.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from daemon.chain.seen_readings import SeenReadings, reading_keys
from daemon.store.reading_chunks import latest_readings, read_readings
from detectors.readings import ReadingBatch
from rules.site import Site
from tests.seam import Chain, live_chain

T0 = 1_800_000_000.0
TIMES = (T0, T0 + 0.0004, T0 + 0.0009, T0 + 0.001)  # three within one millisecond, one on the next


def _message(t: float) -> bytes:
    return json.dumps([{"bn": "gamma-01:", "bt": t, "n": "dose_rate", "u": "nSv/h", "v": 90.0}]).encode()


async def _stored(chain: Chain) -> list[float]:
    async with chain.engine.connect() as connection:
        readings = await read_readings(connection)
    return [t for s, t in zip(readings.sensor_id.tolist(), readings.time.tolist(), strict=True) if s == "gamma-01-dose"]


def _count(chain: Chain, name: str) -> float:
    return chain.metrics.registry.get_sample_value(name) or 0.0


async def test_sub_millisecond_readings_are_kept_and_redeliveries_dropped(
    migrated_db_url: str, demo_site: Site
) -> None:
    """Four readings within 1 ms all stored and judged; the same four delivered again after a restart: none."""
    async with live_chain(migrated_db_url, demo_site, T0 + 1) as chain:
        for t in TIMES:
            chain.accept("gamma-01", _message(t))
        await chain.settle()
        assert await _stored(chain) == list(TIMES)
        assert _count(chain, "hazwatch_duplicate_readings_total") == 0
        assert _count(chain, "hazwatch_ingest_readings_total") == len(TIMES)
    async with live_chain(migrated_db_url, demo_site, T0 + 2) as chain:  # a restart: memory refilled from the store
        assert len(chain.pipeline.seen) == 0
        stored = await latest_readings(chain.engine, [s.id for s in chain.table.sensors], 1000)
        chain.pipeline.seen.remember(stored.sensor, stored.time)
        for t in (*TIMES, T0 + 0.0001):  # the broker delivers all four again, and one new reading
            chain.accept("gamma-01", _message(t))
        await chain.settle()
        assert sorted(await _stored(chain)) == sorted([*TIMES, T0 + 0.0001])
        assert _count(chain, "hazwatch_duplicate_readings_total") == len(TIMES)


def test_keys_tell_microseconds_apart_and_not_less() -> None:
    """A microsecond apart: two readings; the same time from another float path (a sum): one."""
    seen = SeenReadings()
    sensors = np.array([3, 3, 3, 4], np.int32)
    times = np.array([T0, T0 + 1e-6, (T0 - 0.25) + 0.25, T0], np.float64)
    flags = np.zeros(4, np.uint16)
    mask = seen.fresh(ReadingBatch(sensors, times, np.ones(4), flags))
    assert mask is not None
    assert mask.tolist() == [True, True, False, True]


@given(
    remembered=st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 1.0, 1.000001, 2.5, 7.0])), max_size=12),
    asked=st.lists(st.tuples(st.integers(0, 7), st.sampled_from([0.0, 1.0, 1.000001, 2.5, 7.0, 9.0])), max_size=8),
    generation=st.integers(1, 6),
)
def test_the_quick_answer_for_later_readings_is_the_sets_answer(
    remembered: list[tuple[int, float]], asked: list[tuple[int, float]], generation: int
) -> None:
    """``any_seen_readings`` skips the sets when every reading is later than its sensor's latest remembered one:
    its answer is always the sets' (``any_seen``), whatever was remembered, forgotten by a turnover, or asked."""
    seen = SeenReadings(generation=generation)
    for sensor, time in remembered:
        seen.remember(np.array([sensor], np.int32), np.array([T0 + time]))
    sensors = np.array([s for s, _ in asked], np.int32)
    times = np.array([T0 + t for _, t in asked], np.float64)
    keys = reading_keys(sensors, times)
    assert seen.any_seen_readings(sensors, times) == seen.any_seen(keys)


@given(
    blocks=st.lists(
        st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.0, 1.0, 1.000001, 2.5, 7.0, 9.0])), max_size=6),
        max_size=6,
    ),
    look=st.lists(st.booleans(), min_size=6, max_size=6),
    generation=st.integers(1, 6),
)
def test_new_readings_kept_packed_are_remembered_as_the_sets_would(
    blocks: list[list[tuple[int, float]]], look: list[bool], generation: int
) -> None:
    """``remember_new`` (a block's keys packed, set members built only when a lookup needs them) leaves the same
    readings remembered, the same count and the same room (so generations turn over at the same readings) as
    ``remember_keys``, with lookups in between or not; readings not all later are refused and nothing is kept."""
    sets, packed = SeenReadings(generation=generation), SeenReadings(generation=generation)
    probe_s = np.repeat(np.arange(5, dtype=np.int32), 6)
    probe_t = T0 + np.tile(np.array([0.0, 1.0, 1.000001, 2.5, 7.0, 9.0]), 5)
    probes = reading_keys(probe_s, probe_t)
    shift = 0.0
    for block, lookup in zip(blocks, look, strict=False):
        # A block as the replay hands it over: each sensor's readings in time order, none twice.
        readings = sorted({(s, t + shift) for s, t in block}, key=lambda r: r[1])
        shift += 5.0 if len(readings) % 2 else 0.0  # sometimes later than all before, sometimes not
        sensor = np.array([s for s, _ in readings], np.int32)
        time = T0 + np.array([t for _, t in readings], np.float64)
        later = packed.all_later(sensor, time)
        before = len(packed)
        assert packed.remember_new(sensor, time) == later
        if not later:
            assert len(packed) == before
            packed.remember_keys(reading_keys(sensor, time), sensor, time)
        sets.remember_keys(reading_keys(sensor, time), sensor, time)
        assert (len(packed), packed.room()) == (len(sets), sets.room())
        if lookup:
            assert [packed.any_seen([k]) for k in probes] == [sets.any_seen([k]) for k in probes]
    probe_t = probe_t + shift
    assert [packed.any_seen([k]) for k in probes] == [sets.any_seen([k]) for k in probes]
    assert [packed.any_seen([k]) for k in reading_keys(probe_s, probe_t)] == [
        sets.any_seen([k]) for k in reading_keys(probe_s, probe_t)
    ]
