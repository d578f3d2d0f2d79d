"""Resolve a rule's selector to the sensors it applies to."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rules.model import Selector
from rules.sensor_table import SensorTable


def selected_sensors(selector: Selector, table: SensorTable) -> NDArray[np.bool_]:
    """A mask over the table's sensors: True where every given selector field matches."""
    zone_type = {z.id: z.type for z in table.site.zones}
    mask = np.zeros(len(table), np.bool_)
    if selector.site is not None and table.site.site not in selector.site:
        return mask
    for i, sensor in enumerate(table.sensors):
        device = table.devices[int(table.device_of[i])]
        category = device.source.category if device.source is not None else None
        mask[i] = (
            (selector.kind is None or sensor.kind in selector.kind)
            and (selector.zone is None or table.zone[i] in selector.zone)
            and (selector.zone_type is None or zone_type[table.zone[i]] in selector.zone_type)
            and (selector.device_type is None or device.type in selector.device_type)
            and (selector.device is None or device.id in selector.device)
            and (selector.sensor is None or sensor.id in selector.sensor)
            and (selector.substance is None or sensor.substance in selector.substance)
            and (selector.source_category is None or category in selector.source_category)
        )
    return mask
