"""Pasquill-Gifford class from wind, sun and cloud (Turner 1970 table 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.stability import (
    assessment_stability,
    solar_elevation_deg,
    stability_class,
    stability_from_sigma_theta,
)

LAT, LON = 31.9, 121.1
NOON_SUMMER = datetime(2024, 6, 21, 4, 0, tzinfo=UTC).timestamp()  # about local solar noon at 121 E
MIDNIGHT = datetime(2024, 6, 21, 16, 0, tzinfo=UTC).timestamp()


def test_solar_elevation_at_summer_noon_and_midnight() -> None:
    """At the June solstice the noon sun stands 90 - (31.9 - 23.44) = 81.5 degrees high; at midnight below."""
    assert solar_elevation_deg(NOON_SUMMER, LAT, LON) == pytest.approx(81.5, abs=1.5)
    assert solar_elevation_deg(MIDNIGHT, LAT, LON) < -30


@pytest.mark.parametrize(
    ("wind", "time", "cloud", "expected"),
    [
        (1.5, NOON_SUMMER, 0.0, "A"),  # light wind, strong sun
        (4.0, NOON_SUMMER, 0.0, "B"),
        (7.0, NOON_SUMMER, 0.0, "C"),
        (1.5, MIDNIGHT, 0.1, "F"),  # clear night, light wind
        (4.0, MIDNIGHT, 0.1, "E"),
        (4.0, MIDNIGHT, 0.7, "D"),  # cloudy night
        (2.5, NOON_SUMMER, 1.0, "D"),  # overcast
        (8.0, MIDNIGHT, 0.1, "D"),  # strong wind
    ],
)
def test_turner_table(wind: float, time: float, cloud: float, expected: str) -> None:
    """The classes of Turner's table for typical cases."""
    assert stability_class(wind, time, LAT, LON, cloud_fraction=cloud) == expected


def test_measured_radiation_overrides_the_estimate() -> None:
    """A pyranometer reading of slight insolation at noon gives the slight-sun class."""
    assert stability_class(2.5, NOON_SUMMER, LAT, LON, cloud_fraction=0.0, solar_radiation_w_m2=150.0) == "C"


@pytest.mark.parametrize(
    ("sigma_theta", "wind", "time", "expected"),
    [
        (25.0, 2.0, NOON_SUMMER, "A"),  # a wide spread in a light wind by day: convection
        (25.0, 5.0, NOON_SUMMER, "C"),  # the same spread in a stronger wind is less unstable
        (14.0, 3.0, NOON_SUMMER, "C"),
        (5.0, 3.0, NOON_SUMMER, "D"),  # a steady wind by day is neutral, never stable
        (25.0, 2.0, MIDNIGHT, "F"),  # a wide spread in a light wind at night: meander of a stable layer
        (25.0, 5.0, MIDNIGHT, "D"),
        (5.0, 2.0, MIDNIGHT, "E"),
        (2.5, 1.5, MIDNIGHT, "F"),
    ],
)
def test_sigma_theta_method(sigma_theta: float, wind: float, time: float, expected: str) -> None:
    """The class from the wind-direction spread and the wind speed, by day and by night."""
    assert stability_from_sigma_theta(sigma_theta, wind, time, LAT, LON) == expected


CLEAR_NIGHT_WINTER = datetime(2024, 12, 21, 15, 0, tzinfo=UTC).timestamp()  # 23:00 local at 121 E


@pytest.mark.parametrize(
    ("wind", "time", "cloud", "radiation", "sigma_theta", "expected"),
    [
        # a clear summer noon in a light wind: strong insolation, very unstable (Turner: A below 2 m/s, B at 2-3)
        (2.0, NOON_SUMMER, 0.0, None, None, "B"),
        (1.8, NOON_SUMMER, None, 850.0, None, "A"),
        # measured sun or cloud wins over the vane's spread (5 degrees alone would read D by day)
        (2.0, NOON_SUMMER, 0.0, None, 5.0, "B"),
        (2.5, NOON_SUMMER, 1.0, None, 25.0, "D"),  # overcast noon
        (2.0, MIDNIGHT, 1.0, None, None, "D"),  # overcast night
        (2.0, CLEAR_NIGHT_WINTER, 0.0, None, None, "F"),  # clear night at 2 m/s
        (4.0, CLEAR_NIGHT_WINTER, 0.1, None, 9.0, "E"),
        # night, cloud unknown: Turner's night columns, not the vane's meander (9 degrees would read D)
        (1.5, MIDNIGHT, None, None, 9.0, "F"),
        (2.5, MIDNIGHT, None, None, 9.0, "E"),
        (5.5, MIDNIGHT, None, None, 9.0, "D"),
        # day without sun or cloud data: the sigma-theta method when there is a spread, else Turner at half cloud
        (3.0, NOON_SUMMER, None, None, 5.0, "D"),
        (3.0, NOON_SUMMER, None, None, None, "B"),
    ],
)
def test_assessment_stability(
    wind: float, time: float, cloud: float | None, radiation: float | None, sigma_theta: float | None, expected: str
) -> None:
    """The class the release assessment uses: Turner with measured sun or cloud and at night, sigma-theta by day."""
    got = assessment_stability(
        wind, time, LAT, LON, sigma_theta_deg=sigma_theta, cloud_fraction=cloud, solar_radiation_w_m2=radiation
    )
    assert got == expected
