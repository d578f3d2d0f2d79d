"""The assessment's reading window: pruning on a tick with no gas alarm changes nothing the estimator later reads."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.assessment.window import ReadingWindow
from daemon.config import ServiceConfig
from daemon.site_file import load_site
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable

TABLE = SensorTable.build(load_site(ServiceConfig().site_file))
GAS = [i for i, sensor in enumerate(TABLE.sensors) if sensor.substance is not None][:3]


@settings(max_examples=40, deadline=None)
@given(
    parts=st.lists(st.lists(st.floats(0.0, 7200.0), min_size=0, max_size=5), max_size=12),
    ticks=st.lists(st.floats(0.0, 9000.0), max_size=4),
    now=st.floats(0.0, 9000.0),
)
def test_pruning_at_ticks_leaves_what_the_window_reads_unchanged(
    parts: list[list[float]], ticks: list[float], now: float
) -> None:
    """Parts (readings out of time order within and across them) added between ticks that only prune: reading
    the window afterwards gives what a window that was never pruned gives."""
    pruned, plain = ReadingWindow(TABLE), ReadingWindow(TABLE)
    ticks = sorted(ticks)
    now = max([now, *ticks])
    for k, times in enumerate(parts):
        batch = ReadingBatch.from_lists([GAS[j % len(GAS)] for j in range(len(times))], times, [float(k)] * len(times))
        pruned.add(batch)
        plain.add(batch)
        if k < len(ticks):
            pruned.prune(ticks[k])
    for mine, theirs in zip(pruned.readings(now), plain.readings(now), strict=True):
        np.testing.assert_array_equal(mine, theirs)
