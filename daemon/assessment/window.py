"""The last half hour of gas, wind, solar-radiation and cloud readings, kept for the source-term estimator."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.kinds import KIND_CODES, Kind
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable

KEEP_S = 1800.0
# sensor index, time, value, quality flags
Readings = tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.float64], NDArray[np.uint16]]

NO_READINGS: Readings = (np.empty(0, np.int32), np.empty(0), np.empty(0), np.empty(0, np.uint16))


class ReadingWindow:
    """Gas, wind, solar-radiation and cloud-cover readings of the last ``keep_s`` seconds, as appended arrays."""

    def __init__(self, table: SensorTable, keep_s: float = KEEP_S) -> None:
        self.keep_s = keep_s
        codes = [
            KIND_CODES[kind]
            for kind in (Kind.GAS, Kind.WIND_SPEED, Kind.WIND_DIRECTION, Kind.SOLAR_RADIATION, Kind.CLOUD_COVER)
        ]
        self._wanted = np.isin(table.kind, codes)
        self._parts: list[tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.float64], NDArray[np.uint16]]] = []

    def add(self, batch: ReadingBatch) -> None:
        """Keep the batch's gas and weather readings."""
        keep = self._wanted[batch.sensor]
        if keep.any():
            self._parts.append((batch.sensor[keep], batch.time[keep], batch.value[keep], batch.flags[keep]))

    def prune(self, now: float) -> None:
        """Drop the kept parts that hold nothing from the last ``keep_s`` before ``now``, without joining the rest.

        What ``readings`` later returns is the same (its cutoff only moves on): a tick with no gas alarm keeps the
        memory bounded at the cost of one maximum per part, not a copy of the half hour."""
        cutoff = now - self.keep_s
        self._parts = [part for part in self._parts if part[1].shape[0] and float(part[1].max()) >= cutoff]

    def readings(self, now: float) -> Readings:
        """Every kept reading from the last ``keep_s`` before ``now`` (and prunes older ones)."""
        if not self._parts:
            return NO_READINGS
        sensor, time, value, flags = (np.concatenate(p) for p in zip(*self._parts, strict=True))
        recent = time >= now - self.keep_s
        kept = (sensor[recent], time[recent], value[recent], flags[recent])
        self._parts = [kept]  # nothing writes to them: the caller reads the same arrays
        return kept
