"""The live runner's stability class: Turner at night and with a station's cloud cover, sigma-theta by day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from daemon.assessment.runner import N_BINS, AssessmentRunner
from daemon.assessment.window import NO_READINGS
from daemon.chain.pipeline import AlarmFlow
from detectors.estimation_bins import bin_edges
from detectors.kinds import Kind
from rules.sensor_table import SensorTable
from rules.site import SensorSpec, Site

# The demo park is at 121.1 E: 16:00 UTC is local midnight, 04:00 UTC local noon.
MIDNIGHT = datetime(2024, 6, 21, 16, 0, tzinfo=UTC).timestamp()
NOON = datetime(2024, 6, 21, 4, 0, tzinfo=UTC).timestamp()


def _site_with_cloud(site: Site) -> Site:
    """The demo site with a cloud-cover channel on its first weather station."""
    devices = list(site.devices)
    i = next(k for k, d in enumerate(devices) if any(s.kind is Kind.WIND_DIRECTION for s in d.sensors))
    cloud = SensorSpec(id=f"{devices[i].id}-cloud", name="cloud", kind=Kind.CLOUD_COVER, unit="%")
    devices[i] = devices[i].model_copy(update={"sensors": [*devices[i].sensors, cloud]})
    return site.model_copy(update={"devices": devices})


def _weather(
    table: SensorTable, now: float, speed: float, spread_deg: float, cloud: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minute readings of every station for the last 25 minutes: a steady speed, directions wandering about 200
    degrees with ``spread_deg`` standard deviation, and the cloud fraction where a cloud channel exists."""
    rng = np.random.default_rng(3)
    minutes = now - 60.0 * np.arange(N_BINS)[::-1] - 30.0
    sensor, when, value = [], [], []
    for i, spec in enumerate(table.sensors):
        if spec.kind is Kind.WIND_SPEED:
            level = np.full(minutes.shape, speed)
        elif spec.kind is Kind.WIND_DIRECTION:
            level = 200.0 + spread_deg * rng.standard_normal(minutes.shape)
        elif spec.kind is Kind.CLOUD_COVER and cloud is not None:
            level = np.full(minutes.shape, cloud)
        else:
            continue
        sensor.append(np.full(minutes.shape, i))
        when.append(minutes)
        value.append(level)
    return np.concatenate(sensor), np.concatenate(when), np.concatenate(value)


def _stability(site: Site, now: float, speed: float, spread_deg: float, cloud: float | None = None) -> str:
    table = SensorTable.build(site)
    runner = AssessmentRunner(table, AlarmFlow.__new__(AlarmFlow))  # the flow is not used to bin the wind
    sensor, when, value = _weather(table, now, speed, spread_deg, cloud)
    return runner._wind(sensor, when, value, bin_edges(now, 60.0, N_BINS), now).stability


def test_clear_light_night_is_stable_although_the_vane_meanders(demo_site: Site) -> None:
    """A night with 1.5 m/s and minute directions spreading 9 degrees: F (Turner), not the D the sigma-theta
    method reads from the meander (the gas-night-residential drill's class)."""
    assert _stability(demo_site, MIDNIGHT, 1.5, 9.0) == "F"
    assert _stability(demo_site, MIDNIGHT, 2.5, 9.0) == "E"


def test_day_without_cloud_data_keeps_the_sigma_theta_method(demo_site: Site) -> None:
    """By day, with no cloud or radiation channel, a steady 3 m/s wind (3 degrees) is D by the sigma-theta method."""
    assert _stability(demo_site, NOON, 3.0, 3.0) == "D"


@pytest.mark.parametrize(("now", "cloud", "expected"), [(NOON, 0.0, "B"), (NOON, 1.0, "D"), (MIDNIGHT, 1.0, "D")])
def test_a_stations_cloud_cover_sets_the_class(demo_site: Site, now: float, cloud: float, expected: str) -> None:
    """With a cloud channel the class is Turner's with the measured cover: a clear noon in 3 m/s is B (the vane's
    3 degrees alone would say D); an overcast noon or night is D."""
    assert _stability(_site_with_cloud(demo_site), now, 3.0, 3.0, cloud) == expected


def test_no_wind_is_said_once_as_a_warning_not_a_traceback(demo_site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """A park whose weather stations are silent cannot be assessed: one WARNING saying why, not an ERROR with a
    traceback at every tick (before: ``log.exception`` each minute)."""
    table = SensorTable.build(demo_site)
    runner = AssessmentRunner(table, AlarmFlow.__new__(AlarmFlow))
    with caplog.at_level("WARNING", logger="daemon.assessment.runner"):
        for minute in range(3):
            assert runner._assess_all(["cl2"], NO_READINGS, NOON + 60.0 * minute) == {}
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == ["WARNING"]
    assert "no wind readings" in said[0][1]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_vanes_spread_is_taken_from_every_reading_not_the_minute_means(demo_site: Site) -> None:
    """Vanes reporting every 5 s with a 20-degree turbulent spread (10-s correlation) in 2 m/s at noon: class B
    from the readings' own spread (their minute means spread about half as much, which would read D), and no other
    class is the more probable in the weights the wind carries."""
    table = SensorTable.build(demo_site)
    runner = AssessmentRunner(table, AlarmFlow.__new__(AlarmFlow))
    rng = np.random.default_rng(5)
    times = NOON - 5.0 * np.arange(N_BINS * 12)[::-1]
    phi = np.exp(-5.0 / 10.0)
    sensor, when, value = [], [], []
    for i, spec in enumerate(table.sensors):
        if spec.kind is Kind.WIND_SPEED:
            level = np.full(times.shape, 2.0)
        elif spec.kind is Kind.WIND_DIRECTION:
            shocks = rng.normal(0.0, 20.0 * np.sqrt(1.0 - phi**2), times.shape[0])
            level = np.empty(times.shape)
            level[0] = rng.normal(0.0, 20.0)
            for k in range(1, times.shape[0]):
                level[k] = phi * level[k - 1] + shocks[k]
            level = 200.0 + level
        else:
            continue
        sensor.append(np.full(times.shape, i))
        when.append(times)
        value.append(level)
    wind = runner._wind(
        np.concatenate(sensor), np.concatenate(when), np.concatenate(value), bin_edges(NOON, 60.0, N_BINS), NOON
    )
    assert wind.stability == "B"
    assert all(c == "B" or w < 0.5 for c, w in wind.class_weights)
