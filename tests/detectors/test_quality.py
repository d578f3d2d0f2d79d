"""Data quality: stuck, flatline, out of range, jump, clock skew, capture ratios."""

from __future__ import annotations

import numpy as np

from detectors.core import DetectionCore
from detectors.readings import FLAG_CLOCK_SKEW, FLAG_FLATLINE, FLAG_JUMP, FLAG_OUT_OF_RANGE, FLAG_STUCK, ReadingBatch
from tests.detectors.synthetic import T0, mixed_site, stream


def test_stuck_gamma_station_is_flagged_and_not_trusted() -> None:
    """A transmitter repeating its last value is stuck from the tenth repeat; those readings raise nothing."""
    site = mixed_site()
    g = site.gamma[0]
    rng = np.random.default_rng(1)
    dose = rng.poisson(600, 200) / 6.0
    dose[100:] = 250.0  # frozen at a value above the 200 nSv/h level
    core = DetectionCore(site.config)
    result = core.process(stream([g], T0, 60.0, {g: dose}))
    stuck = (result.flags & FLAG_STUCK) != 0
    assert not stuck[:109].any()
    assert stuck[109:].all()
    events = {e.condition: e for e in result.conditions}
    assert events["quality.stuck"].time.tolist() == [T0 + 109 * 60.0]
    # The frozen readings before detection could raise threshold.high; the stuck ones must not keep it:
    # they are not decisive, so whatever state it had is held, and no *new* hazard condition starts after 109.
    for name, e in events.items():
        if not name.startswith("quality."):
            assert not ((e.time >= T0 + 109 * 60.0) & e.active).any(), name
    _, valid = core.quality_ratios(T0 + 200 * 60.0)
    assert valid[g] < 0.6


def test_out_of_range_flatline_and_jump() -> None:
    """Negative dose is out of range; zero dose three times is a flatline; a 25 degC jump is a glitch."""
    site = mixed_site()
    g, temp = site.gamma[1], site.temperature
    dose = np.full(10, 100.0) + np.arange(10, dtype=np.float64)
    dose[2] = -5.0
    dose[5:8] = 0.0
    t = np.full(10, 20.0) + 0.1 * np.arange(10)
    t[4] = 45.0
    result = DetectionCore(site.config).process(stream([g, temp], T0, 60.0, {g: dose, temp: t}))
    flags = result.flags.reshape(10, 2)
    assert flags[2, 0] & FLAG_OUT_OF_RANGE
    assert [bool(f & FLAG_FLATLINE) for f in flags[:, 0]] == [False] * 7 + [True] + [False] * 2
    assert flags[4, 1] & FLAG_JUMP
    assert flags[5, 1] & FLAG_JUMP
    names = {e.condition for e in result.conditions}
    assert {"quality.out_of_range", "quality.flatline", "quality.jump"} <= names


def test_clock_skew() -> None:
    """Readings far from the receive time, or going back in time, are marked (but still used)."""
    site = mixed_site()
    core = DetectionCore(site.config)
    batch = ReadingBatch.from_lists([0, 0, 0], [T0, T0 + 60, T0 + 30], [100.0, 101.0, 99.0])
    result = core.process(batch, received_at=T0 + 60)
    # Batch order is kept: the third reading (T0+30) is not behind its predecessor in time order; the
    # first is 60 s off, within the allowed 300 s.
    assert not (result.flags & FLAG_CLOCK_SKEW).any()
    late = core.process(ReadingBatch.from_lists([0], [T0 + 10], [100.0]), received_at=T0 + 70)
    assert late.flags[0] & FLAG_CLOCK_SKEW  # older than the last reading already seen
    future = core.process(ReadingBatch.from_lists([0], [T0 + 3600], [100.0]), received_at=T0 + 80)
    assert future.flags[0] & FLAG_CLOCK_SKEW


def test_quality_ratios_and_capture_low() -> None:
    """A day with 10 % of reports missing: acquisition 0.9, capture_low raised by the clock tick."""
    site = mixed_site()
    core = DetectionCore(site.config)
    g = site.gamma[2]
    steps = 24 * 60
    keep = np.ones(steps, np.bool_)
    keep[::10] = False
    dose = np.random.default_rng(2).poisson(600, steps) / 6.0
    batch = stream([g], T0, 60.0, {g: dose}).take(keep)
    core.process(batch)
    now = T0 + steps * 60.0
    acquisition, valid = core.quality_ratios(now)
    assert abs(acquisition[g] - 0.9) < 0.03
    assert abs(valid[g] - 0.9) < 0.03
    assert acquisition[site.gamma[3]] == 0.0  # never heard from
    fired = {e.condition: e for e in core.tick(now + 120)}
    assert g in fired["quality.capture_low"].sensor.tolist()


def test_stuck_and_flatline_are_stated_in_time_whatever_the_report_interval() -> None:
    """A gas cell frozen at a non-zero value is stuck after an hour whether it reports every second or every
    minute; a dose rate pinned at zero is a flatline after three minutes at 10-s reports, and at the second
    reading at 5-min reports (two readings, ten minutes)."""
    from detectors.config import CoreConfig
    from detectors.kinds import Kind

    config = CoreConfig.build(
        [Kind.GAS, Kind.GAS, Kind.GAMMA_DOSE_RATE, Kind.GAMMA_DOSE_RATE],
        substances=["Cl2", "Cl2", None, None],
        report_interval_s=np.array([1.0, 60.0, 10.0, 300.0]),
    )
    core = DetectionCore(config)
    parts = []
    for sensor, interval, seconds, value in ((0, 1.0, 5400, 0.12), (1, 60.0, 5400, 0.12)):
        n = int(seconds / interval)
        parts.append(ReadingBatch.from_lists([sensor] * n, list(T0 + interval * np.arange(n)), [value] * n))
    for sensor, interval in ((2, 10.0), (3, 300.0)):
        parts.append(ReadingBatch.from_lists([sensor] * 6, list(T0 + interval * np.arange(6)), [100.0] + [0.0] * 5))
    batch = ReadingBatch.concat(parts)
    result = core.process(batch)
    stuck_at = {s: batch.time[(batch.sensor == s) & ((result.flags & FLAG_STUCK) != 0)].min() for s in (0, 1)}
    for sensor, interval in ((0, 1.0), (1, 60.0)):
        assert stuck_at[sensor] == T0 + 3600.0 - interval, (sensor, stuck_at[sensor] - T0)
    flat = {s: batch.time[(batch.sensor == s) & ((result.flags & FLAG_FLATLINE) != 0)] for s in (2, 3)}
    assert flat[2].tolist() == []  # five zero readings ten seconds apart: 50 s, not yet three minutes
    assert flat[3].tolist() == [T0 + 600.0, T0 + 900.0, T0 + 1200.0, T0 + 1500.0]
