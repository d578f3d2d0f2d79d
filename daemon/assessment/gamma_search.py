"""Live search for a gamma point source: while a gamma station has a rise without rain (the core's suspicious or
slow-rise class), locate the source from every station's level against its own background.

The levels and backgrounds are the detection core's own (detectors/gamma.py): the background is learned only
while a station is quiet, so during a rise it is the level before it; the level is the core's short EWMA of the
readings. The search itself is ``detectors.radiation_source`` (inverse square with air attenuation). Stations
without a learned background yet are left out; a station that sees nothing is evidence, as in the gas estimate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from daemon.assessment.runner import page_sensors
from daemon.assessment.threat_zones import region_shape
from daemon.chain.pipeline import AlarmFlow
from detectors.gamma import RISE_SLOW, RISE_SUSPICIOUS, WARMUP_READINGS, GammaDetector
from detectors.kinds import KIND_CODES, Kind
from detectors.plume import local_metres
from detectors.radiation_source import GammaSourceEstimate, estimate_gamma_source
from rules.sensor_table import SensorTable

UPDATE_INTERVAL_S = 60.0
GRID_MARGIN_M = 500.0  # a source can lie beyond the outermost station
GRID_STEP_M = 25.0  # finer than the gas grid: the dose falls with the square of the distance
LOCATE_STATIONS = 3
DRY_RISES = (RISE_SUSPICIOUS, RISE_SLOW)  # the core's classes for a rise that rain does not explain


@dataclass(frozen=True, slots=True)
class GammaSearchResult:
    """One search: the estimate, its 95 % area as a shape (site metres), and the stations it used."""

    time_s: float
    estimate: GammaSourceEstimate
    area: BaseGeometry
    rising: tuple[int, ...]  # gamma sensors with a dry rise on
    stations: tuple[int, ...]  # gamma sensors with a learned background, used in the fit
    compute_s: float

    @property
    def located(self) -> bool:
        """Position and strength are three unknowns: fewer than three stations seeing it leave a search area."""
        return self.estimate.stations_seeing >= LOCATE_STATIONS

    def summary(self) -> str:
        """One line: where, how strong, from how many stations (an estimate)."""
        e = self.estimate
        if not self.located:
            return (
                f"gamma source not located: {e.stations_seeing} of {len(self.stations)} stations see it; "
                f"search area {self.area.area / 1e4:.1f} ha around them (estimate)"
            )
        return (
            f"gamma source near {e.east_m:.0f} m E / {e.north_m:.0f} m N of the site centre, "
            f"~{e.strength_nsv_h_at_1m:.3g} nSv/h at 1 m, seen by {e.stations_seeing} of {len(self.stations)} "
            f"stations (estimate, search area {self.area.area / 1e4:.1f} ha)"
        )


class GammaSearch:
    """Re-runs the point-source search once a minute while a dry gamma rise is on."""

    def __init__(self, table: SensorTable, flow: AlarmFlow, gamma: GammaDetector) -> None:
        self.table = table
        self.flow = flow
        self.gamma = gamma
        site = table.site
        self.origin = (site.center.lat, site.center.lon)
        self.stations = np.flatnonzero(table.kind == KIND_CODES[Kind.GAMMA_DOSE_RATE])
        lat = np.array([table.devices[int(table.device_of[i])].position.lat for i in self.stations.tolist()])
        lon = np.array([table.devices[int(table.device_of[i])].position.lon for i in self.stations.tolist()])
        self.east, self.north = local_metres(lat, lon, *self.origin)
        self.cells_east = np.zeros(0)
        self.cells_north = np.zeros(0)
        if self.stations.shape[0]:
            east = np.arange(self.east.min() - GRID_MARGIN_M, self.east.max() + GRID_MARGIN_M, GRID_STEP_M)
            north = np.arange(self.north.min() - GRID_MARGIN_M, self.north.max() + GRID_MARGIN_M, GRID_STEP_M)
            ee, nn = np.meshgrid(east, north)
            self.cells_east, self.cells_north = ee.ravel(), nn.ravel()
        self.latest: GammaSearchResult | None = None
        self._last_run = -math.inf

    def page_summary(self, alarm_keys: Sequence[str], incident_id: str | None = None) -> str:
        """The search's line for a page about alarms or an incident that hold a dry gamma rise; else empty."""
        result = self.latest
        if result is None or not page_sensors(self.table, self.flow, alarm_keys, incident_id) & set(result.rising):
            return ""
        return result.summary()

    def rising(self) -> tuple[int, ...]:
        """Gamma sensors with a rise that rain does not explain."""
        kind = KIND_CODES[Kind.GAMMA_DOSE_RATE]
        on = {s for name, s in self.flow.state.conditions_on if name in DRY_RISES and self.table.kind[s] == kind}
        return tuple(sorted(on))

    def tick(self, now: float) -> None:
        """Search once per ``UPDATE_INTERVAL_S`` while a dry rise is on; forget the result when none is."""
        snapshot = self._due(now)
        if snapshot is not None:
            self.latest = self.search(now, *snapshot)

    async def tick_in_thread(self, now: float) -> None:
        """``tick`` with the grid search in a worker thread; the core's state is copied here, on the loop."""
        snapshot = self._due(now)
        if snapshot is not None:
            self.latest = await asyncio.to_thread(self.search, now, *snapshot)

    def _due(self, now: float) -> tuple[tuple[int, ...], NDArray[np.float64], NDArray[np.float64]] | None:
        """The dry rises and a copy of the stations' levels and backgrounds (NaN where none is learned yet), or
        None when no search is due (and no result is kept when no dry rise is on)."""
        if now - self._last_run < UPDATE_INTERVAL_S:
            return None
        self._last_run = now
        rising = self.rising()
        if not rising:
            self.latest = None
            return None
        g = self.gamma
        learned = g.learned[self.stations] >= WARMUP_READINGS
        level = np.where(learned, g.smooth[self.stations], np.nan)
        return rising, level, g.background[self.stations].copy()

    def search(
        self, now: float, rising: tuple[int, ...], level: NDArray[np.float64], background: NDArray[np.float64]
    ) -> GammaSearchResult | None:
        """The search from the stations' levels and backgrounds (None when no station is usable)."""
        started = time.thread_time()
        sensors = self.stations
        usable = np.isfinite(level) & np.isfinite(background)
        if not usable.any():
            return None
        estimate = estimate_gamma_source(
            self.east[usable], self.north[usable], level[usable], background[usable],
            self.cells_east, self.cells_north, GRID_STEP_M,
        )  # fmt: skip
        area = region_shape(estimate.area_east_m, estimate.area_north_m, estimate.cell_step_m, [])
        return GammaSearchResult(
            now, estimate, area, rising, tuple(sensors[usable].tolist()), time.thread_time() - started
        )
