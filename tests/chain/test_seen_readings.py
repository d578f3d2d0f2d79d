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
    assert seen.any_seen_readings(sensors, times, keys) == seen.any_seen(keys)
