"""AEGL windows slide over the readings' own times, and fluctuating exposures are judged by their toxic load C^n t.

The expected outcomes come from the physics, not from the detector: an exposure of exactly the window's length at a
steady level above the AEGL of that duration is an exceedance wherever it starts; two exposures with equal C^n t
(ten Berge, Zwart and Appelman, J. Hazard. Mater. 13, 1986) are equally toxic, whatever their mean.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from detectors.substances import SUBSTANCES
from tests.detectors.synthetic import T0, first_on, run, stream

CL2_AEGL2_10MIN = SUBSTANCES["Cl2"].aegl2_all[0]  # 2.8 ppm (NRC AEGL Vol. 4)


def _one_gas(substance: str) -> DetectionCore:
    """One gas cell of ``substance`` reporting every 10 s, with a range well above the levels tested."""
    config = CoreConfig.build([Kind.GAS], substances=[substance], report_interval_s=np.array([10.0]))
    config.full_scale[0] = 1000.0
    return DetectionCore(config)


def _exposure(step_s: float, start_s: float, length_s: float, ppm: float, total_s: float = 3600.0) -> np.ndarray:
    """Readings every ``step_s`` from T0: ``ppm`` for readings in [start, start + length), clean air otherwise."""
    t = step_s * np.arange(int(total_s / step_s))
    return np.where((t >= start_s) & (t < start_s + length_s), ppm, 0.0)


@pytest.mark.parametrize(("step_s", "start_s"), [(10.0, 630.0), (10.0, 1250.0), (7.0, 647.0), (1.0, 931.0)])
def test_ten_minutes_above_the_10_min_aegl_starting_mid_minute_is_caught(step_s: float, start_s: float) -> None:
    """Exactly ten minutes at 3 % above the 10-min AEGL-2, starting mid-minute, whatever the report interval."""
    ppm = 1.03 * CL2_AEGL2_10MIN
    series = _exposure(step_s, start_s, 600.0, ppm)
    events = run(_one_gas("Cl2"), stream([0], T0, step_s, {0: series}))
    on = first_on(events, "gas.aegl2_10min", 0)
    last = T0 + step_s * np.flatnonzero(series)[-1]
    # The window ending at the exposure's last reading holds the whole exposure and nothing else.
    assert on <= last


@pytest.mark.parametrize("minutes", [5.0, 8.0])
def test_shorter_exposures_at_the_same_level_are_not_10_min_exceedances(minutes: float) -> None:
    """Five or eight minutes at the same level hold a 10-min C^2 t of (minutes / 10) of the AEGL-2's: no alarm."""
    series = _exposure(10.0, 630.0, minutes * 60.0, 1.03 * CL2_AEGL2_10MIN)
    events = run(_one_gas("Cl2"), stream([0], T0, 10.0, {0: series}))
    assert np.isnan(first_on(events, "gas.aegl2_10min", 0))
    assert "gas.aegl1_10min" in events  # 2.9 ppm is far above the 0.5 ppm AEGL-1


def test_equal_toxic_load_gives_equal_verdict() -> None:
    """Cl2 (n = 2): 3 ppm for 10 minutes and 4.24 ppm (3 x sqrt 2) every other minute for 10 minutes have the same
    C^2 t, so both are AEGL-2 exceedances, though the second's mean (2.1 ppm) is under 2.8 ppm."""
    steady = _exposure(10.0, 600.0, 600.0, 3.0)
    t = 10.0 * np.arange(steady.shape[0])
    pulsed = np.where((t >= 600.0) & (t < 1200.0) & ((t // 60.0) % 2 == 0), 3.0 * np.sqrt(2.0), 0.0)
    assert np.isclose((pulsed**2).sum(), (steady**2).sum())
    assert pulsed[(t >= 600.0) & (t < 1200.0)].mean() < 0.8 * CL2_AEGL2_10MIN
    for series in (steady, pulsed):
        events = run(_one_gas("Cl2"), stream([0], T0, 10.0, {0: series}))
        on = first_on(events, "gas.aegl2_10min", 0)
        assert T0 + 600.0 < on < T0 + 1200.0


def test_alternating_exposure_is_not_read_as_its_mean() -> None:
    """Alternating 5.4 / 0 ppm of Cl2 is not a steady 2.7 ppm: its C^2 t equals 3.8 ppm held, above the 2.8 ppm
    AEGL-2 (10 min); a steady 2.7 ppm stays under it."""
    t = 10.0 * np.arange(360)
    inside = (t >= 600.0) & (t < 1800.0)
    alternating = np.where(inside & (np.arange(360) % 2 == 0), 5.4, 0.0)
    steady = np.where(inside, 2.7, 0.0)
    alarms = {}
    for name, series in (("alternating", alternating), ("steady", steady)):
        events = run(_one_gas("Cl2"), stream([0], T0, 10.0, {0: series}))
        alarms[name] = first_on(events, "gas.aegl2_10min", 0)
    assert np.isfinite(alarms["alternating"])
    assert np.isnan(alarms["steady"])


def test_haber_law_substance_is_judged_on_its_mean() -> None:
    """Phosgene's TSD scales with n = 1 (Haber's law): a pulsed exposure is exactly as toxic as its mean, so
    pulses of 1.0 ppm half the time (mean 0.5, under the 0.6 ppm 10-min AEGL-2) are no AEGL-2 exceedance,
    while 0.65 ppm steady is. (The window's trailing minute counts at its peak, so a mean within a tenth of the
    in-minute spread of the level may alarm: the 0.1 ppm margin here is kept clear of that.)"""
    assert SUBSTANCES["COCl2"].ten_berge_n == 1.0
    level = SUBSTANCES["COCl2"].aegl2_all[0]
    t = 10.0 * np.arange(360)
    inside = (t >= 600.0) & (t < 1800.0)
    pulsed = np.where(inside & (np.arange(360) % 2 == 0), 1.0, 0.0)
    steady = np.where(inside, 0.65, 0.0)
    assert pulsed[inside].mean() < level < steady[inside].mean()
    pulsed_events = run(_one_gas("COCl2"), stream([0], T0, 10.0, {0: pulsed}))
    steady_events = run(_one_gas("COCl2"), stream([0], T0, 10.0, {0: steady}))
    assert np.isnan(first_on(pulsed_events, "gas.aegl2_10min", 0))
    assert np.isfinite(first_on(steady_events, "gas.aegl2_10min", 0))


def test_h2s_load_uses_its_own_exponent() -> None:
    """H2S (n = 4.4, NRC AEGL Vol. 9): ten minutes at 76 ppm is the 10-min AEGL-3. Five minutes at
    76 x 2^(1/4.4) ppm (1 % more) carries the same C^n t into the 10-min window, so it is an AEGL-3 exceedance as
    well; five minutes at 76 ppm is not."""
    sub = SUBSTANCES["H2S"]
    level, n = sub.aegl3_all[0], sub.ten_berge_n
    cases = {
        "own exponent": (level * 2.0 ** (1.0 / n) * 1.01, True),
        "half the time at the level": (level * 1.01, False),
    }
    for name, (ppm, expect) in cases.items():
        series = _exposure(10.0, 630.0, 300.0, ppm)
        events = run(_one_gas("H2S"), stream([0], T0, 10.0, {0: series}))
        assert bool(np.isfinite(first_on(events, "gas.aegl3_10min", 0))) is expect, name


def test_pegged_readings_in_a_window_make_it_a_lower_bound() -> None:
    """A Cl2 cell of 3 ppm range pegged for 10 minutes: counted as at least 3 ppm, the 10-min AEGL-2 (2.8 ppm) is
    raised and its events say the value is a lower bound."""
    config = CoreConfig.build([Kind.GAS], substances=["Cl2"], report_interval_s=np.array([10.0]))
    config.full_scale[0] = 3.0
    core = DetectionCore(config)
    series = _exposure(10.0, 630.0, 600.0, 3.0)
    batch = stream([0], T0, 10.0, {0: series})
    censored_on = []
    for a in range(0, len(batch), 7):
        for e in core.process(batch.take(slice(a, a + 7))).conditions:
            if e.condition == "gas.aegl2_10min":
                censored_on += [bool(c) for c, on in zip(e.censored_or_false(), e.active, strict=True) if on]
    assert censored_on
    assert all(censored_on)


def test_erpg_levels_are_judged_on_the_sliding_hour() -> None:
    """NH3 ERPG-2 is 150 ppm for up to an hour (AIHA): 160 ppm for an hour raises ERPG-2 (and ERPG-1, 25 ppm) but not
    ERPG-3 (750 ppm); 160 ppm for 40 minutes is a 60-min mean of 107 ppm, under ERPG-2."""
    erpg1, erpg2, erpg3 = SUBSTANCES["NH3"].erpg
    assert (erpg1, erpg2, erpg3) == (25.0, 150.0, 750.0)
    hour = _exposure(10.0, 1830.0, 3600.0, 160.0, total_s=3 * 3600.0)
    events = run(_one_gas("NH3"), stream([0], T0, 10.0, {0: hour}))
    assert np.isfinite(first_on(events, "gas.erpg2_60min", 0))
    assert np.isfinite(first_on(events, "gas.erpg1_60min", 0))
    assert "gas.erpg3_60min" not in events
    short = _exposure(10.0, 1830.0, 2400.0, 160.0, total_s=3 * 3600.0)
    events = run(_one_gas("NH3"), stream([0], T0, 10.0, {0: short}))
    assert "gas.erpg2_60min" not in events


def test_a_restored_detector_judges_windows_as_the_one_it_was_saved_from() -> None:
    """A checkpoint carries state, not what the gas detector derives from its configuration: a detector pickled in
    the middle of an exposure and restored turns the same windows on and off as the one that went on running."""
    series = _exposure(10.0, 900.0, 1800.0, 1.5 * CL2_AEGL2_10MIN, total_s=7200.0)
    batch = stream([0], T0, 10.0, {0: series})
    running = _one_gas("Cl2")
    first = run(running, batch.take(slice(0, 180)))  # 30 minutes: 15 of them above the 10-min AEGL-2
    assert first_on(first, "gas.aegl2_10min") > 0
    saved = pickle.dumps(running)
    assert b"_lowest_by_ring" not in saved
    assert b"_levels_by_ring" not in saved
    restored = pickle.loads(saved)  # noqa: S301 (the bytes pickled just above)
    rest = batch.take(slice(180, len(batch)))
    assert run(restored, rest) == run(running, rest)
