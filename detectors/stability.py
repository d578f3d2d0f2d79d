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
    day = solar_elevation_deg(unix_time_s, lat_deg, lon_deg) > 0.0
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
