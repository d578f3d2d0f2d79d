"""Gamma stations: rises against the learned background, and natural/suspicious classification."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.core import DetectionCore
from detectors.gamma import CLASSIFY_DELAY_S
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import T0, MixedSite, first_on, mixed_site, run, stream, washout_excess

STEP_S = 60.0


def _poisson_dose(rng: np.random.Generator, mean_nsv_h: np.ndarray, cps_per_nsv_h: float = 0.1) -> np.ndarray:
    """Dose rate from Poisson counts over one 60 s report, plus 3 % of real-world (radon, electronics) scatter."""
    counts_per_unit = cps_per_nsv_h * STEP_S
    scatter = 1 + 0.03 * rng.standard_normal(mean_nsv_h.shape)
    return rng.poisson(mean_nsv_h * scatter * counts_per_unit) / counts_per_unit


def _gamma_stream(
    rng: np.random.Generator, means: dict[int, np.ndarray], rain_mm_h: np.ndarray
) -> tuple[MixedSite, ReadingBatch]:
    site = mixed_site()
    values = {g: _poisson_dose(rng, means[g]) for g in site.gamma}
    values[site.rain] = rain_mm_h
    return site, stream([*site.gamma, site.rain], T0, STEP_S, values)


@pytest.mark.parametrize("rise", [0.3, 0.5])
def test_step_rise_is_caught_within_minutes(rise: float) -> None:
    """A 30-50 % step at one station is caught within a few reports; the delay is reported."""
    rng = np.random.default_rng(7)
    steps, at = 24 * 60, 20 * 60
    means = {g: np.full(steps, 100.0) for g in range(4)}
    means[0][at:] *= 1.0 + rise
    site, batch = _gamma_stream(rng, means, np.zeros(steps))
    events = run(DetectionCore(site.config), batch)
    delay_s = first_on(events, "gamma.rise", 0) - (T0 + at * STEP_S)
    print(f"gamma.rise after a {rise:.0%} step: detected {delay_s:.0f} s after the step")
    assert 0 <= delay_s <= 5 * STEP_S
    # No other station alarms, and nothing fired before the step.
    assert all(s == 0 and t >= T0 + at * STEP_S for s, t, _ in events["gamma.rise"])


def test_normal_fluctuation_does_not_alarm() -> None:
    """A day of Poisson noise on a slowly varying (+-10 % diurnal) background raises no rise."""
    rng = np.random.default_rng(11)
    steps = 24 * 60
    diurnal = 100.0 * (1 + 0.1 * np.sin(np.arange(steps) * 2 * np.pi / steps))
    site, batch = _gamma_stream(rng, {g: diurnal.copy() for g in range(4)}, np.zeros(steps))
    events = run(DetectionCore(site.config), batch)
    assert "gamma.rise" not in events
    assert "anomaly.spike" not in events


def _rain_scenario(
    stations_rising: list[int], raining: bool
) -> tuple[MixedSite, dict[str, list[tuple[int, float, bool]]]]:
    rng = np.random.default_rng(3)
    steps, at = 12 * 60, 3 * 60
    means = {g: np.full(steps, 90.0 + 5 * g) for g in range(4)}
    shower = np.zeros(steps)
    shower[at - 10 : at + 30] = 8.0
    for g in stations_rising:
        # Radon progeny washout by a 40-minute shower: it builds while it rains, then decays with the progeny.
        means[g] *= 1 + washout_excess(shower, STEP_S, gain=1.5)
    rain = shower if raining else np.zeros(steps)
    site, batch = _gamma_stream(rng, means, rain)
    return site, run(DetectionCore(site.config), batch)


def test_rain_at_four_stations_is_natural() -> None:
    """Rain at the weather station and the rise at all four neighbouring stations: classed natural."""
    _, events = _rain_scenario([0, 1, 2, 3], raining=True)
    natural = {s for s, _, a in events.get("gamma.rise_natural", []) if a}
    assert natural == {0, 1, 2, 3}
    assert "gamma.rise_suspicious" not in events
    # Classification waits for neighbours and gauges to report.
    for s in range(4):
        assert first_on(events, "gamma.rise_natural", s) - first_on(events, "gamma.rise", s) >= CLASSIFY_DELAY_S


def test_isolated_rise_without_rain_is_suspicious() -> None:
    """The same rise at one station, no rain anywhere: classed suspicious."""
    _, events = _rain_scenario([2], raining=False)
    assert {s for s, _, a in events.get("gamma.rise_suspicious", []) if a} == {2}
    assert "gamma.rise_natural" not in events


def test_isolated_rise_with_rain_is_still_suspicious() -> None:
    """Rain alone does not explain a rise no neighbour shares: stay on the safe side."""
    _, events = _rain_scenario([1], raining=True)
    assert {s for s, _, a in events.get("gamma.rise_suspicious", []) if a} == {1}


def test_classification_clears_with_the_rise() -> None:
    """When the rise ends, its classification ends at the same moment."""
    _, events = _rain_scenario([0, 1, 2, 3], raining=True)
    for s in range(4):
        rise_off = [t for x, t, a in events["gamma.rise"] if x == s and not a]
        natural_off = [t for x, t, a in events["gamma.rise_natural"] if x == s and not a]
        assert rise_off
        assert natural_off == rise_off[: len(natural_off)]
        assert natural_off


def test_no_false_rises_across_a_network() -> None:
    """50 stations x 3,000 readings of Poisson counts with 3 % scatter and a diurnal swing: no rise at all."""
    from detectors.config import CoreConfig
    from detectors.kinds import Kind
    from detectors.readings import ReadingBatch

    n, steps = 50, 3000
    rng = np.random.default_rng(21)
    phase = rng.uniform(0, 2 * np.pi, n)
    mean = 100 * (1 + 0.1 * np.sin(2 * np.pi * np.arange(steps)[:, None] / 1440 + phase))
    dose = _poisson_dose(rng, mean)
    config = CoreConfig.build([Kind.GAMMA_DOSE_RATE] * n, report_interval_s=np.full(n, STEP_S))
    t = np.repeat(T0 + STEP_S * np.arange(steps), n)
    batch = ReadingBatch(np.tile(np.arange(n, dtype=np.int32), steps), t, dose.ravel(), np.zeros(n * steps, np.uint16))
    assert not [e.condition for e in DetectionCore(config).process(batch).conditions if e.condition.startswith("gamma")]
