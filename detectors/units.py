"""Unit conversion to the canonical unit of each kind."""

from __future__ import annotations

from detectors.kinds import Kind
from detectors.substances import MOLAR_VOLUME_L


class UnknownUnitError(ValueError):
    """The unit is not one this kind can be converted from."""


# unit -> (scale, offset): canonical = value * scale + offset
_LINEAR: dict[Kind, dict[str, tuple[float, float]]] = {
    Kind.GAMMA_DOSE_RATE: {
        "nSv/h": (1.0, 0.0),
        "uSv/h": (1e3, 0.0),
        "µSv/h": (1e3, 0.0),
        "mSv/h": (1e6, 0.0),
        "Sv/h": (1e9, 0.0),
        "Sv/s": (3.6e12, 0.0),  # the SenML (RFC 8428) registered unit
        "nGy/h": (1.0, 0.0),  # air kerma rate; equal to ambient dose equivalent for screening
    },
    Kind.GAS: {"ppm": (1.0, 0.0), "ppb": (1e-3, 0.0), "/": (1e6, 0.0), "%": (1e4, 0.0)},
    Kind.WIND_SPEED: {"m/s": (1.0, 0.0), "km/h": (1 / 3.6, 0.0), "kn": (0.514444, 0.0)},
    Kind.WIND_DIRECTION: {"deg": (1.0, 0.0), "rad": (57.29577951308232, 0.0)},
    Kind.RAIN_RATE: {"mm/h": (1.0, 0.0), "m/s": (3.6e6, 0.0), "mm/min": (60.0, 0.0)},
    Kind.TEMPERATURE: {"Cel": (1.0, 0.0), "K": (1.0, -273.15), "degC": (1.0, 0.0)},
    Kind.BATTERY_VOLTAGE: {"V": (1.0, 0.0), "mV": (1e-3, 0.0)},
    Kind.MAINS_POWER: {"bool": (1.0, 0.0), "": (1.0, 0.0)},
    Kind.TAMPER: {"bool": (1.0, 0.0), "": (1.0, 0.0)},
    Kind.LATITUDE: {"lat": (1.0, 0.0), "deg": (1.0, 0.0)},
    Kind.LONGITUDE: {"lon": (1.0, 0.0), "deg": (1.0, 0.0)},
    Kind.HDOP: {"1": (1.0, 0.0), "": (1.0, 0.0)},
    Kind.SOLAR_RADIATION: {"W/m2": (1.0, 0.0), "kW/m2": (1e3, 0.0)},
    Kind.CLOUD_COVER: {"/": (1.0, 0.0), "%": (0.01, 0.0), "okta": (0.125, 0.0)},
}
_LINEAR[Kind.SOURCE_DOSE_RATE] = _LINEAR[Kind.GAMMA_DOSE_RATE]


def accepted_units(kind: Kind) -> frozenset[str]:
    """Units a reading of this kind may arrive in (mg/m3 too for gases)."""
    units = set(_LINEAR[kind])
    if kind is Kind.GAS:
        units |= {"mg/m3", "mg/m³"}
    return frozenset(units)


def conversion(kind: Kind, unit: str, molar_mass_g_mol: float | None = None) -> tuple[float, float]:
    """Return (scale, offset) taking ``unit`` to the canonical unit of ``kind``.

    Gas mass concentrations need the substance's molar mass: ppm = mg/m3 x 24.45 / M.
    """
    table = _LINEAR[kind]
    if unit in table:
        return table[unit]
    if kind is Kind.GAS and unit in ("mg/m3", "mg/m³"):
        if not molar_mass_g_mol:
            raise UnknownUnitError(f"{unit} needs the gas's molar mass to convert to ppm")
        return (MOLAR_VOLUME_L / molar_mass_g_mol, 0.0)
    raise UnknownUnitError(f"unit {unit!r} is not accepted for {kind.value}; accepted: {sorted(accepted_units(kind))}")
