"""Measurement kinds and their canonical units."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a sensor measures. Every kind has one canonical unit that readings are converted to."""

    GAMMA_DOSE_RATE = "gamma_dose_rate"  # environmental station, nSv/h
    SOURCE_DOSE_RATE = "source_dose_rate"  # at a sealed-source container, nSv/h
    GAS = "gas"  # toxic gas concentration, ppm (the substance is a per-sensor attribute)
    WIND_SPEED = "wind_speed"  # m/s
    WIND_DIRECTION = "wind_direction"  # degrees clockwise from north, where the wind comes FROM
    RAIN_RATE = "rain_rate"  # mm/h
    TEMPERATURE = "temperature"  # degrees Celsius
    BATTERY_VOLTAGE = "battery_voltage"  # V
    MAINS_POWER = "mains_power"  # 1 = on mains, 0 = mains lost
    TAMPER = "tamper"  # 1 = container/door open or enclosure tampered
    LATITUDE = "latitude"  # degrees (WGS-84 / CGCS2000)
    LONGITUDE = "longitude"  # degrees
    HDOP = "hdop"  # horizontal dilution of precision of the GNSS fix, dimensionless
    GENERIC = "generic"  # any other series (flow, pressure, door counts, ...), in its own unit
    # Weather-station channels for the stability class (detectors.stability). Appended after GENERIC so that the
    # kind codes stored with earlier sensor tables keep their meaning.
    SOLAR_RADIATION = "solar_radiation"  # global horizontal irradiance from a pyranometer, W/m2
    CLOUD_COVER = "cloud_cover"  # sky fraction covered by cloud, 0-1 (ceilometer, all-sky camera, observer)


CANONICAL_UNIT: dict[Kind, str] = {
    Kind.GAMMA_DOSE_RATE: "nSv/h",
    Kind.SOURCE_DOSE_RATE: "nSv/h",
    Kind.GAS: "ppm",
    Kind.WIND_SPEED: "m/s",
    Kind.WIND_DIRECTION: "deg",
    Kind.RAIN_RATE: "mm/h",
    Kind.TEMPERATURE: "Cel",
    Kind.BATTERY_VOLTAGE: "V",
    Kind.MAINS_POWER: "bool",
    Kind.TAMPER: "bool",
    Kind.LATITUDE: "lat",
    Kind.LONGITUDE: "lon",
    Kind.HDOP: "1",
    Kind.GENERIC: "1",
    Kind.SOLAR_RADIATION: "W/m2",
    Kind.CLOUD_COVER: "/",
}

# Kinds carried as SenML booleans (``vb``); they become 0.0 / 1.0 in a batch.
BOOLEAN_KINDS: frozenset[Kind] = frozenset({Kind.MAINS_POWER, Kind.TAMPER})

# Physically possible range per kind, in the canonical unit. Outside it a reading is flagged out of range.
# Dose rate: 10 Sv/h is far beyond any detector fitted to these networks.
PHYSICAL_RANGE: dict[Kind, tuple[float, float]] = {
    Kind.GAMMA_DOSE_RATE: (0.0, 1.0e10),
    Kind.SOURCE_DOSE_RATE: (0.0, 1.0e10),
    Kind.GAS: (0.0, 1.0e6),
    Kind.WIND_SPEED: (0.0, 90.0),
    Kind.WIND_DIRECTION: (0.0, 360.0),
    Kind.RAIN_RATE: (0.0, 500.0),
    Kind.TEMPERATURE: (-60.0, 70.0),
    Kind.BATTERY_VOLTAGE: (0.0, 60.0),
    Kind.MAINS_POWER: (0.0, 1.0),
    Kind.TAMPER: (0.0, 1.0),
    Kind.LATITUDE: (-90.0, 90.0),
    Kind.LONGITUDE: (-180.0, 180.0),
    Kind.HDOP: (0.0, 100.0),
    Kind.GENERIC: (-1.0e15, 1.0e15),  # no physics: any number of a sane size in its own unit
    Kind.SOLAR_RADIATION: (0.0, 1500.0),  # the solar constant is 1361 W/m2
    Kind.CLOUD_COVER: (0.0, 1.0),
}

KIND_CODES: dict[Kind, int] = {kind: code for code, kind in enumerate(Kind)}
KINDS_BY_CODE: tuple[Kind, ...] = tuple(Kind)
