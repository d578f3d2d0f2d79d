"""What the console calls a sensor: its device's name and the zone it stands in."""

from __future__ import annotations

from dataclasses import dataclass

from rules.sensor_table import SensorTable


@dataclass(frozen=True, slots=True)
class SensorLabel:
    """Human names of one sensor."""

    device_name: str
    zone_name: str
    substance: str | None


def sensor_labels(table: SensorTable) -> dict[str, SensorLabel]:
    """Sensor id -> its labels, for every declared sensor."""
    zones = {z.id: z.name for z in table.site.zones}
    out: dict[str, SensorLabel] = {}
    for device in table.site.devices:
        for sensor in device.sensors:
            out[sensor.id] = SensorLabel(
                device.name or device.id, zones.get(device.zone, device.zone), sensor.substance
            )
    return out


def zone_names(table: SensorTable) -> dict[str, str]:
    """Zone id -> zone name."""
    return {z.id: z.name for z in table.site.zones}
