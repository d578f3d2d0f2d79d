"""Live assessment of a toxic release: every minute while gas alarms are on for a substance, estimate the source,
draw the threat zones, find the receptors in them, and raise the assessment conditions the plan triggers use."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from daemon.assessment.area import EVERYWHERE, Area
from daemon.assessment.mixture_zones import (
    EXPECTED_PROBABILITY,
    MixtureWind,
    assess_receptors_mixture,
    probability_zones,
)
from daemon.assessment.threat_zones import (
    ADVICE_LABEL,
    DEFAULT_AIR_CHANGES_PER_HOUR,
    DEFAULT_EVACUATION_MIN,
    PlumeState,
    ReceptorArea,
    ReceptorImpact,
    ZoneLevel,
    region_shape,
    zone_levels,
)
from daemon.assessment.triggers import TriggerCheck, check_triggers
from daemon.assessment.window import NO_READINGS, Readings, ReadingWindow
from daemon.chain.pipeline import AlarmFlow
from detectors.conditions import ConditionEvents
from detectors.estimation_bins import bin_edges, bin_gas, bin_wind, direction_effective_samples, direction_sd_deg
from detectors.kinds import KIND_CODES, Kind
from detectors.plume import local_metres
from detectors.readings import INVALID_MASK, ReadingBatch
from detectors.source_estimation import (
    BinnedWind,
    Candidate,
    EstimateStatus,
    GasObservations,
    SearchGrid,
    SourceEstimate,
    estimate_source,
)
from detectors.stability import assessment_stability, class_weights
from detectors.substances import SUBSTANCES
from rules.condition_names import ASSESSMENT_AEGL2_RESIDENTIAL, ASSESSMENT_AEGL3_SCHOOL_HOSPITAL
from rules.sensor_table import SensorTable

log = logging.getLogger(__name__)


class MissingInputError(ValueError):
    """The network lacks what an estimate needs (e.g. no wind reading): said once in the log, not a traceback."""


UPDATE_INTERVAL_S = 60.0
BIN_S = 60.0
N_BINS = 25  # 25 minutes of 1-minute bins
GRID_MARGIN_M = 300.0
GRID_STEP_M = 200.0
NOISE_FLOOR_OF_FULL_SCALE = 0.005  # electrochemical cells: resolution and zero drift about 0.5 % of full scale
AEGL2_RESIDENTIAL = ASSESSMENT_AEGL2_RESIDENTIAL
AEGL3_SCHOOL_HOSPITAL = ASSESSMENT_AEGL3_SCHOOL_HOSPITAL
ASSESSMENT_CONDITIONS = (AEGL2_RESIDENTIAL, AEGL3_SCHOOL_HOSPITAL)
# The class (detectors.stability.assessment_stability): Turner's table with a station's cloud cover or solar
# radiation when one reports them, and always at night; by day without them the measured wind-direction spread
# (sigma-theta method) when a station gave at least this many directions in the last 15 minutes (EPA-454/R-99-005
# recommends 15-minute statistics), else Turner with the cloud cover unknown.
SIGMA_THETA_WINDOW_S = 900.0
SIGMA_THETA_BINS = 15
SIGMA_THETA_MIN_READINGS = 10
HISTORY_LENGTH = 120  # assessments kept per gas (two hours of minutes) for drill reports


@dataclass(frozen=True, slots=True)
class Assessment:
    """One substance's latest assessment, in site metres (the web layer turns it into GeoJSON)."""

    substance: str
    time_s: float
    estimate: SourceEstimate
    plume: PlumeState | None
    levels: tuple[ZoneLevel, ...]
    expected: dict[str, BaseGeometry]
    possible: dict[str, BaseGeometry]
    region: BaseGeometry
    receptors: tuple[ReceptorImpact, ...]
    sensors: tuple[int, ...]  # the substance's gas sensors
    compute_s: float
    receptor_areas: tuple[ReceptorArea, ...] = ()
    loudest_sensor: int | None = None  # the gas sensor with the highest 1-minute mean in the window
    triggers: dict[str, TriggerCheck] = field(default_factory=dict)  # per assessment condition: holds, and why

    def summary(self) -> str:
        """One line for a page: source, rate, people in the AEGL-2 and AEGL-3 zones."""
        e = self.estimate
        if e.status is EstimateStatus.NOT_ENOUGH_INFORMATION:
            return f"{self.substance}: source not yet known ({e.reason})"
        where = _where(e, f"{e.east_m:.0f} m E / {e.north_m:.0f} m N")
        people = {name: sum(r.people_by_zone.get(name, 0) for r in self.receptors) for name in ("AEGL-3", "AEGL-2")}
        return (
            f"{self.substance} from {where} ~{e.rate_g_s:.0f} g/s{_rate_caveat(e)} "
            f"({e.rate_interval_g_s[0]:.0f}-{e.rate_interval_g_s[1]:.0f}); "
            f"AEGL-3 {people['AEGL-3']} people, AEGL-2 {people['AEGL-2']} people (estimate, advice only)"
        )

    def page_line(self) -> str:
        """What a page says about the release: substance, source, people per zone, the receptors in the zones and
        the advice for each, labelled as advice (SMS and voice read it out, so it stays one line)."""
        e = self.estimate
        if e.status is EstimateStatus.NOT_ENOUGH_INFORMATION:
            return f"{self.substance}: source not yet known, {e.detectors_seeing} detector(s) see it ({ADVICE_LABEL})"
        where = _where(e, f"{e.east_m:.0f} m E / {e.north_m:.0f} m N of the site centre")
        parts = [f"{self.substance} from {where} ~{e.rate_g_s:.3g} g/s{_rate_caveat(e)}"]
        for name in ("AEGL-3", "AEGL-2"):
            inside = [r for r in self.receptors if r.people_by_zone.get(name, 0) > 0]
            people = sum(r.people_by_zone[name] for r in inside)
            places = ", ".join(r.name for r in inside) or "no receptor"
            parts.append(f"{name} zone: {people} people ({places})")
        advice = [f"{r.advice} {r.name}" for r in self.receptors if r.expected_zone or r.possible_zone]
        if advice:
            parts.append("recommended: " + ", ".join(advice))
        return "; ".join(parts) + f" ({ADVICE_LABEL})"


def _rate_caveat(e: SourceEstimate) -> str:
    """What a line says beside the rate when it is a guess (SourceEstimate.rate_uncertain): only one detector sees
    the gas, or every one that does reads full scale (then the rate is a lower bound)."""
    if not e.rate_uncertain:
        return ""
    interval = f"95 % {e.rate_interval_g_s[0]:.3g}-{e.rate_interval_g_s[1]:.3g} g/s"
    if e.rate_lower_bound:
        return f", rate is a lower bound (detectors at full scale; {interval})"
    return f", rate uncertain (one detector; {interval})"


def _latest(stations: np.ndarray, sensor: np.ndarray, when: np.ndarray, value: np.ndarray, now: float) -> float | None:
    """The median over ``stations`` of each one's latest reading in the last 15 minutes, None when none reported."""
    recent = (when > now - SIGMA_THETA_WINDOW_S) & (when <= now)
    latest = []
    for station in stations.tolist():
        mine = np.flatnonzero(recent & (sensor == station))
        if mine.shape[0]:
            latest.append(float(value[mine[np.argmax(when[mine])]]))
    return float(np.median(latest)) if latest else None


def _where(e: SourceEstimate, place: str) -> str:
    """The source as a page says it: the located candidate, or the candidates with their probabilities."""
    if e.status is EstimateStatus.CANDIDATES:
        top = sorted(e.candidates, key=lambda c: -c.probability)[:3]
        return "one of " + ", ".join(f"{c.id} ({c.probability:.0%})" for c in top)
    return e.best_candidate or place


def page_sensors(table: SensorTable, flow: AlarmFlow, alarm_keys: Sequence[str], incident_id: str | None) -> set[int]:
    """The sensors a page is about: those named by its alarm keys (``rule@sensor``) and its incident's alarms."""
    index = table.index
    sensors = {index[key.split("@", 1)[-1]] for key in alarm_keys if key.split("@", 1)[-1] in index}
    incidents = flow.state.incidents
    if incident_id is not None and incident_id in incidents.incidents:
        views = incidents.views
        sensors |= {views[a].sensor for a in incidents.incident(incident_id).alarm_ids if a in views}
    return sensors


class AssessmentRunner:
    """Keeps the readings it needs and re-assesses each substance with gas conditions on, once a minute."""

    def __init__(self, table: SensorTable, flow: AlarmFlow) -> None:
        self.table = table
        self.flow = flow
        self.window = ReadingWindow(table)
        site = table.site
        self.origin = (site.center.lat, site.center.lon)
        self.kind = table.kind
        self.gas = np.flatnonzero(table.kind == KIND_CODES[Kind.GAS])
        self.wind_speed = np.flatnonzero(table.kind == KIND_CODES[Kind.WIND_SPEED])
        self.wind_dir = np.flatnonzero(table.kind == KIND_CODES[Kind.WIND_DIRECTION])
        self.solar = np.flatnonzero(table.kind == KIND_CODES[Kind.SOLAR_RADIATION])
        self.cloud = np.flatnonzero(table.kind == KIND_CODES[Kind.CLOUD_COVER])
        self._weather = np.zeros(len(table), np.bool_)  # the sensors ``_wind`` reads
        self._weather[np.concatenate([self.wind_speed, self.wind_dir, self.solar, self.cloud])] = True
        lat = np.array([table.devices[int(table.device_of[i])].position.lat for i in range(len(table))])
        lon = np.array([table.devices[int(table.device_of[i])].position.lon for i in range(len(table))])
        self.east, self.north = local_metres(lat, lon, *self.origin)
        self.candidates: list[tuple[Candidate, list[str]]] = []
        for source in site.sources:
            e, n = local_metres(source.position.lat, source.position.lon, *self.origin)
            self.candidates.append(
                (Candidate(source.id, float(e), float(n), source.release_height_m), source.substances)
            )
        self.receptors: list[ReceptorArea] = []
        for r in site.receptors:
            e, n = local_metres(
                np.array([p.lat for p in r.polygon]), np.array([p.lon for p in r.polygon]), *self.origin
            )
            self.receptors.append(
                ReceptorArea(
                    r.id, r.name, r.type.value, Polygon(np.column_stack([e, n])), r.population,
                    r.air_changes_per_hour or DEFAULT_AIR_CHANGES_PER_HOUR[r.type.value],
                    r.evacuation_time_min or DEFAULT_EVACUATION_MIN[r.type.value],
                )
            )  # fmt: skip
        self.candidate_east = np.array([c.east_m for c, _ in self.candidates], np.float64)
        self.candidate_north = np.array([c.north_m for c, _ in self.candidates], np.float64)
        xs = np.concatenate([self.east[self.gas], self.candidate_east])
        ys = np.concatenate([self.north[self.gas], self.candidate_north])
        self.grid = SearchGrid(
            float(xs.min()) - GRID_MARGIN_M, float(xs.max()) + GRID_MARGIN_M,
            float(ys.min()) - GRID_MARGIN_M, float(ys.max()) + GRID_MARGIN_M, GRID_STEP_M,
        )  # fmt: skip
        self.assessments: dict[str, Assessment] = {}
        self.history: dict[str, deque[Assessment]] = {}  # the last two hours of assessments per gas
        self._last_run = -math.inf
        self._missing: dict[str, str] = {}  # substance -> what the last estimate lacked (logged when it changes)
        self._raised: dict[tuple[str, str], int] = {}  # (condition, substance) -> sensor it was raised on

    def page_summary(self, alarm_keys: Sequence[str], incident_id: str | None = None) -> str:
        """The assessment lines for a page about the alarms ``alarm_keys`` (``rule@sensor``) and the incident
        ``incident_id``'s alarms: one per gas of those alarms that is alarmed now and assessed; empty when none."""
        sensors = page_sensors(self.table, self.flow, alarm_keys, incident_id)
        alarmed = set(self.alarmed_substances())
        wanted = sorted({s for i in sensors if (s := self.table.sensors[i].substance) in alarmed})
        return "\n".join(self.assessments[s].page_line() for s in wanted if s in self.assessments)

    def on_batch(self, batch: ReadingBatch) -> None:
        """Keep the readings the estimator needs."""
        self.window.add(batch)

    def alarmed_substances(self) -> list[str]:
        """Substances with a gas condition on at any of their sensors."""
        out: set[str] = set()
        for name, sensor in self.flow.state.conditions_on:
            if name.startswith("gas.") and self.kind[sensor] == KIND_CODES[Kind.GAS]:
                substance = self.table.sensors[sensor].substance
                if substance in SUBSTANCES:
                    out.add(substance)
        return sorted(out)

    def quiet_until(self) -> float:
        """Ticks before this time do nothing (a replay may hold them): the next update when there is something to
        assess, never when there is nothing (``idle``)."""
        if self.idle():
            return math.inf
        return self._last_run + UPDATE_INTERVAL_S

    def idle(self) -> bool:
        """Whether a ``tick`` now would only keep the schedule: no gas alarm to assess, no assessment condition on,
        nothing restored from a checkpoint to take over (a replay holds such ticks)."""
        return not self._raised and self._last_run > -math.inf and not self.alarmed_substances()

    def tick(self, now: float) -> None:
        """Re-assess once per ``UPDATE_INTERVAL_S``; raise or clear the assessment conditions."""
        if not self._due(now):
            return
        substances = self.alarmed_substances()
        self._keep(self._assess_all(substances, self._window_readings(substances, now), now))
        self._update_conditions(now, substances)

    async def tick_in_thread(self, now: float) -> None:
        """``tick`` with the numeric work in a worker thread, so the event loop keeps receiving meanwhile.

        The alarm state is read and changed only here, on the loop; the thread gets a snapshot of the readings.
        """
        if not self._due(now):
            return
        substances = self.alarmed_substances()
        readings = self._window_readings(substances, now)
        self._keep(await asyncio.to_thread(self._assess_all, substances, readings, now))
        self._update_conditions(now, substances)

    def _window_readings(self, substances: list[str], now: float) -> Readings:
        """The kept readings when there is a substance to assess; otherwise nothing reads them: only prune."""
        if substances:
            return self.window.readings(now)
        self.window.prune(now)
        return NO_READINGS

    def _keep(self, results: dict[str, Assessment]) -> None:
        self.assessments.update(results)
        for substance, assessment in results.items():
            self.history.setdefault(substance, deque(maxlen=HISTORY_LENGTH)).append(assessment)

    def _due(self, now: float) -> bool:
        if now - self._last_run < UPDATE_INTERVAL_S:
            return False
        if self._last_run == -math.inf:
            self._adopt_restored_conditions()
        self._last_run = now
        return True

    def _assess_all(self, substances: list[str], readings: Readings, now: float) -> dict[str, Assessment]:
        out: dict[str, Assessment] = {}
        for substance in substances:
            try:
                out[substance] = self.assess(substance, now, readings)
                self._missing.pop(substance, None)
            except MissingInputError as exc:
                if self._missing.get(substance) != str(exc):
                    log.warning("no assessment of %s at %s: %s", substance, now, exc)
                    self._missing[substance] = str(exc)
            except Exception:  # a failed estimate must never stop the alarm chain; it is logged and retried
                log.exception("assessment of %s failed at %s", substance, now)
        return out

    def assess(self, substance: str, now: float, readings: Readings | None = None) -> Assessment:
        """Estimate, zones and receptors for one substance from the kept readings (or the ``readings`` given)."""
        started = time.thread_time()
        sensors = np.array([i for i in self.gas.tolist() if self.table.sensors[i].substance == substance], np.int64)
        sensor, when, value, flags = readings if readings is not None else self.window.readings(now)
        # Bins end now, not at the last whole minute: the readings that raised the alarm are in the newest bin.
        ends = bin_edges(now, BIN_S, N_BINS)
        full_scale = np.array([self.table.sensors[i].full_scale or math.inf for i in sensors.tolist()])
        floor = np.where(np.isfinite(full_scale), full_scale * NOISE_FLOOR_OF_FULL_SCALE, 0.05)
        column = np.full(len(self.table), -1, np.int64)
        column[sensors] = np.arange(sensors.shape[0])
        mine = (column[sensor] >= 0) & ((flags & INVALID_MASK) == 0)
        mean, saturated = bin_gas(
            when[mine], column[sensor[mine]], value[mine], sensors.shape[0], ends, BIN_S, full_scale
        )
        # Only the place around the detectors that see the gas (another park's detectors, sources and wind are
        # no evidence about this release).
        sees = ((mean > floor[None, :]) | saturated).any(axis=0)
        area = Area.around(self.east[sensors[sees]], self.north[sensors[sees]])
        local = area.holds(self.east[sensors], self.north[sensors])
        sensors, mean, saturated = sensors[local], mean[:, local], saturated[:, local]
        full_scale, floor = full_scale[local], floor[local]
        obs = GasObservations(
            self.east[sensors], self.north[sensors], ends, BIN_S, mean, saturated, full_scale, floor, floor
        )
        if sees.any():
            wind = self._wind(sensor, when, value, ends, now, area)
        else:
            # No detector sees the gas: ``estimate_source`` answers "not enough information" from the gas alone
            # (it returns before it reads the wind), and nothing below reads the wind then. The alarm's tail is a
            # few hundred such updates, each binning half an hour of weather for nothing; only the missing-wind
            # error is kept, so an update fails exactly when it did.
            self._wind_rows(sensor[self._weather[sensor]], area)
            wind = BinnedWind(np.full(N_BINS, math.nan), np.full(N_BINS, math.nan), "D", ends)
        recent = np.where(np.isnan(mean), -np.inf, mean).max(axis=0)  # loudest over the window, not just now
        loudest = int(sensors[int(np.argmax(recent))]) if sensors.shape[0] else None
        near = area.holds(self.candidate_east, self.candidate_north)
        candidates = [
            Candidate(c.id, c.east_m, c.north_m, c.height_m, substance in held)
            for (c, held), inside in zip(self.candidates, near.tolist(), strict=True)
            if inside
        ]
        molar = SUBSTANCES[substance].molar_mass_g_mol
        estimate = estimate_source(obs, wind, candidates, self._search_grid(area, near), molar, now)
        levels = tuple(zone_levels(SUBSTANCES[substance]))
        plume: PlumeState | None = None
        expected: dict[str, BaseGeometry] = {level.name: Polygon() for level in levels}
        possible: dict[str, BaseGeometry] = {level.name: Polygon() for level in levels}
        region: BaseGeometry = Polygon()
        impacts: list[ReceptorImpact] = []
        if estimate.status is not EstimateStatus.NOT_ENOUGH_INFORMATION and estimate.hypotheses:
            # The plume drawn as "the" source is the most probable place at its median rate (for the map and the
            # arrival times); the zones and the receptors come from the whole posterior mixture.
            height = next((c.height_m for c in candidates if c.id == estimate.best_candidate), 2.0)
            plume = PlumeState(
                estimate.east_m, estimate.north_m, height, estimate.rate_g_s, float(wind.speed_m_s[-1]),
                float(wind.from_deg[-1]), wind.stability, molar, max(0.0, now - estimate.start_s),
            )  # fmt: skip
            # The outlook's direction error is how much the minute-mean wind has wandered over the last quarter hour
            # (the spread of the bin means), not the turbulence inside a minute: that is in the plume's sigma_y.
            recent_dirs = wind.from_deg[-SIGMA_THETA_BINS:]
            recent_dirs = recent_dirs[np.isfinite(recent_dirs)]
            wander = direction_sd_deg(recent_dirs) if recent_dirs.shape[0] >= 2 else 0.0
            mix_wind = MixtureWind(
                float(wind.speed_m_s[-1]), float(wind.from_deg[-1]), wander, wind.stability, molar,
            )  # fmt: skip
            for level in levels:
                expected[level.name], possible[level.name] = probability_zones(
                    estimate.hypotheses, mix_wind, level.ppm, now
                )
            in_region = [(c.east_m, c.north_m) for c in candidates if c.id in estimate.region_candidates]
            region = region_shape(
                estimate.region_cells_east_m, estimate.region_cells_north_m, estimate.cell_step_m, in_region
            )
            impacts = assess_receptors_mixture(
                list(self.receptors), estimate.hypotheses, mix_wind, list(levels), expected, now
            )
        triggers = check_triggers(estimate, tuple(impacts), EXPECTED_PROBABILITY)
        return Assessment(
            substance, now, estimate, plume, levels, expected, possible, region, tuple(impacts),
            tuple(sensors.tolist()), time.thread_time() - started, tuple(self.receptors), loudest, triggers,
        )  # fmt: skip

    def _wind(
        self,
        sensor: np.ndarray,
        when: np.ndarray,
        value: np.ndarray,
        ends: np.ndarray,
        now: float,
        area: Area = EVERYWHERE,
    ) -> BinnedWind:
        """Binned wind from the weather stations in ``area`` (every station when none is; their readings pooled),
        and the stability class."""
        # The weather readings only, in their order (a half hour of a city's gas readings is most of the window,
        # and every step below would pass over them again).
        weather = self._weather[sensor]
        sensor, when, value = sensor[weather], when[weather], value[weather]
        speed_rows, dir_rows, dir_sensors = self._wind_rows(sensor, area)
        # Pair each direction with the speed of the same device at the nearest time (stations send both at once).
        order = np.argsort(when[speed_rows])
        speed_t, speed_v = when[speed_rows][order], value[speed_rows][order]
        idx = np.clip(np.searchsorted(speed_t, when[dir_rows]), 0, speed_t.shape[0] - 1)
        speed_b, dir_b, _ = bin_wind(when[dir_rows], speed_v[idx], value[dir_rows], ends, BIN_S)
        lat, lon = self.origin
        sigma_theta, samples = self._sigma_theta(sensor[dir_rows], when[dir_rows], value[dir_rows], now, dir_sensors)
        speed = float(speed_b[-1]) if sigma_theta is None else float(np.mean(speed_b[-SIGMA_THETA_BINS:]))
        cloud = _latest(self._local(self.cloud, area), sensor, when, value, now)
        solar = _latest(self._local(self.solar, area), sensor, when, value, now)
        stability = assessment_stability(
            speed, now, lat, lon, sigma_theta_deg=sigma_theta, cloud_fraction=cloud, solar_radiation_w_m2=solar
        )
        # How sure that class is (the estimator marginalises its rate and places over these classes).
        spread = None if sigma_theta is None else (sigma_theta, samples)
        measured = cloud is not None or solar is not None
        weights = class_weights(speed, now, lat, lon, sigma_theta=spread, sky_measured=measured)
        return BinnedWind(speed_b, dir_b, stability, ends, class_weights=weights)

    def _wind_rows(self, sensor: np.ndarray, area: Area) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which weather readings are of the wind speed and direction sensors in ``area``, and those direction
        sensors; ``MissingInputError`` when either is missing."""
        speed_sensors, dir_sensors = self._local(self.wind_speed, area), self._local(self.wind_dir, area)
        speed_rows = self._rows_of(speed_sensors, sensor)
        dir_rows = self._rows_of(dir_sensors, sensor)
        if not speed_rows.any() or not dir_rows.any():
            raise MissingInputError("no wind readings in the last half hour: cannot assess the release")
        return speed_rows, dir_rows, dir_sensors

    def _rows_of(self, sensors: np.ndarray, sensor: np.ndarray) -> np.ndarray:
        """Which readings (of sensor ``sensor``) are of ``sensors``: ``np.isin`` by one lookup per reading (the half
        hour of a city's gas and weather readings is hundreds of thousands)."""
        wanted = np.zeros(len(self.table), np.bool_)
        wanted[sensors] = True
        rows: np.ndarray = wanted[sensor]
        return rows

    def _search_grid(self, area: Area, near: np.ndarray) -> SearchGrid:
        """The cells of the site's grid around the gas detectors and the candidate sources (``near``: which are) in
        ``area``, as the site's grid lies around all of them."""
        gas = self.gas[area.holds(self.east[self.gas], self.north[self.gas])]
        xs = np.concatenate([self.east[gas], self.candidate_east[near]])
        ys = np.concatenate([self.north[gas], self.candidate_north[near]])
        return Area.around(xs, ys, GRID_MARGIN_M).clip(self.grid)

    def _local(self, channels: np.ndarray, area: Area) -> np.ndarray:
        """The sensors of ``channels`` in ``area``, or all of them when none is (wind from afar beats no wind)."""
        inside = channels[area.holds(self.east[channels], self.north[channels])]
        return inside if inside.shape[0] else channels

    def _sigma_theta(
        self, sensor: np.ndarray, when: np.ndarray, value: np.ndarray, now: float, vanes: np.ndarray
    ) -> tuple[float | None, float]:
        """The median over the wind vanes ``vanes`` of each one's wind-direction spread in the last 15 minutes, or
        None when no vane reported often enough, and the median number of independent readings it came from (the
        readings' count discounted by their autocorrelation: ``direction_effective_samples``). Per vane, so that
        two vanes' offsets are not read as turbulence. The spread is of the readings as the vanes sent them (every
        one in the window, not the bins' means, which would drop the turbulence inside a minute). (The readings
        given may be the vanes' alone: the other readings are never looked at.)"""
        spreads, counts = [], []
        recent = when > now - SIGMA_THETA_WINDOW_S
        for station in vanes.tolist():
            mine = recent & (sensor == station)
            if int(mine.sum()) >= SIGMA_THETA_MIN_READINGS:
                spreads.append(direction_sd_deg(value[mine]))
                counts.append(direction_effective_samples(value[mine][np.argsort(when[mine], kind="stable")]))
        if not spreads:
            return None, 0.0
        return float(np.median(spreads)), float(np.median(counts))

    def _update_conditions(self, now: float, substances: list[str]) -> None:
        """Raise AEGL-2-at-residential and AEGL-3-at-school-or-hospital on the substance's highest sensor."""
        events: list[ConditionEvents] = []
        raised: list[tuple[str, str, int, TriggerCheck]] = []  # (condition, substance, sensor, check)
        for condition in ASSESSMENT_CONDITIONS:
            sensors: list[int] = []
            active: list[bool] = []
            values: list[float] = []
            levels: list[float] = []
            for substance in sorted({s for c, s in self._raised if c == condition} | set(substances)):
                assessment = self.assessments.get(substance) if substance in substances else None
                check = assessment.triggers.get(condition) if assessment is not None else None
                key = (condition, substance)
                if check is not None and check.holds and key not in self._raised and assessment is not None:
                    self._raised[key] = self._loudest(assessment)
                    sensors.append(self._raised[key])
                    active.append(True)
                    values.append(float(check.people))
                    levels.append(round(100.0 * check.probability, 1))  # the rule message's {level}: percent
                    log.info("%s for %s %s", condition, substance, check.reason)
                    raised.append((condition, substance, self._raised[key], check))
                elif (check is None or not check.holds) and key in self._raised:
                    sensors.append(self._raised.pop(key))
                    active.append(False)
                    values.append(0.0)
                    levels.append(round(100.0 * check.probability, 1) if check is not None else math.nan)
                    log.info("%s for %s cleared: %s", condition, substance, check.reason if check else "no alarm")
            if sensors:
                n = len(sensors)
                events.append(
                    ConditionEvents(
                        condition, np.array(sensors, np.int32), np.full(n, now), np.array(active, np.bool_),
                        np.array(values, np.float64), np.array(levels, np.float64),
                    )
                )  # fmt: skip
        if events:
            incidents = self.flow.state.incidents.incidents
            triggers_before = {i: len(incident.trigger_ids) for i, incident in incidents.items()}
            self.flow.on_conditions(now, events)
            self._note_trigger_reasons(now, raised, triggers_before)

    def _note_trigger_reasons(
        self, now: float, raised: list[tuple[str, str, int, TriggerCheck]], triggers_before: dict[str, int]
    ) -> None:
        """Put on the incident's timeline why each assessment condition just raised holds (its receptors, their
        probabilities and the source), beside the plan triggers its alarm fired: the tier line alone names only the
        trigger, and the officer confirming the tier needs the model's reason."""
        engine = self.flow.state.incidents
        for condition, substance, sensor, check in raised:
            incident = engine.current(engine.group_of(sensor))
            if incident is None:
                continue
            alarms = [
                a for a in incident.alarm_ids
                if (view := engine.views.get(a)) is not None and view.condition == condition and view.sensor == sensor
            ]  # fmt: skip
            if not alarms:
                continue
            fired = incident.trigger_ids[triggers_before.get(incident.incident_id, 0) :]
            because = f"plan trigger {', '.join(fired)} fired: " if fired else ""
            text = f"{because}{condition} for {substance} {check.reason}"
            self.flow.apply_incident_changes(
                engine.note(incident.incident_id, "trigger_reason", text, now, ref=alarms[-1]), now
            )

    def _adopt_restored_conditions(self) -> None:
        """Conditions restored from a checkpoint were raised by an earlier run: take them over so they can clear."""
        for name, sensor in list(self.flow.state.conditions_on):
            substance = self.table.sensors[sensor].substance
            if name in ASSESSMENT_CONDITIONS and substance is not None:
                self._raised[(name, substance)] = sensor

    def _loudest(self, assessment: Assessment) -> int:
        if assessment.loudest_sensor is not None:
            return assessment.loudest_sensor
        latest = self.flow.state.conditions_on
        on = [s for s in assessment.sensors if any((n, s) in latest for n in ("gas.level1", "gas.level2"))]
        return on[0] if on else assessment.sensors[0]
