"""Small rises, slow ramps, one-reading spikes and radon's daily cycle at a gamma station (synthetic truth)."""

from __future__ import annotations

import numpy as np

from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import T0, first_on, run

STEP_S = 60.0
DAY = 1440  # readings per day at 60 s
T_DAY0 = np.floor(T0 / 86_400.0) * 86_400.0  # midnight, so "dawn" is a fixed hour of the day


def _station() -> CoreConfig:
    return CoreConfig.build([Kind.GAMMA_DOSE_RATE], report_interval_s=np.array([STEP_S]))


def _dose(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Poisson counts (0.1 cps per nSv/h over 60 s) with 3 % extra scatter, as in test_gamma."""
    counts_per_unit = 0.1 * STEP_S
    return rng.poisson(mean * (1 + 0.03 * rng.standard_normal(mean.shape)) * counts_per_unit) / counts_per_unit


def _radon_cycle(rng: np.random.Generator, days: int, amplitude: float = 0.2) -> np.ndarray:
    """Radon's daily cycle: highest at dawn (05:00), lowest in the afternoon, amplitude varying day to day."""
    k = np.arange(days * DAY)
    hour = (k % DAY) / 60.0
    shape = 0.5 * (1 + np.cos(2 * np.pi * (hour - 5.0) / 24.0))  # 1 at 05:00, 0 at 17:00
    daily = rng.uniform(0.6, 1.0, days)[k // DAY]  # some days calmer than others
    return 100.0 * (1 + amplitude * daily * shape)


def _events(mean: np.ndarray, seed: int) -> dict[str, list[tuple[int, float, bool]]]:
    rng = np.random.default_rng(seed)
    dose = _dose(rng, mean)
    n = dose.shape[0]
    batch = ReadingBatch(np.zeros(n, np.int32), T_DAY0 + STEP_S * np.arange(n), dose, np.zeros(n, np.uint16))
    # Fed a day at a time, as a replay would.
    return run(DetectionCore(_station()), batch, cuts=list(range(DAY, n, DAY)))


def test_radon_daily_cycle_never_alarms() -> None:
    """A week of a 20 % dawn-peaked radon cycle (day-to-day varying) raises no rise of any kind."""
    events = _events(_radon_cycle(np.random.default_rng(5), 7), seed=6)
    assert not [name for name in events if name.startswith("gamma.")], events.keys()


def test_persistent_ten_percent_rise_is_flagged_within_twelve_hours() -> None:
    """Three days of a 15 % radon cycle, then +10 % for good: the slow test flags it within 12 h, the fast test's
    background does not hide it, and nothing fires before the step."""
    mean = _radon_cycle(np.random.default_rng(1), 5, amplitude=0.15)
    at = 3 * DAY + 7 * 60  # 07:00 on day 4
    mean[at:] *= 1.10
    events = _events(mean, seed=2)
    start = T_DAY0 + at * STEP_S
    found = first_on(events, "gamma.rise_slow", 0)
    print(f"+10 % step: gamma.rise_slow {(found - start) / 3600:.1f} h after the step")
    assert start < found <= start + 12 * 3600
    assert all(t >= start for name, rows in events.items() for _, t, a in rows if a)


def test_slow_doubling_is_flagged_in_its_first_half() -> None:
    """100 -> 200 nSv/h over ten hours (after two quiet days): flagged within five hours of the ramp's start."""
    mean = np.full(3 * DAY, 100.0)
    at = 2 * DAY + 2 * 60
    ramp = np.minimum(np.arange(3 * DAY - at) / 600.0, 1.0)
    mean[at:] = 100.0 * (1 + ramp)
    events = _events(mean, seed=3)
    start = T_DAY0 + at * STEP_S
    found = min(first_on(events, "gamma.rise_slow", 0), first_on(events, "gamma.rise", 0))
    print(f"10-hour doubling: flagged {(found - start) / 3600:.1f} h after the ramp began")
    assert start < found <= start + 5 * 3600


def test_one_reading_spike_does_not_raise_a_rise() -> None:
    """A single reading at five times background (one counting burst) raises nothing: a rise needs persistence."""
    mean = np.full(DAY // 2, 100.0)
    rng = np.random.default_rng(4)
    dose = _dose(rng, mean)
    dose[300] = 500.0
    n = dose.shape[0]
    times = np.asarray(T0 + STEP_S * np.arange(n), np.float64)
    batch = ReadingBatch(np.zeros(n, np.int32), times, np.asarray(dose, np.float64), np.zeros(n, np.uint16))
    events = run(DetectionCore(_station()), batch)
    assert not [name for name in events if name.startswith("gamma.")]


def test_a_transient_that_ended_is_a_transient_not_suspicious() -> None:
    """Four readings at twice background (a vehicle with a source passing), then background: the rise is
    raised, and classified transient, never suspicious."""
    mean = np.full(DAY // 2, 100.0)
    mean[300:304] = 200.0
    events = _events(mean, seed=9)
    assert np.isfinite(first_on(events, "gamma.rise", 0))
    assert "gamma.rise_suspicious" not in events
    assert [a for _, _, a in events["gamma.rise_transient"]] == [True, False]


def test_one_reading_spike_at_a_quiet_five_minute_station_does_not_raise_a_rise() -> None:
    """A sensitive probe reporting every five minutes (1 cps per nSv/h: 0.3 % counting noise) with 3 % scatter
    sees one reading at 2x, 3x, 10x and 50x background on separate days: no rise of any kind. One reading's
    evidence used to fill the CUSUM to its ceiling, and the normal readings after it kept it above the decision
    level for two reports: a rise, then "suspicious" after the readings were back at background."""
    step = 300.0
    per_day = int(86_400 / step)
    config = CoreConfig.build(
        [Kind.GAMMA_DOSE_RATE], report_interval_s=np.array([step]), gamma_cps_per_nsv_h=np.array([1.0])
    )
    rng = np.random.default_rng(11)
    dose = rng.normal(90.0, 2.7, 6 * per_day)
    for day, factor in enumerate((2.0, 3.0, 10.0, 50.0), start=2):
        dose[day * per_day + 100] = 90.0 * factor
    n = dose.shape[0]
    batch = ReadingBatch(np.zeros(n, np.int32), T_DAY0 + step * np.arange(n), dose, np.zeros(n, np.uint16))
    events = run(DetectionCore(config), batch, cuts=list(range(per_day, n, per_day)))
    assert not [name for name in events if name.startswith("gamma.")], events.keys()
