"""The site flattened into arrays indexed by sensor number, for the numeric core."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from detectors.config import HAZARD_KINDS, CoreConfig
from detectors.geofence import distance_m
from detectors.kinds import KIND_CODES, PHYSICAL_RANGE, Kind
from detectors.thresholds import ThresholdParams
from rules.site import DeviceSpec, SensorSpec, Site

# Gamma stations closer than this are neighbours for the rain/neighbour classification of a rise.
NEIGHBOUR_RADIUS_M = 10_000.0
# Rain gauges a gamma station consults: every one within this radius (its own rain sensor first). Convective rain
# cells are a few km across; a gauge 15 km away still sees the same front within minutes.
RAIN_RADIUS_M = 15_000.0
# A weather station this close stands for the rain *rate* at a gamma station without a rain sensor of its own
# (hazwatch default). The rate, unlike the rain's arrival, varies within a convective cell: 2 km is a fraction of a
# cell, and since the washout ceiling goes as the square root of the rate (detectors/washout.py), a gauge seeing half
# the station's rate still allows 70 % of what the station's rain can do. Farther gauges say only that it rains.
RAIN_RATE_RADIUS_M = 2_000.0


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
            # A hazard detector's full scale is not the end of its valid range: a reading there is censored (the
            # true value is at least full scale), which the detection core treats as an alarm, never as bad data.
            range_max=np.array(
                [
                    PHYSICAL_RANGE[s.kind][1]
                    if s.kind in HAZARD_KINDS
                    else min(PHYSICAL_RANGE[s.kind][1], s.full_scale or np.inf)
                    for s in sensors
                ],
                np.float64,
            ),
            thresholds=ThresholdParams(
                high=high,
                high_high=np.array([_nan_if_none(s.levels.high_high) for s in sensors], np.float64),
                low=np.array([_nan_if_none(s.levels.low) for s in sensors], np.float64),
                deadband=np.array([s.deadband for s in sensors], np.float64),
                on_delay_s=np.array([s.on_delay_s for s in sensors], np.float64),
                off_delay_s=np.array([s.off_delay_s for s in sensors], np.float64),
            ),
        )

    def core_config(
        self, neighbour_radius_m: float = NEIGHBOUR_RADIUS_M, rain_radius_m: float = RAIN_RADIUS_M
    ) -> CoreConfig:
        """The detection core's configuration: kinds, levels, gases, sealed sources, geofences, neighbours, gauges."""
        kinds = [s.kind for s in self.sensors]
        n = len(kinds)
        config = CoreConfig.build(
            kinds,
            self.device_of,
            substances=[s.substance for s in self.sensors],
            report_interval_s=self.report_interval_s,
        )
        full_scale = np.array([_nan_if_none(s.full_scale) for s in self.sensors], np.float64)
        gamma = np.flatnonzero(self.kind == KIND_CODES[Kind.GAMMA_DOSE_RATE])
        rain = np.flatnonzero(self.kind == KIND_CODES[Kind.RAIN_RATE])
        rain_sensor = np.full(n, -1, np.int32)
        rate_sensor = config.rain_rate_sensor.copy()  # own device's rain sensor, from CoreConfig.build
        offsets = np.zeros(n + 1, np.int32)
        neighbours: list[list[int]] = [[] for _ in range(n)]
        gauges: list[list[int]] = [[] for _ in range(n)]
        for i in gamma:
            if rain.shape[0]:
                d = distance_m(self.lat[rain], self.lon[rain], self.lat[i], self.lon[i])
                rain_sensor[i] = rain[int(np.argmin(d))]
                own = rain[self.device_of[rain] == self.device_of[i]]
                near = rain[np.argsort(d, kind="stable")][np.sort(d) <= rain_radius_m]
                gauges[i] = [int(g) for g in own] + [int(g) for g in near if g not in own]
                if rate_sensor[i] < 0 and float(np.min(d)) <= RAIN_RATE_RADIUS_M:
                    rate_sensor[i] = rain_sensor[i]
            d = distance_m(self.lat[gamma], self.lon[gamma], self.lat[i], self.lon[i])
            neighbours[i] = [int(j) for j in gamma[(d <= neighbour_radius_m) & (gamma != i)]]
        offsets[1:] = np.cumsum([len(x) for x in neighbours])
        n_dev = len(self.devices)
        fence_lat, fence_lon, fence_r = (np.full(n_dev, np.nan) for _ in range(3))
        poly_offsets = np.zeros(n_dev + 1, np.int32)
        poly_lat: list[float] = []
        poly_lon: list[float] = []
        source_sensor: list[int] = []
        baseline: list[float] = []
        category: list[int] = []
        for d_index, device in enumerate(self.devices):
            source = device.source
            fence = source.geofence if source is not None else None
            if fence is not None and fence.center is not None and fence.radius_m is not None:
                fence_lat[d_index], fence_lon[d_index], fence_r[d_index] = (
                    fence.center.lat,
                    fence.center.lon,
                    fence.radius_m,
                )
            if fence is not None and fence.polygon is not None:
                poly_lat += [p.lat for p in fence.polygon]
                poly_lon += [p.lon for p in fence.polygon]
            poly_offsets[d_index + 1] = len(poly_lat)
            if source is not None:
                for sensor in device.sensors:
                    if sensor.kind is Kind.SOURCE_DOSE_RATE:
                        source_sensor.append(self.index[sensor.id])
                        baseline.append(source.baseline_dose_rate_nsv_h)
                        category.append(source.category)
        config = replace(
            config,
            lat=self.lat,
            lon=self.lon,
            full_scale=full_scale,
            thresholds=self.thresholds,
            rain_sensor=rain_sensor,
            rain_rate_sensor=rate_sensor,
            neighbour_offsets=offsets,
            neighbour_index=np.array([j for x in neighbours for j in x], np.int32),
            rain_gauge_offsets=np.concatenate([[0], np.cumsum([len(x) for x in gauges])]).astype(np.int32),
            rain_gauge_index=np.array([g for x in gauges for g in x], np.int32),
            geofence_lat=fence_lat,
            geofence_lon=fence_lon,
            geofence_radius_m=fence_r,
            polygon_offsets=poly_offsets,
            polygon_lat=np.array(poly_lat, np.float64),
            polygon_lon=np.array(poly_lon, np.float64),
        )
        if source_sensor:
            config = config.with_sources(source_sensor, baseline, category)
        # Source monitors without a dose channel (GNSS-only trackers) are still source devices.
        is_source = config.device_is_source.copy()
        is_source[[i for i, d in enumerate(self.devices) if d.source is not None]] = True
        return replace(config, device_is_source=is_source)
