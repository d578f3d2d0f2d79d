"""Pasquill-Gifford class from wind, sun and cloud (Turner 1970 table 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from detectors.estimation_bins import direction_effective_samples, direction_sd_deg
from detectors.stability import (
    assessment_stability,
    class_weights,
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


def _turbulent_directions(spread_deg: float, seconds: int, seed: int = 4) -> np.ndarray:
    """1-s vane samples about 200 degrees with ``spread_deg`` standard deviation and a 10-s correlation time (the
    turbulence a sigma-theta is meant to measure: EPA-454/R-99-005 samples the vane every 1-5 s)."""
    rng = np.random.default_rng(seed)
    phi = np.exp(-1.0 / 10.0)
    shocks = rng.normal(0.0, spread_deg * np.sqrt(1.0 - phi**2), seconds)
    out = np.empty(seconds)
    out[0] = rng.normal(0.0, spread_deg)
    for i in range(1, seconds):
        out[i] = phi * out[i - 1] + shocks[i]
    return 200.0 + out


def test_sigma_theta_needs_the_raw_samples_not_the_minute_means() -> None:
    """Over 15 minutes of 1-s samples with a 20-degree spread, the samples' spread is about 20 degrees (class B by
    day in 2 m/s); the spread of their minute means is about half that (the turbulence inside a minute averaged
    away: class D), which is why the runner takes sigma-theta from the readings, never from the bins."""
    raw = _turbulent_directions(20.0, 900)
    minute_means = raw.reshape(15, 60).mean(axis=1)
    assert 17.0 <= direction_sd_deg(raw) <= 23.0
    assert direction_sd_deg(minute_means) < 12.5  # the C/D boundary
    assert stability_from_sigma_theta(direction_sd_deg(raw), 2.0, NOON_SUMMER, LAT, LON) == "B"
    assert stability_from_sigma_theta(direction_sd_deg(minute_means), 2.0, NOON_SUMMER, LAT, LON) == "D"


def test_a_sigma_theta_on_a_class_boundary_is_even_odds() -> None:
    """12.5 degrees is the C/D boundary: from 900 samples in 3 m/s by day, C and D get even odds and most of the
    weight (Turner's table with the cloud unknown gives C and D one okta each: it does not tip them); 10 degrees
    (mid-D) leaves D alone (no weights: the estimator's neighbour prior)."""
    boundary = dict(class_weights(3.0, NOON_SUMMER, LAT, LON, sigma_theta=(12.5, 900)))
    assert boundary["C"] == pytest.approx(boundary["D"], abs=0.05)
    assert boundary["C"] + boundary["D"] > 0.7
    assert class_weights(3.0, NOON_SUMMER, LAT, LON, sigma_theta=(10.0, 900)) == ()


def test_fewer_vane_samples_make_the_class_less_sure() -> None:
    """15 directions (a station reporting once a minute) leave the class less sure than 900 (once a second)."""
    many = class_weights(5.5, NOON_SUMMER, LAT, LON, sigma_theta=(15.0, 900))
    few = class_weights(5.5, NOON_SUMMER, LAT, LON, sigma_theta=(15.0, 15))
    assert many[0][0] == few[0][0] == "C"
    assert few[0][1] < many[0][1]
    assert sum(w for _, w in few) == pytest.approx(1.0)


def test_wandering_vane_readings_leave_the_class_less_sure() -> None:
    """15 minute-readings of a wind that wanders for minutes are worth fewer independent directions (their effective
    count): the weights spread over more classes, and the most probable one is less sure, than for 15 independent
    ones with the same spread."""
    rng = np.random.default_rng(3)
    wander = np.empty(15)
    wander[0] = rng.normal(0.0, 15.0)
    for i in range(1, 15):
        wander[i] = 0.85 * wander[i - 1] + rng.normal(0.0, 15.0 * np.sqrt(1.0 - 0.85**2))
    directions = 200.0 + wander
    spread = direction_sd_deg(directions)
    effective = direction_effective_samples(directions)
    assert effective < 8.0
    independent = class_weights(5.5, NOON_SUMMER, LAT, LON, sigma_theta=(spread, 15.0))
    wandering = class_weights(5.5, NOON_SUMMER, LAT, LON, sigma_theta=(spread, effective))
    assert wandering[0][1] < independent[0][1]
    assert len(wandering) >= len(independent)


def test_a_light_wind_under_a_high_sun_weighs_the_unstable_classes() -> None:
    """2 m/s at noon in June, spread 14 degrees from 15 directions: the spread alone says C; Turner's table, with
    the cloud unknown, says B unless overcast (then D), so the weights are B's first and C's are gone."""
    assert stability_from_sigma_theta(14.0, 2.0, NOON_SUMMER, LAT, LON) == "C"
    weights = dict(class_weights(2.0, NOON_SUMMER, LAT, LON, sigma_theta=(14.0, 15)))
    assert max(weights, key=lambda c: weights[c]) == "B"
    assert "C" not in weights


def test_the_wind_adjustment_applies_to_every_class_weighed() -> None:
    """By day a strong wind cannot be less stable than D: in 7 m/s every initial class ends as D, so the inference
    says nothing beyond the class (no weights: the estimator's neighbour prior); in 5 m/s B and A end as C."""
    assert class_weights(7.0, NOON_SUMMER, LAT, LON, sigma_theta=(15.0, 15)) == ()
    assert set(dict(class_weights(5.0, NOON_SUMMER, LAT, LON, sigma_theta=(20.0, 15)))) <= {"C", "D"}


@pytest.mark.parametrize(("wind", "expected"), [(2.5, {"E": 0.5, "F": 0.5}), (4.0, {"D": 0.5, "E": 0.5}), (1.5, {})])
def test_a_night_with_the_cloud_unknown_weighs_both_night_columns(wind: float, expected: dict[str, float]) -> None:
    """Turner's night columns (>= 4/8 and <= 3/8 cloud) at even odds when no station reports the cloud (below 2 m/s
    both are F: no weights)."""
    assert dict(class_weights(wind, MIDNIGHT, LAT, LON, sigma_theta=(9.0, 15))) == expected


def test_a_measured_cloud_cover_leaves_the_neighbours_to_the_estimator() -> None:
    """With the cloud measured the inference gives no weights of its own (the estimator's neighbour prior)."""
    assert class_weights(3.0, NOON_SUMMER, LAT, LON, sigma_theta=(9.0, 15), sky_measured=True) == ()
    assert class_weights(3.0, NOON_SUMMER, LAT, LON) == ()
