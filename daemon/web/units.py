"""Units as a duty officer reads them (the store keeps UCUM-like canonical codes)."""

from __future__ import annotations

from detectors.kinds import CANONICAL_UNIT, Kind

# SenML/UCUM codes that read badly on a screen; booleans and dimensionless values carry no unit.
_DISPLAY = {"Cel": "°C", "deg": "°", "bool": "", "1": "", "lat": "°", "lon": "°"}


def display_unit(kind: str) -> str:
    """The unit shown next to a value of ``kind`` ('' for booleans and unknown kinds such as service alarms)."""
    try:
        canonical = CANONICAL_UNIT[Kind(kind)]
    except ValueError:
        return ""
    return _DISPLAY.get(canonical, canonical)
