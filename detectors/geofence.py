"""Geofence of mobile sealed sources: GNSS fixes joined from latitude/longitude/HDOP channels, tested against
a circle or polygon. Fixes with poor HDOP are ignored; the alarm needs consecutive fixes outside."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import HDOP, LATITUDE, LONGITUDE, CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.streams import consecutive, debounce

GEOFENCE_EXIT = "source.geofence_exit"

FIXES_OUTSIDE = 2  # consecutive good fixes outside before the alarm
METRES_PER_DEGREE = 111_195.0  # mean Earth radius 6,371 km


def distance_m(
    lat: NDArray[np.float64], lon: NDArray[np.float64], lat0: NDArray[np.float64], lon0: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Approximate ground distance (equirectangular; good to well under 1 % within a few kilometres)."""
    dy = (lat - lat0) * METRES_PER_DEGREE
    dx = (lon - lon0) * METRES_PER_DEGREE * np.cos(np.radians(lat0))
    return np.hypot(dx, dy)


def inside_polygons(
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    start: NDArray[np.int32],
    stop: NDArray[np.int32],
    poly_lat: NDArray[np.float64],
    poly_lon: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Even-odd ray test of each point against its own polygon ``poly[start:stop]`` (vectorised over points)."""
    inside = np.zeros(lat.shape[0], np.bool_)
    sides = stop - start
    for k in range(int(sides.max()) if sides.shape[0] else 0):
        has = k < sides
        i = np.where(has, start + k, 0)
        j = np.where(has, start + (k + 1) % np.maximum(sides, 1), 0)
        yi, yj = poly_lat[i], poly_lat[j]
        xi, xj = poly_lon[i], poly_lon[j]
        crosses = (yi > lat) != (yj > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = xi + (lat - yi) * (xj - xi) / (yj - yi)
        inside ^= has & crosses & (lon < x_at)
    return inside


@dataclass
class GeofenceDetector:
    """Joins GNSS channels into fixes per device and raises ``source.geofence_exit``."""

    config: CoreConfig
    fenced: NDArray[np.bool_] = field(init=False)  # per device
    has_hdop: NDArray[np.bool_] = field(init=False)  # per device
    last_time: NDArray[np.float64] = field(init=False)  # (n_devices, 3): lat, lon, hdop reading times
    last_value: NDArray[np.float64] = field(init=False)
    judged_time: NDArray[np.float64] = field(init=False)  # time of the last fix judged
    outside_count: NDArray[np.int32] = field(init=False)
    state: HysteresisState = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        n_dev = c.n_devices
        polygon = np.diff(c.polygon_offsets) >= 3
        self.fenced = (np.isfinite(c.geofence_radius_m) | polygon) & c.device_is_source
        self.has_hdop = np.zeros(n_dev, np.bool_)
        self.has_hdop[c.device[c.kind == HDOP]] = True
        self.last_time = np.full((n_dev, 3), np.nan)
        self.last_value = np.full((n_dev, 3), np.nan)
        self.judged_time = np.full(n_dev, np.nan)
        self.outside_count = np.zeros(n_dev, np.int32)
        self.state = HysteresisState.new(n_dev)

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (self.last_time, self.last_value, self.judged_time, self.outside_count)
        return sum(a.nbytes for a in arrays) + self.state.nbytes

    def process(
        self, sensor: NDArray[np.int32], time: NDArray[np.float64], value: NDArray[np.float64], valid: NDArray[np.bool_]
    ) -> ConditionEvents:
        """Return geofence transitions for the GNSS readings among the given readings."""
        c = self.config
        kind = c.kind[sensor]
        component = np.select([kind == LATITUDE, kind == LONGITUDE, kind == HDOP], [0, 1, 2], -1)
        device = c.device[sensor]
        keep = (component >= 0) & self.fenced[device] & valid
        if not keep.any():
            return ConditionEvents.empty(GEOFENCE_EXIT)
        device, component, t, v = device[keep], component[keep], time[keep], value[keep]
        # Two stable sorts (time, then device as 16-bit keys for the radix sort) equal a lexsort, faster.
        by_time = np.argsort(t, kind="stable")
        key = device[by_time].astype(np.uint16) if int(device.max()) < 1 << 16 else device[by_time]
        order = by_time[np.argsort(key, kind="stable")]
        device, component, t, v = device[order], component[order], t[order], v[order]
        stream = SortedBatch.from_sorted(order, device.astype(np.int32), t)
        n = t.shape[0]
        idx = np.arange(n)
        first = stream.segment_first
        comp_time = np.empty((n, 3))
        comp_value = np.empty((n, 3))
        for k in range(3):
            # Latest reading of component k at or before each reading of the same device.
            last = np.maximum.accumulate(np.where(component == k, idx, -1))
            found = last >= first
            comp_time[:, k] = np.where(found, t[np.where(found, last, 0)], self.last_time[device, k])
            comp_value[:, k] = np.where(found, v[np.where(found, last, 0)], self.last_value[device, k])
        complete = (comp_time[:, 0] == t) & (comp_time[:, 1] == t) & (~self.has_hdop[device] | (comp_time[:, 2] == t))
        # Judge each fix once: when its last component arrives.
        before = np.empty(n, np.bool_)
        before[1:] = complete[:-1] & (t[1:] == t[:-1])
        seg_start = first == idx
        before[seg_start] = self.judged_time[device[seg_start]] == t[seg_start]
        fix = complete & ~before
        ends = stream.is_last
        self.last_time[device[ends]] = comp_time[ends]
        self.last_value[device[ends]] = comp_value[ends]
        judged_end = np.where(complete, t, self.judged_time[device])
        self.judged_time[device[ends]] = judged_end[ends]
        if not fix.any():
            return ConditionEvents.empty(GEOFENCE_EXIT)

        fixes = stream.subset(fix)
        d = fixes.sensor
        lat, lon, hdop = comp_value[fix, 0], comp_value[fix, 1], comp_value[fix, 2]
        good = ~self.has_hdop[d] | (hdop <= c.hdop_max[d])
        outside = np.zeros(d.shape[0], np.bool_)
        dist = np.full(d.shape[0], np.nan)
        circle = np.isfinite(c.geofence_radius_m[d])
        if circle.any():
            dist[circle] = distance_m(lat[circle], lon[circle], c.geofence_lat[d[circle]], c.geofence_lon[d[circle]])
            outside[circle] = dist[circle] > c.geofence_radius_m[d[circle]]
        polygon = ~circle
        if polygon.any():
            dp = d[polygon]
            inside = inside_polygons(
                lat[polygon],
                lon[polygon],
                c.polygon_offsets[dp],
                c.polygon_offsets[dp + 1],
                c.polygon_lat,
                c.polygon_lon,
            )
            outside[polygon] = ~inside
        hit = good & outside
        reset = good & ~outside
        count = consecutive(fixes, hit, reset, self.outside_count)
        zero = np.zeros(c.n_devices)
        return debounce(
            GEOFENCE_EXIT,
            fixes,
            hit & (count >= FIXES_OUTSIDE),
            reset,
            zero,
            zero,
            self.state,
            dist,
            np.where(circle, c.geofence_radius_m[d], np.nan),
            c.device_first_sensor,
        )
