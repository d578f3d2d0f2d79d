"""Data quality: per-reading flags (out of range, stuck, flatline, jump, clock skew, saturation) and their conditions,
24-hour acquisition/valid ratios, and the offline test that runs on the clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import SOURCE_DOSE, CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch, step
from detectors.readings import (
    FLAG_CLOCK_SKEW,
    FLAG_DEVICE_FAULT,
    FLAG_FLATLINE,
    FLAG_JUMP,
    FLAG_NOT_CREDIBLE,
    FLAG_OUT_OF_RANGE,
    FLAG_SATURATED,
    FLAG_STUCK,
    INVALID_MASK,
)
from detectors.streams import debounce, hit_runs, previous

STUCK = "quality.stuck"
FLATLINE = "quality.flatline"
OUT_OF_RANGE = "quality.out_of_range"
JUMP = "quality.jump"
OFFLINE = "quality.offline"
CLOCK_SKEW = "quality.clock_skew"
CAPTURE_LOW = "quality.capture_low"
DETECTOR_FAULT = "quality.detector_fault"  # device fault or saturation on a channel that is not a source monitor
SOURCE_DETECTOR_FAULT = "source.detector_fault"

_FLAG_CONDITIONS: tuple[tuple[str, np.uint16], ...] = (
    (STUCK, FLAG_STUCK),
    (FLATLINE, FLAG_FLATLINE),
    (OUT_OF_RANGE, FLAG_OUT_OF_RANGE),
    (JUMP, FLAG_JUMP),
    (CLOCK_SKEW, FLAG_CLOCK_SKEW),
)
_FAULT_FLAGS = np.uint16(FLAG_DEVICE_FAULT | FLAG_SATURATED | FLAG_NOT_CREDIBLE)
_DEVICE_FLAGS = np.uint16(FLAG_DEVICE_FAULT | FLAG_SATURATED)  # what a device may say about its own detector
FOLDBACK_INTERVALS = 2.0  # the fall must happen within this many report intervals of the high reading
# Pinned at an implausible zero (or a non-hazard channel at full scale) this long (each reading standing for one
# report interval), over at least two readings, before the channel counts as flatlined: three minutes, whatever
# the report interval.
FLATLINE_S = 180.0
MIN_STUCK_READINGS = 3  # a slow reporter needs three identical readings, not two, to be stuck
HOURS_KEPT = 24
_HOUR_S = 3600.0


def _mark(found: NDArray[np.uint16], where: NDArray[np.bool_], bit: np.uint16) -> None:
    """Set ``bit`` where ``where`` holds (most masks are empty, so test first)."""
    if where.any():
        found[where] |= bit


@dataclass
class QualityDetector:
    """Flags untrustworthy readings and keeps per-sensor quality history."""

    config: CoreConfig
    last_value: NDArray[np.float64] = field(init=False)
    last_time: NDArray[np.float64] = field(init=False)
    before_last_value: NDArray[np.float64] = field(init=False)  # the reading before the last one (fold-back)
    before_last_time: NDArray[np.float64] = field(init=False)
    foldback_high: NDArray[np.float64] = field(init=False)  # config, resolved once
    foldback_from: NDArray[np.float64] = field(init=False)  # the high reading a not-credible fall came from
    not_credible: HysteresisState = field(init=False)
    same_count: NDArray[np.int32] = field(init=False)
    same_since: NDArray[np.float64] = field(init=False)  # when the current run of identical readings began
    pinned_count: NDArray[np.int32] = field(init=False)
    pinned_since: NDArray[np.float64] = field(init=False)
    hour_tag: NDArray[np.int32] = field(init=False)  # (n, 24) hour number each slot counts
    hour_received: NDArray[np.uint16] = field(init=False)
    hour_valid: NDArray[np.uint16] = field(init=False)
    first_seen: NDArray[np.float64] = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)
    capture_state: NDArray[np.bool_] = field(init=False)

    def __post_init__(self) -> None:
        n = self.config.n_sensors
        self.last_value = np.full(n, np.nan)
        self.last_time = np.full(n, np.nan)
        self.before_last_value = np.full(n, np.nan)
        self.before_last_time = np.full(n, np.nan)
        self.foldback_high = self.config.foldback_levels()
        self.foldback_from = np.full(n, np.nan)
        self.not_credible = HysteresisState.new(n)
        self.same_count = np.zeros(n, np.int32)
        self.pinned_count = np.zeros(n, np.int32)
        self.same_since = np.full(n, np.nan)
        self.pinned_since = np.full(n, np.nan)
        self.hour_tag = np.full((n, HOURS_KEPT), -1, np.int32)
        self.hour_received = np.zeros((n, HOURS_KEPT), np.uint16)
        self.hour_valid = np.zeros((n, HOURS_KEPT), np.uint16)
        self.first_seen = np.full(n, np.nan)
        names = [name for name, _ in _FLAG_CONDITIONS] + [DETECTOR_FAULT]
        self.states = {name: HysteresisState.new(n) for name in names}
        self.capture_state = np.zeros(n, np.bool_)

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (
            self.last_value,
            self.last_time,
            self.before_last_value,
            self.before_last_time,
            self.foldback_from,
            self.same_count,
            self.pinned_count,
            self.same_since,
            self.pinned_since,
            self.hour_tag,
            self.hour_received,
            self.hour_valid,
            self.first_seen,
            self.capture_state,
        )
        states = sum(s.nbytes for s in self.states.values()) + self.not_credible.nbytes
        return sum(a.nbytes for a in arrays) + states

    def reset_credibility(self, sensors: NDArray[np.intp] | list[int]) -> None:
        """Operator reset: readings of these sensors are credible again until the next implausible fall."""
        idx = np.asarray(sensors, np.intp)
        self.not_credible.raw[idx] = False
        self.not_credible.active[idx] = False
        self.not_credible.raw_since[idx] = np.nan
        self.foldback_from[idx] = np.nan

    def flag(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        flags: NDArray[np.uint16],
        received_at: float | NDArray[np.float64] | None,
    ) -> NDArray[np.uint16]:
        """Return ``flags`` with the quality bits found for each reading (sorted order); update history."""
        c = self.config
        s = batch.sensor
        t = batch.time
        found = np.zeros_like(flags)
        finite = np.isfinite(value)
        with np.errstate(invalid="ignore"):
            out_of_range = ~finite | (value < c.range_min[s]) | (value > c.range_max[s])
            saturated = c.hazard[s] & (value >= c.full_scale[s]) & ~out_of_range
            zero = c.zero_implausible[s] & (value <= c.range_min[s])
        _mark(found, out_of_range, FLAG_OUT_OF_RANGE)
        _mark(found, saturated, FLAG_SATURATED)

        prev_value = previous(batch, value, self.last_value)
        prev_time = previous(batch, t, self.last_time)
        # Readings at the bottom of the range are never "stuck": they are either normal (clean air, no rain)
        # or a flatline (a dose rate of zero), which has its own test.
        # Nor is a hazard detector held at full scale: that is a censored reading (an alarm), not a frozen one.
        same = (value == prev_value) & finite & (value > c.range_min[s]) & ~saturated
        # Stated in time: the run of identical readings began at the reading before its first repeat, and each
        # reading stands for one report interval (ten readings a minute apart are ten minutes of data).
        run, since = hit_runs(batch, same, prev_time, self.same_count, self.same_since)
        run += 1
        interval = c.report_interval_s[s]
        with np.errstate(invalid="ignore"):
            lasted = t - since + interval
            stuck = (c.stuck_s[s] > 0) & same & (run >= MIN_STUCK_READINGS) & (lasted >= c.stuck_s[s])
        _mark(found, stuck, FLAG_STUCK)

        # Pinned at an implausible zero, or at full scale on a non-hazard channel (hazard channels at full
        # scale are saturated, above).
        with np.errstate(invalid="ignore"):
            pinned = zero | (~c.hazard[s] & (value >= c.full_scale[s]))
        pinned_run, pinned_since = hit_runs(batch, pinned, t, self.pinned_count, self.pinned_since)
        with np.errstate(invalid="ignore"):
            flat = pinned & (pinned_run >= 2) & (t - pinned_since + interval >= FLATLINE_S)
        _mark(found, flat, FLAG_FLATLINE)

        with np.errstate(invalid="ignore"):
            jump = np.abs(value - prev_value) > c.max_step[s]
        _mark(found, jump, FLAG_JUMP)

        # A reading older than the one before it means the device clock went backwards; one from the future
        # means it runs fast. An old reading is not skew: a persistent session delivers backlog after an outage.
        skew = t < prev_time
        if received_at is not None:
            skew |= (t - received_at) > c.max_clock_skew_s
        _mark(found, skew, FLAG_CLOCK_SKEW)

        before_prev_value = previous(batch, prev_value, self.before_last_value)
        before_prev_time = previous(batch, prev_time, self.before_last_time)
        device_flagged = (flags & _DEVICE_FLAGS) != 0
        _mark(
            found,
            self._not_credible(
                batch, value, prev_value, prev_time, before_prev_value, before_prev_time, device_flagged
            ),
            FLAG_NOT_CREDIBLE,
        )

        ends = batch.is_last
        self.before_last_value[s[ends]] = prev_value[ends]
        self.before_last_time[s[ends]] = prev_time[ends]
        self.last_value[s[ends]] = value[ends]
        self.last_time[s[ends]] = np.fmax(t[ends], self.last_time[s[ends]])
        out = flags | found
        self._count_hours(batch, (out & INVALID_MASK) == 0)
        return out

    def _not_credible(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        prev_value: NDArray[np.float64],
        prev_time: NDArray[np.float64],
        before_value: NDArray[np.float64],
        before_time: NDArray[np.float64],
        device_flagged: NDArray[np.bool_],
    ) -> NDArray[np.bool_]:
        """Readings after an implausible fall (fold-back or a dead probe) until a credible one, per sensor.

        A fall is a reading below 1/ratio of a high reading (at least ``foldback_high``) taken within
        ``FOLDBACK_INTERVALS`` report intervals before it, with no device flag. A credible reading is one back
        within that ratio of the high it fell from; an operator reset (``reset_credibility``) also ends it.
        """
        s, t = batch.sensor, batch.time
        high = self.foldback_high[s]
        n = value.shape[0]
        if not self.not_credible.active[s].any():
            with np.errstate(invalid="ignore"):
                any_high = (prev_value >= high) | (before_value >= high)
            if not any_high.any():
                return np.zeros(n, np.bool_)
        ratio = self.config.foldback_ratio[s]
        window = FOLDBACK_INTERVALS * self.config.report_interval_s[s] + 1e-6
        with np.errstate(invalid="ignore"):
            recent1 = np.where((t - prev_time <= window) & (prev_value >= high), prev_value, np.nan)
            recent2 = np.where((t - before_time <= window) & (before_value >= high), before_value, np.nan)
            came_from = np.fmax(recent1, recent2)
            fall = ~device_flagged & np.isfinite(value) & (value < came_from / ratio)
        idx = np.arange(n)
        last_fall = np.maximum.accumulate(np.where(fall, idx, -1)) if n else idx
        in_segment = last_fall >= batch.segment_first
        source = np.where(in_segment, came_from[np.where(in_segment, last_fall, 0)], self.foldback_from[s])
        with np.errstate(invalid="ignore"):
            credible = ~fall & ~device_flagged & (value >= source / ratio)
        zero = np.zeros(self.config.n_sensors)
        held = step(batch, fall, credible, zero, zero, self.not_credible)
        ends = batch.is_last
        self.foldback_from[s[ends]] = np.where(held[ends], source[ends], np.nan)
        return held

    def conditions(
        self, batch: SortedBatch, value: NDArray[np.float64], flags: NDArray[np.uint16]
    ) -> list[ConditionEvents]:
        """Conditions that follow the per-reading flags (on while the flag is present)."""
        c = self.config
        s = batch.sensor
        off_delay = 3.0 * c.report_interval_s
        zero = np.zeros(c.n_sensors)
        nan = np.full(value.shape[0], np.nan)
        out: list[ConditionEvents] = []
        for name, bit in _FLAG_CONDITIONS:
            has = (flags & bit) != 0
            if not has.any() and not self.states[name].active[s].any():
                continue
            out.append(debounce(name, batch, has, ~has, zero, off_delay, self.states[name], value, nan))
        fault = (flags & _FAULT_FLAGS) != 0
        if fault.any() or self.states[DETECTOR_FAULT].active[s].any():
            events = debounce(DETECTOR_FAULT, batch, fault, ~fault, zero, zero, self.states[DETECTOR_FAULT], value, nan)
            is_source = c.kind[events.sensor] == SOURCE_DOSE
            # Source-monitor faults are device-level: reported on the device's first sensor.
            reported = np.where(is_source, c.device_first_sensor[c.device[events.sensor]], events.sensor)
            for name, keep in ((SOURCE_DETECTOR_FAULT, is_source), (DETECTOR_FAULT, ~is_source)):
                out.append(
                    ConditionEvents(
                        name,
                        reported[keep].astype(np.int32),
                        events.time[keep],
                        events.active[keep],
                        events.value[keep],
                        events.level[keep],
                    )
                )
        return out

    def _count_hours(self, batch: SortedBatch, valid: NDArray[np.bool_]) -> None:
        """Add the readings to per-sensor hourly counters (a ring of 24 slots)."""
        sensor, time = batch.sensor, batch.time
        if sensor.shape[0] == 0:
            return
        hour = np.floor(time / _HOUR_S).astype(np.int64)
        # Readings are sorted by (sensor, time), so each (sensor, hour) is one run: count per run.
        run_start = np.ones(hour.shape[0], np.bool_)
        run_start[1:] = (sensor[1:] != sensor[:-1]) | (hour[1:] != hour[:-1])
        first = np.flatnonzero(run_start)
        run_sensor, run_hour = sensor[first], hour[first]
        run_received = np.diff(np.append(first, hour.shape[0]))
        run_valid = np.add.reduceat(valid.astype(np.int64), first)
        slot = run_hour % HOURS_KEPT
        newer = run_hour > self.hour_tag[run_sensor, slot]
        if newer.any():
            # A slot holding an older hour is reused for the new one.
            self.hour_tag[run_sensor[newer], slot[newer]] = run_hour[newer].astype(np.int32)
            self.hour_received[run_sensor[newer], slot[newer]] = 0
            self.hour_valid[run_sensor[newer], slot[newer]] = 0
        current = run_hour == self.hour_tag[run_sensor, slot]
        # Runs are unique (sensor, hour) pairs, and one hour has one slot, so plain fancy += is safe.
        cells = (run_sensor[current], slot[current])
        self.hour_received[cells] += np.minimum(run_received[current], 65535).astype(np.uint16)
        self.hour_valid[cells] += np.minimum(run_valid[current], 65535).astype(np.uint16)
        # Within a sorted batch the first reading of each sensor is its earliest.
        starts = batch.segment_starts
        self.first_seen[sensor[starts]] = np.fmin(self.first_seen[sensor[starts]], time[starts])

    def ratios(self, now: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Acquisition ratio (received / expected) and valid ratio (valid / expected) over the last 24 h."""
        now_hour = int(np.floor(now / _HOUR_S))
        window = (self.hour_tag > now_hour - HOURS_KEPT) & (self.hour_tag <= now_hour)
        received = np.where(window, self.hour_received, 0).sum(axis=1).astype(np.float64)
        valid = np.where(window, self.hour_valid, 0).sum(axis=1).astype(np.float64)
        # The window starts at the first hour slot still counted, or when the sensor was first seen.
        window_start = np.fmax((now_hour - HOURS_KEPT + 1) * _HOUR_S, self.first_seen)
        expected = np.maximum((now - window_start) / self.config.report_interval_s, 1.0)
        acquisition = np.where(np.isnan(self.first_seen), 0.0, np.clip(received / expected, 0.0, 1.0))
        valid_ratio = np.where(np.isnan(self.first_seen), 0.0, np.clip(valid / expected, 0.0, 1.0))
        return acquisition, valid_ratio

    def capture_events(self, now: float, min_history_s: float = 86_400.0) -> ConditionEvents:
        """``quality.capture_low`` transitions: ratios below the target, once a sensor has a day of history."""
        acquisition, valid = self.ratios(now)
        judged = ~np.isnan(self.first_seen) & (now - np.nan_to_num(self.first_seen, nan=now) >= min_history_s)
        low = judged & (np.minimum(acquisition, valid) < self.config.capture_min_ratio)
        changed = np.flatnonzero(low != self.capture_state)
        self.capture_state[changed] = low[changed]
        n = changed.shape[0]
        return ConditionEvents(
            CAPTURE_LOW,
            changed.astype(np.int32),
            np.full(n, now),
            low[changed],
            np.minimum(acquisition, valid)[changed],
            np.full(n, self.config.capture_min_ratio),
        )
