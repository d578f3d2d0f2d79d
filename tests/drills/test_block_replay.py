"""The block replay (quiet stretches through the detectors as one block) stores exactly what the replay of every
batch on its own stores: the same alarms and alarm events, incidents and their timelines, checklists, pages and
device states, row for row, at the same times."""

from __future__ import annotations

import itertools
import pickle
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.chain.seen_readings import reading_keys
from daemon.drills.block_replay import _closes_of, _copy_core, out_of_order_or_repeated
from detectors.core import CoreResult, DetectionCore
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import eventful_stream
from tests.drills.conftest import Run, ScenarioRuns, replay_run
from tests.drills.test_faithful_replay import COMPARED, SHORTENED, _theft

# Every table a replay writes its judgement to (readings are compared by count and by the report's signals).
JUDGEMENT_TABLES = (
    "alarms",
    "alarm_events",
    "incidents",
    "incident_events",
    "checklist_items",
    "notifications",
    "device_status",
    "quarantine",
)
# Each page carries a fresh random acknowledgement link and code (daemon/notify): the one thing two runs never share.
_ACK_TOKEN = re.compile(r'"ack_(url|code)": "[^"]*"')
# The batch-by-batch reference replay costs what every drill test cost before the block replay (minutes each on a
# shared CI machine, all on one worker through the scenario cache): the suite compares the scenarios of COMPARED
# (tests/drills/test_faithful_replay.py; HAZWATCH_COMPARE_ALL_SCENARIOS=1 compares all of them: done by hand for the
# block replay, identical on all ten).


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the judgement tables, in id order, without the random acknowledgement tokens."""
    with sqlite3.connect(db) as connection:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in JUDGEMENT_TABLES:
            cursor = connection.execute(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 (fixed table names)
            out[table] = [
                tuple(_ACK_TOKEN.sub("", value) if isinstance(value, str) else value for value in row)
                for row in cursor.fetchall()
            ]
    return out


def _assert_same(blocks: Run, batches: Run) -> None:
    assert blocks.db is not None
    assert batches.db is not None
    by_blocks, by_batches = _rows(blocks.db), _rows(batches.db)
    for table in JUDGEMENT_TABLES:
        assert by_blocks[table] == by_batches[table], table
    assert blocks.result.readings == batches.result.readings
    assert blocks.result.messages == batches.result.messages
    assert blocks.report["signals"] == batches.report["signals"]
    assert batches.result.blocks == 0


@pytest.mark.slow  # two replays each, about 25 s on a loaded machine
@pytest.mark.parametrize("columnar", [False, True], ids=["jsonl", "hzc"])
async def test_a_short_theft_stores_the_same_rows_in_blocks_as_batch_by_batch(tmp_path: Path, columnar: bool) -> None:
    """The theft drives a camera out of its geofence (alarm, incident, pages, escalations) and its monitor's last
    will arrives as a device status: blocks must stop at each of them and give what the batches give."""
    recording = _theft(tmp_path, columnar=columnar)
    blocks = await replay_run(recording, f"sqlite:///{tmp_path / 'blocks.db'}")
    batches = await replay_run(recording, f"sqlite:///{tmp_path / 'batches.db'}", blocks=False)
    _assert_same(blocks, batches)
    assert blocks.result.blocks > 0  # the quiet part did run as blocks
    assert blocks.result.single_batches < batches.result.messages / 4
    assert _rows(blocks.db or tmp_path)["alarms"], "the drill raised nothing: the comparison proves little"


@pytest.mark.slow
@pytest.mark.timeout(900)  # a scenario of hours replayed batch by batch on a machine shared by many runs
@pytest.mark.parametrize("name", COMPARED)
async def test_every_shipped_scenario_stores_the_same_rows_in_blocks_as_batch_by_batch(
    scenario_runs: ScenarioRuns, name: str
) -> None:
    duration = SHORTENED.get(name)
    # The reference first: the block replay is the faithful replay's columnar run (tests/drills/conftest.py), which
    # another worker makes meanwhile; asked first, this one worker would make both in a row, the suite's longest chain.
    batches = await scenario_runs.run(name, duration_s=duration, columnar=True, blocks=False)
    blocks = await scenario_runs.run(name, duration_s=duration, columnar=True)
    _assert_same(blocks, batches)


@given(
    readings=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0.0, 1.0, 1.0000001, 1.0000004, 2.5, 1e9, 1e9 + 1e-7])),
        max_size=12,
    )
)
def test_a_block_is_refused_when_a_sensor_goes_back_in_time_or_a_reading_repeats(
    readings: list[tuple[int, float]],
) -> None:
    """The vectorised check equals its plain statement: per sensor, times never decrease, and no two readings share
    a ``reading_keys`` key (the set the batches one by one drop repeats by)."""
    sensor = [s for s, _ in readings]
    time = [t for _, t in readings]
    batch = ReadingBatch.from_lists(sensor, time, [0.0] * len(readings))
    keys = reading_keys(batch.sensor, batch.time)
    backwards = any(s == s2 and t2 < t for i, (s, t) in enumerate(readings) for s2, t2 in readings[i + 1 :])
    assert out_of_order_or_repeated(batch) == (backwards or len(set(keys)) != len(keys))
    assert out_of_order_or_repeated(ReadingBatch.from_lists([1, 1], [5.0, 5.0], [0.0, 1.0]))
    assert not out_of_order_or_repeated(ReadingBatch.from_lists([1, 2, 1], [5.0, 5.0, 6.0], [0.0, 1.0, 2.0]))
    assert np.array_equal(batch.sensor, np.asarray(sensor, np.int32))  # the check leaves the block as it was


def _judged(result: CoreResult) -> tuple[Any, ...]:
    conditions = [(e.condition, e.sensor.tolist(), e.time.tolist(), e.active.tolist()) for e in result.conditions]
    return conditions, result.flags.tolist(), result.anomaly_score.tolist()


def test_a_trial_on_a_copy_of_the_core_leaves_the_core_as_it_was() -> None:
    """A block is tried on a copy of the detectors' state: running the copy changes nothing in the core (no array,
    ring or hysteresis state is shared), and the copy judges what follows exactly as the core does."""
    site, batch = eventful_stream(5, 240)
    cuts = [0, len(batch) // 3, 2 * len(batch) // 3, len(batch)]
    core = DetectionCore(site.config)
    core.process(batch.take(slice(cuts[0], cuts[1])))
    before = pickle.dumps(core)
    trial = _copy_core(core)
    assert trial.config is core.config  # the read-only configuration is shared, not copied
    tried = [trial.process(batch.take(slice(a, b))) for a, b in itertools.pairwise(cuts[1:])]
    assert pickle.dumps(core) == before
    real = [core.process(batch.take(slice(a, b))) for a, b in itertools.pairwise(cuts[1:])]
    assert any(len(e) for r in real for e in r.conditions), "nothing changes in the stream: the test proves little"
    assert [_judged(r) for r in tried] == [_judged(r) for r in real]


def test_a_busy_trial_finds_the_batch_that_holds_each_changing_reading() -> None:
    """A change is stamped with its reading's time, and the reading may arrive batches later: the batch that runs
    alone is the one holding the reading (sensor and time), not the first one closing after its time; a change at
    no reading of the block leaves the batches unknown."""
    # Sensor 2's reading at t=1.0 arrives late, in the batch that closes at 3.02.
    readings = ReadingBatch.from_lists([0, 1, 0, 1, 2, 0], [1.0, 1.0, 2.0, 2.0, 1.0, 3.0], [0.0] * 6)
    received = np.array([1.02, 1.02, 2.02, 2.02, 3.02, 3.02])
    closes = _closes_of(readings, received, np.array([2, 1]), np.array([1.0, 2.0]))
    assert closes.tolist() == [2.02, 3.02]
    assert _closes_of(readings, received, np.array([0, 0]), np.array([3.0, 1.0])).tolist() == [1.02, 3.02]
    assert len(_closes_of(readings, received, np.array([1]), np.array([1.5]))) == 0
    assert len(_closes_of(readings, received, np.array([7]), np.array([1.0]))) == 0
