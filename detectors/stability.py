"""Pasquill-Gifford stability class from wind speed, time of day and cloud or solar radiation.

The class table is Pasquill (1961), "The estimation of the dispersion of windborne material", Meteorological
Magazine 90, 33-49, in the form Turner (1970) gives it in the Workbook of Atmospheric Dispersion Estimates
(EPA AP-26), table 1: daytime classes follow the incoming solar radiation, night-time classes the cloud cover,
and overcast skies are D by day or night. Incoming solar radiation, when no pyranometer reports it, is estimated
from the sun's elevation and the cloud fraction with Holtslag & van Ulden (1983), J. Climate Appl. Meteor. 22,
517-529: K = (990 sin(elevation) - 30) (1 - 0.75 N^3.4). Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import math

from scipy.special import ndtr

# Turner (1970) table 1 columns: day strong / moderate / slight insolation, night >= 4/8 cloud / <= 3/8 cloud.
# Rows are upper wind-speed bounds (m/s, at 10 m). Intermediate classes (A-B, B-C, C-D) are resolved to the more
# stable letter: more stable gives the higher ground-level concentration downwind, the cautious side.
_WIND_BOUNDS_M_S = (2.0, 3.0, 5.0, 6.0, math.inf)
_TABLE: tuple[tuple[str, str, str, str, str], ...] = (
    ("A", "B", "B", "F", "F"),  # < 2 m/s (night: Pasquill leaves it blank; F, the most stable class we model)
    ("B", "B", "C", "E", "F"),  # 2-3
    ("B", "C", "C", "D", "E"),  # 3-5
    ("C", "D", "D", "D", "D"),  # 5-6
    ("C", "D", "D", "D", "D"),  # > 6
)
# Insolation classes in W/m2 (the usual reading of Pasquill's "strong / moderate / slight").
STRONG_W_M2 = 600.0
SLIGHT_BELOW_W_M2 = 300.0


def solar_elevation_deg(unix_time_s: float, lat_deg: float, lon_deg: float) -> float:
    """The sun's elevation above the horizon (degrees), NOAA's low-precision formulas (about 0.5 degree)."""
    days = unix_time_s / 86400.0 + 2440587.5 - 2451545.0  # days since J2000.0
    mean_long = math.radians((280.460 + 0.9856474 * days) % 360.0)
    anomaly = math.radians((357.528 + 0.9856003 * days) % 360.0)
    ecliptic_long = mean_long + math.radians(1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly))
    obliquity = math.radians(23.439 - 0.0000004 * days)
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic_long))
    right_ascension = math.atan2(math.cos(obliquity) * math.sin(ecliptic_long), math.cos(ecliptic_long))
    sidereal_deg = (280.46061837 + 360.98564736629 * days + lon_deg) % 360.0
    hour_angle = math.radians(sidereal_deg) - right_ascension
    lat = math.radians(lat_deg)
    sin_elevation = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_elevation))))


def clear_sky_radiation_w_m2(elevation_deg: float, cloud_fraction: float = 0.0) -> float:
    """Incoming solar radiation (W/m2) from elevation and cloud fraction 0-1 (Holtslag & van Ulden 1983)."""
    clear = 990.0 * math.sin(math.radians(elevation_deg)) - 30.0
    cover: float = max(0.0, min(1.0, cloud_fraction))
    return max(0.0, clear * (1.0 - 0.75 * float(cover**3.4)))


def stability_class(
    wind_speed_m_s: float,
    unix_time_s: float,
    lat_deg: float,
    lon_deg: float,
    *,
    cloud_fraction: float | None = None,
    solar_radiation_w_m2: float | None = None,
) -> str:
    """Pasquill-Gifford class A-F (Turner 1970, table 1); unknown cloud is taken as half cover."""
    cloud = 0.5 if cloud_fraction is None else max(0.0, min(1.0, cloud_fraction))
    row = next(i for i, bound in enumerate(_WIND_BOUNDS_M_S) if wind_speed_m_s < bound)
    if cloud >= 1.0:
        return "D"  # overcast, day or night (Turner's note to table 1)
    elevation = solar_elevation_deg(unix_time_s, lat_deg, lon_deg)
    if elevation <= 0.0:
        return str(_TABLE[row][3 if cloud >= 0.5 else 4])
    radiation = solar_radiation_w_m2 if solar_radiation_w_m2 is not None else clear_sky_radiation_w_m2(elevation, cloud)
    if radiation >= STRONG_W_M2:
        column = 0
    elif radiation >= SLIGHT_BELOW_W_M2:
        column = 1
    else:
        column = 2
    return str(_TABLE[row][column])


# The sigma-theta method (Irwin 1980, "Dispersion estimate suggestion #8: estimation of Pasquill stability
# categories", US EPA; as given in EPA-454/R-99-005, 2000, tables 6-7 and 6-8 and in EPA-454/R-87-013): an initial
# class from the standard deviation of the horizontal wind direction over 15-60 minutes, then adjusted by the
# 10-m wind speed - by day a steady wind cannot be more stable than D, and by night a meandering one is not
# unstable. Used when the stations report the direction often enough to measure its spread; the insolation table
# above (which needs the cloud cover) is the fallback.
_SIGMA_THETA_LOWER_DEG = ((22.5, "A"), (17.5, "B"), (12.5, "C"), (7.5, "D"), (3.8, "E"), (0.0, "F"))
# Daytime: initial class -> ((upper wind bound m/s, final class), ...), from table 6-8.
_DAY_ADJUST: dict[str, tuple[tuple[float, str], ...]] = {
    "A": ((3.0, "A"), (4.0, "B"), (6.0, "C"), (math.inf, "D")),
    "B": ((4.0, "B"), (6.0, "C"), (math.inf, "D")),
    "C": ((6.0, "C"), (math.inf, "D")),
    "D": ((math.inf, "D"),),
    "E": ((math.inf, "D"),),
    "F": ((math.inf, "D"),),
}
# Night-time: a wide direction spread in a light wind is the meander of a stable layer, not convection, so A-C
# become stable or neutral by wind speed; D, E and F stand.
_NIGHT_ADJUST: dict[str, tuple[tuple[float, str], ...]] = {
    "A": ((2.9, "F"), (3.6, "E"), (math.inf, "D")),
    "B": ((2.4, "F"), (3.0, "E"), (math.inf, "D")),
    "C": ((2.4, "E"), (math.inf, "D")),
    "D": ((math.inf, "D"),),
    "E": ((math.inf, "E"),),
    "F": ((math.inf, "F"),),
}


def stability_from_sigma_theta(
    sigma_theta_deg: float, wind_speed_m_s: float, unix_time_s: float, lat_deg: float, lon_deg: float
) -> str:
    """Pasquill-Gifford class A-F from the wind direction's standard deviation and the wind speed (sigma-theta
    method); day and night from the sun's elevation."""
    initial = next(c for lower, c in _SIGMA_THETA_LOWER_DEG if sigma_theta_deg >= lower)
    return _adjusted(initial, wind_speed_m_s, day=solar_elevation_deg(unix_time_s, lat_deg, lon_deg) > 0.0)


def _adjusted(initial: str, wind_speed_m_s: float, day: bool) -> str:
    """The sigma-theta method's final class from its initial one and the wind speed (table 6-8)."""
    table = _DAY_ADJUST if day else _NIGHT_ADJUST
    return next(c for bound, c in table[initial] if wind_speed_m_s < bound)


def assessment_stability(
    wind_speed_m_s: float,
    unix_time_s: float,
    lat_deg: float,
    lon_deg: float,
    *,
    sigma_theta_deg: float | None = None,
    cloud_fraction: float | None = None,
    solar_radiation_w_m2: float | None = None,
) -> str:
    """The class the release assessment uses, from what the weather stations give.

    - A measured cloud cover or solar radiation: Turner's table with them, by day and by night (the insolation and
      the night's cloud are what Pasquill's classes are defined by).
    - Night without them: Turner's night columns with the cloud unknown. The sigma-theta method is not used after
      sunset: in a light wind under a stable layer the vane's minute means swing with the slow meander of the
      layer (Hanna 1983, J. Clim. Appl. Meteor. 22, 1424-1430; Mahrt 2009, Boundary-Layer Meteor. 130, 1-14), which the
      estimator already follows by steering the plume with those minute means, so reading it as turbulence as
      well gives D/E where the night is E/F (the gas-night-residential drill: 1.5 m/s, clear, F).
    - Day without them: the sigma-theta method when the stations give ``sigma_theta_deg``, else Turner's table with
      the sun's elevation and half cloud cover.
    """
    measured = cloud_fraction is not None or solar_radiation_w_m2 is not None
    night = solar_elevation_deg(unix_time_s, lat_deg, lon_deg) <= 0.0
    if measured or night or sigma_theta_deg is None:
        return stability_class(
            wind_speed_m_s,
            unix_time_s,
            lat_deg,
            lon_deg,
            cloud_fraction=cloud_fraction,
            solar_radiation_w_m2=solar_radiation_w_m2,
        )
    return stability_from_sigma_theta(sigma_theta_deg, wind_speed_m_s, unix_time_s, lat_deg, lon_deg)


# How sure the class is. The sigma-theta of n direction samples is a sample standard deviation: for independent
# normal samples (n - 1) s^2 / sigma^2 is chi-square with n - 1 degrees of freedom, so log(s) has the standard
# deviation 1 / sqrt(2 (n - 1)) about log(sigma) for large n: 0.19 for a station that reports once a minute over 15
# minutes if they were independent; they are not (the direction wanders for minutes), so the caller gives the
# effective number, n (1 - r) / (1 + r) for lag-1 autocorrelation r (``direction_effective_samples``). On top of
# that the method itself: its class boundaries are empirical (EPA-454/R-99-005 s. 6.4.5 on the accuracy of the
# class estimates). A class's step is a factor 1.4 (0.34 in log) in sigma-theta, so a reading near a boundary is
# nearly a coin toss between two classes.
SIGMA_THETA_METHOD_LOG_SD = 0.15


def class_weights(
    wind_speed_m_s: float,
    unix_time_s: float,
    lat_deg: float,
    lon_deg: float,
    *,
    sigma_theta: tuple[float, float] | None = None,
    sky_measured: bool = False,
) -> tuple[tuple[str, float], ...]:
    """The probability of each class given what ``assessment_stability`` was given, the most probable first; empty
    when the inference says nothing beyond its one class (``sky_measured``: a station's cloud cover or solar
    radiation; Turner by day with the cloud unknown; or one class whatever the spread or the cloud): the estimator
    then takes the class's neighbours with its own prior, the class's generic uncertainty.

    - Day, sigma-theta method (``sigma_theta``: the spread in degrees and how many independent directions it came
      from, ``detectors.estimation_bins.direction_effective_samples``): log
      sigma-theta is taken as normal about the measured value with the sampling error of that many directions and
      the method's own (``SIGMA_THETA_METHOD_LOG_SD``); each class's share is the probability of its sigma-theta
      interval (EPA-454/R-99-005 table 6-7), then moved by the wind-speed adjustment as the point class is (table
      6-8).
      Those shares are weighed by Turner's table with the cloud unknown (each okta equally likely) as the prior.
    - Night, cloud unknown: Turner's two night columns (>= 4/8 and <= 3/8 cloud) at even odds.
    """
    if sky_measured:
        return ()
    night = solar_elevation_deg(unix_time_s, lat_deg, lon_deg) <= 0.0
    if night:
        row = next(i for i, bound in enumerate(_WIND_BOUNDS_M_S) if wind_speed_m_s < bound)
        cloudy, clear = _TABLE[row][3], _TABLE[row][4]
        return () if cloudy == clear else ((cloudy, 0.5), (clear, 0.5))
    if sigma_theta is None:
        return ()
    sigma_theta_deg, samples = sigma_theta
    sampling = 1.0 / math.sqrt(2.0 * max(samples - 1.0, 1.0))
    spread = math.hypot(sampling, SIGMA_THETA_METHOD_LOG_SD)
    centre = math.log(max(sigma_theta_deg, 1e-3))
    shares: dict[str, float] = {}
    upper = math.inf  # each class's upper bound is the lower bound of the class before it (A has none)
    for lower, initial in _SIGMA_THETA_LOWER_DEG:
        high = 1.0 if math.isinf(upper) else float(ndtr((math.log(upper) - centre) / spread))
        low = 0.0 if lower <= 0.0 else float(ndtr((math.log(lower) - centre) / spread))
        final = _adjusted(initial, wind_speed_m_s, day=True)
        shares[final] = shares.get(final, 0.0) + max(0.0, high - low)
        upper = lower
    # The sun and the wind are evidence too: Turner's table (EPA's recommended method, EPA-454/R-99-005 s. 6.9
    # and 6.4.1; the sigma-theta method is its alternative) with the cloud unknown, each okta 0-8 equally likely, is
    # the prior the spread's likelihood is weighed by. A light wind under a high sun is A-B whatever the cloud short of
    # overcast, which the 15-minute spread alone reads a letter or two too stable when the wind's slow swings are
    # longer than the window. When the two leave nothing in common, the spread alone.
    prior: dict[str, float] = {}
    for okta in range(9):
        turner = stability_class(wind_speed_m_s, unix_time_s, lat_deg, lon_deg, cloud_fraction=okta / 8.0)
        prior[turner] = prior.get(turner, 0.0) + 1.0 / 9.0
    joint = {c: w * prior.get(c, 0.0) for c, w in shares.items()}
    if sum(joint.values()) > 0.02:
        shares = joint
    kept = sorted(((c, w) for c, w in shares.items() if w >= 0.02), key=lambda cw: -cw[1])
    if len(kept) == 1:
        return ()  # one class whatever the spread (e.g. D in a strong wind by day): nothing beyond the class
    total = sum(w for _, w in kept)
    return tuple((c, w / total) for c, w in kept)
