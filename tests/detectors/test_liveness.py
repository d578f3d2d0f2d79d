"""A device that falls silent goes offline on the clock and comes back with the first reading heard from it."""

from __future__ import annotations

import numpy as np

from detectors.core import DetectionCore
from detectors.quality import OFFLINE
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import T0, mixed_site


def _offline_events(core: DetectionCore, batch: ReadingBatch) -> list[tuple[int, float, bool]]:
    return [
        (int(s), float(t), bool(on))
        for e in core.process(batch).conditions
        if e.condition == OFFLINE
        for s, t, on in zip(e.sensor, e.time, e.active, strict=True)
    ]


def test_back_online_at_the_first_reading_heard_whatever_the_batch_holds() -> None:
    """A backlog of three readings in one batch brings the device back at the first of them, as three batches
    would: a replay runs quiet stretches as one block and cuts it where the first change happened, so a block
    that dated the return at its last reading was cut again and again (one report interval earlier each time)."""
    site = mixed_site()
    station = site.gamma[0]
    cores = [DetectionCore(site.config), DetectionCore(site.config)]
    times = T0 + 3_600.0 + 60.0 * np.arange(3, dtype=np.float64)
    batch = ReadingBatch(np.full(3, station, np.int32), times, np.full(3, 90.0), np.zeros(3, np.uint16))
    for core in cores:
        core.process(
            ReadingBatch(np.array([station], np.int32), np.array([T0]), np.array([90.0]), np.zeros(1, np.uint16))
        )
        went = [e for e in core.tick(T0 + 1_800.0) if e.condition == OFFLINE and len(e)]
        assert went
        assert bool(went[0].active[0])
    whole = _offline_events(cores[0], batch)
    one_by_one = [event for k in range(3) for event in _offline_events(cores[1], batch.take(slice(k, k + 1)))]
    assert whole == one_by_one == [(station, float(times[0]), False)]
