"""The site flattened into arrays indexed by sensor number, for the numeric core."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.kinds import KIND_CODES, PHYSICAL_RANGE
from detectors.thresholds import ThresholdParams
from rules.site import DeviceSpec, SensorSpec, Site


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class SensorTable:
    """Sensor metadata as arrays; position ``i`` is sensor number ``i`` everywhere in the pipeline."""

    site: Site
    sensors: tuple[SensorSpec, ...]
    devices: tuple[DeviceSpec, ...]
    index: dict[str, int]  # sensor id -> number
    by_device_name: dict[tuple[str, str], int]  # (device id, SenML name) -> number
    device_of: NDArray[np.int32]  # sensor number -> device number
    kind: NDArray[np.int8]
    zone: tuple[str, ...]  # zone id per sensor
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    report_interval_s: NDArray[np.float64]
    range_min: NDArray[np.float64]
    range_max: NDArray[np.float64]
    thresholds: ThresholdParams

    def __len__(self) -> int:
        return len(self.sensors)

    @classmethod
    def build(cls, site: Site) -> SensorTable:
        """Number the site's sensors in file order."""
        sensors: list[SensorSpec] = []
        device_of: list[int] = []
        sensor_device: list[DeviceSpec] = []
        for d_index, device in enumerate(site.devices):
            for sensor in device.sensors:
                sensors.append(sensor)
                device_of.append(d_index)
                sensor_device.append(device)
        high = np.array([_nan_if_none(s.levels.high) for s in sensors], np.float64)
        return cls(
            site=site,
            sensors=tuple(sensors),
            devices=tuple(site.devices),
            index={s.id: i for i, s in enumerate(sensors)},
            by_device_name={(d.id, s.name): i for i, (s, d) in enumerate(zip(sensors, sensor_device, strict=True))},
            device_of=np.array(device_of, np.int32),
            kind=np.array([KIND_CODES[s.kind] for s in sensors], np.int8),
            zone=tuple(d.zone for d in sensor_device),
            lat=np.array([d.position.lat for d in sensor_device], np.float64),
            lon=np.array([d.position.lon for d in sensor_device], np.float64),
            report_interval_s=np.array([d.report_interval_s for d in sensor_device], np.float64),
            range_min=np.array([PHYSICAL_RANGE[s.kind][0] for s in sensors], np.float64),
            range_max=np.array([min(PHYSICAL_RANGE[s.kind][1], s.full_scale or np.inf) for s in sensors], np.float64),
            thresholds=ThresholdParams(
                high=high,
                high_high=np.array([_nan_if_none(s.levels.high_high) for s in sensors], np.float64),
                low=np.array([_nan_if_none(s.levels.low) for s in sensors], np.float64),
                deadband=np.array([s.deadband for s in sensors], np.float64),
                on_delay_s=np.array([s.on_delay_s for s in sensors], np.float64),
                off_delay_s=np.array([s.off_delay_s for s in sensors], np.float64),
            ),
        )
