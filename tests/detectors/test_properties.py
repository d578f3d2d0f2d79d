"""Property tests: constant signals raise no alarm; deadbands never chatter."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import PHYSICAL_RANGE, Kind
from detectors.readings import ReadingBatch
from detectors.thresholds import ThresholdParams
from tests.detectors.synthetic import T0, mixed_site, run, stream

KINDS = [k for k in Kind if k not in (Kind.TAMPER, Kind.MAINS_POWER)]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    fraction=st.floats(0.0, 1.0),
    count=st.integers(1, 150),
    interval=st.sampled_from([10.0, 60.0]),
)
def test_constant_in_range_signal_raises_no_alarm(kind: Kind, fraction: float, count: int, interval: float) -> None:
    """Any constant, physically possible value below every level raises nothing but (maybe) quality.stuck."""
    lo, hi = PHYSICAL_RANGE[kind]
    hi = min(hi, 1e6)
    value = lo + fraction * (hi - lo)
    gas = kind is Kind.GAS
    config = CoreConfig.build([kind], substances=["NH3" if gas else None], report_interval_s=np.array([interval]))
    if gas:
        value = min(value, 0.9 * 30 * 24.45 / 17.03 * 0.9 * 0.5)  # below every NH3 level (AEGL-1: 30 ppm)
    batch = stream([0], T0, interval, {0: np.full(count, value)})
    events = run(DetectionCore(config), batch)
    assert set(events) <= {"quality.stuck", "quality.flatline"}
    if "quality.flatline" in events:  # only a dose rate pinned at zero is a flatline
        assert kind in (Kind.GAMMA_DOSE_RATE, Kind.SOURCE_DOSE_RATE)
        assert value == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 10_000))
def test_constant_signals_on_a_whole_site_raise_no_hazard(seed: int, steps: int) -> None:
    """Every channel of a site at a constant ordinary value: no hazard condition of any kind."""
    site = mixed_site()
    rng = np.random.default_rng(seed)
    steps = 20 + steps % 200
    values = {g: np.full(steps, float(rng.uniform(50, 150))) for g in site.gamma}
    values |= {site.rain: np.zeros(steps), site.temperature: np.full(steps, 15.0), site.cl2: np.zeros(steps)}
    values |= {site.nh3: np.full(steps, 2.0), site.source_dose: np.full(steps, 1500.0), site.tamper: np.zeros(steps)}
    values |= {site.battery: np.full(steps, 12.6), site.mains: np.ones(steps), site.hdop: np.full(steps, 1.0)}
    values |= {site.lat: np.full(steps, site.fence_center[0]), site.lon: np.full(steps, site.fence_center[1])}
    events = run(DetectionCore(site.config), stream(list(values), T0, 30.0, values))
    assert set(events) <= {"quality.stuck"}


@settings(max_examples=80, deadline=None)
@given(
    level=st.floats(1.0, 1000.0),
    deadband_fraction=st.floats(0.01, 0.5),
    wiggle=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=200),
)
def test_deadband_never_chatters(level: float, deadband_fraction: float, wiggle: list[float]) -> None:
    """Once raised, a level alarm stays raised while the value wanders anywhere above level - deadband."""
    deadband = level * deadband_fraction
    n = 1
    params = ThresholdParams(
        np.array([level]), np.array([np.nan]), np.array([np.nan]), np.array([deadband]), np.zeros(n), np.zeros(n)
    )
    config = CoreConfig.build([Kind.GAS], thresholds=params, max_step=np.array([np.nan]))
    # First reading at the level, then anything in [level - deadband, level + deadband]: never below the deadband.
    values = [level] + [level - deadband + w * 2 * deadband for w in wiggle]
    t = T0 + 10.0 * np.arange(len(values))
    result = DetectionCore(config).process(
        ReadingBatch(
            np.zeros(len(values), np.int32),
            np.asarray(t, np.float64),
            np.array(values, np.float64),
            np.zeros(len(values), np.uint16),
        )
    )
    high = [e for e in result.conditions if e.condition == "threshold.high"]
    assert len(high) == 1
    assert high[0].active.tolist() == [True]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=300))
def test_gas_level_transitions_alternate_and_respect_deadband(noise: list[float]) -> None:
    """gas.level1 transitions alternate on/off; each off follows a reading below 90 % of the level."""
    site = mixed_site()
    level = float(site.config.gas_level1[site.cl2])
    values = np.array(noise) * 2 * level
    events = run(DetectionCore(site.config), stream([site.cl2], T0, 10.0, {site.cl2: values}))
    level1 = events.get("gas.level1", [])
    assert [a for _, _, a in level1] == [i % 2 == 0 for i in range(len(level1))]
    for _, t, a in level1:
        i = round((t - T0) / 10.0)
        assert (values[i] >= level) if a else (values[i] < 0.9 * level)
