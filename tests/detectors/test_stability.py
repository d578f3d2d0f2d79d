"""Pasquill-Gifford class from wind, sun and cloud (Turner 1970 table 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.stability import solar_elevation_deg, stability_class, stability_from_sigma_theta

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
