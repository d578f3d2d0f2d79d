"""Slow gamma rises: a CUSUM of hourly means against a frozen, diurnally adjusted reference level.

The fast rise test (gamma.py) learns its background with an hour of memory, so a rise of a few per cent, or a slow
ramp, is learnt as it happens and never reaches its 30 % decision level. This test does not learn what it tests:

* each station's level is an hourly mean divided by a learnt profile of the hour of day (radon's daily cycle, a few
  to 20 % with its peak at dawn, Porstendoerfer, J. Aerosol Sci. 25, 1994), giving a deseasonalised level;
* the reference is that level averaged over about a week, and it is frozen while the CUSUM holds any evidence;
* Page's CUSUM (Page, Biometrika 41, 1954) of the relative excess z = mean / expected - 1 with reference value
  k = 5 % (half of the smallest rise it must find, +10 %) and decision interval h = 0.4: a lasting +10 % is found in
  about 8 hours, a doubling over 10 hours (+10 % per hour) in about 4; a 20 % diurnal swing is in the profile and
  day-to-day swings of a few per cent never add up (each hour must be 5 % high to add anything at all); one hour
  adds at most a little over half of h, so a single outlying reading in an hour's mean never raises it alone;
* hours with rain within the last three hours at the station's gauges are neither tested nor learnt (washout is
  the fast test's business, and the excess is gone about three hours after the rain, see washout.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.hysteresis import SortedBatch
from detectors.streams import rank_steps

SLOW_RISE = "gamma.rise_slow"

HOUR_S = 3600.0
CUSUM_K = 0.05
CUSUM_H = 0.4
CUSUM_MAX = 4.0 * CUSUM_H  # bounded, so a rise that ended clears within hours, not days
# One hour adds at most this much (just over half the decision interval): a slow rise is many modest hours, so the
# cap never slows it, while one reading far above background (a counting burst, a passing vehicle with a source:
# the fast test's business) cannot lift one hour's mean enough to raise a slow rise on its own.
ONE_HOUR_MAX = 0.55 * CUSUM_H
LEARN_BELOW = 0.1  # the reference and profile learn only while the CUSUM holds less evidence than this
WARMUP_HOURS = 24  # one full day of hourly means before the first test (a profile needs every hour of day)
REFERENCE_ALPHA = 1.0 / (7 * 24)  # about a week of hourly means
PROFILE_ALPHA = 1.0 / 7  # about a week of days per hour of day
MIN_COVERAGE = 0.75  # an hour is judged only if it holds this fraction of its expected readings


@dataclass
class SlowRiseTest:
    """Hour-mean CUSUM per gamma station; rows are allocated for gamma stations only."""

    sensor_is_gamma: NDArray[np.bool_]
    report_interval_s: NDArray[np.float64]
    rows: NDArray[np.intp] = field(init=False)  # sensor -> row, -1: not a gamma station
    hour: NDArray[np.int64] = field(init=False)  # hour number being summed, -1: none yet
    hour_sum: NDArray[np.float64] = field(init=False)
    hour_count: NDArray[np.int32] = field(init=False)
    hour_wet: NDArray[np.bool_] = field(init=False)
    hours_seen: NDArray[np.int32] = field(init=False)  # judged dry hours so far
    profile: NDArray[np.float32] = field(init=False)  # (rows, 24): hour-of-day factor (absolute means in warm-up)
    reference: NDArray[np.float64] = field(init=False)
    cusum: NDArray[np.float64] = field(init=False)
    active: NDArray[np.bool_] = field(init=False)

    def __post_init__(self) -> None:
        gamma = self.sensor_is_gamma
        n_rows = int(gamma.sum())
        self.rows = np.full(gamma.shape[0], -1, np.intp)
        self.rows[gamma] = np.arange(n_rows)
        self.hour = np.full(n_rows, -1, np.int64)
        self.hour_sum = np.zeros(n_rows)
        self.hour_count = np.zeros(n_rows, np.int32)
        self.hour_wet = np.zeros(n_rows, np.bool_)
        self.hours_seen = np.zeros(n_rows, np.int32)
        self.profile = np.zeros((n_rows, 24), np.float32)
        self.reference = np.full(n_rows, np.nan)
        self.cusum = np.zeros(n_rows)
        self.active = np.zeros(n_rows, np.bool_)

    @property
    def nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (
            self.rows,
            self.hour,
            self.hour_sum,
            self.hour_count,
            self.hour_wet,
            self.hours_seen,
            self.profile,
            self.reference,
            self.cusum,
            self.active,
        )
        return sum(int(a.nbytes) for a in arrays)

    def process(
        self, batch: SortedBatch, value: NDArray[np.float64], valid: NDArray[np.bool_], wet: NDArray[np.bool_]
    ) -> ConditionEvents:
        """Fold gamma readings into hourly means; judge each hour when the next one starts. ``wet``: rain at the
        station's gauges within the last three hours of the reading."""
        n = value.shape[0]
        if n == 0:
            return ConditionEvents.empty(SLOW_RISE)
        hour = np.floor(batch.time / HOUR_S).astype(np.int64)
        run_start = np.ones(n, np.bool_)
        run_start[1:] = (batch.sensor[1:] != batch.sensor[:-1]) | (hour[1:] != hour[:-1])
        first = np.flatnonzero(run_start)
        run_sum = np.add.reduceat(np.where(valid, value, 0.0), first)
        run_count = np.add.reduceat(valid.astype(np.int64), first)
        run_wet = np.add.reduceat(wet.astype(np.int64), first) > 0
        runs = SortedBatch.from_sorted(first, batch.sensor[first], batch.time[first])
        run_hour = hour[first]
        sensors: list[NDArray[np.int32]] = []
        times: list[NDArray[np.float64]] = []
        actives: list[NDArray[np.bool_]] = []
        means: list[NDArray[np.float64]] = []
        levels: list[NDArray[np.float64]] = []
        for idx in rank_steps(runs):
            rows = self.rows[runs.sensor[idx]]
            later = run_hour[idx] > self.hour[rows]
            closing = later & (self.hour[rows] >= 0)
            if closing.any():
                changed, mean, level = self._close(rows[closing], runs.sensor[idx][closing])
                if changed.any():
                    ci = idx[closing][changed]
                    sensors.append(runs.sensor[ci])
                    times.append(runs.time[ci])
                    actives.append(self.active[rows[closing][changed]])
                    means.append(mean[changed])
                    levels.append(level[changed])
            # Start the new hour (a late run for an hour already closed is dropped).
            r = rows[later]
            self.hour[r] = run_hour[idx][later]
            self.hour_sum[r] = 0.0
            self.hour_count[r] = 0
            self.hour_wet[r] = False
            current = run_hour[idx] == self.hour[rows]
            r, i = rows[current], idx[current]
            self.hour_sum[r] += run_sum[i]
            self.hour_count[r] += run_count[i].astype(np.int32)
            self.hour_wet[r] |= run_wet[i]
        if not sensors:
            return ConditionEvents.empty(SLOW_RISE)
        return ConditionEvents(
            SLOW_RISE,
            np.concatenate(sensors).astype(np.int32),
            np.concatenate(times),
            np.concatenate(actives),
            np.concatenate(means),
            np.concatenate(levels),
        )

    def _close(
        self, rows: NDArray[np.intp], sensors: NDArray[np.int32]
    ) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
        """Judge the finished hours of ``rows``: CUSUM step, learning, state change. Returns (changed, mean, level)."""
        expected_count = HOUR_S / self.report_interval_s[sensors]
        count = self.hour_count[rows]
        judged = (count >= MIN_COVERAGE * expected_count) & ~self.hour_wet[rows]
        mean = np.where(count > 0, self.hour_sum[rows] / np.maximum(count, 1), np.nan)
        of_day = (self.hour[rows] % 24).astype(np.intp)
        seen = self.hours_seen[rows]
        warm = judged & (seen < WARMUP_HOURS)
        # Warm-up: keep the absolute hourly means; after a day, split them into a level and a daily profile.
        if warm.any():
            r = rows[warm]
            held = self.profile[r, of_day[warm]]
            self.profile[r, of_day[warm]] = np.where(held > 0, 0.5 * (held + mean[warm]), mean[warm])
            self.hours_seen[r] += 1
            done = r[self.hours_seen[r] >= WARMUP_HOURS]
            if done.shape[0]:
                filled = self.profile[done] > 0
                level = np.where(filled, self.profile[done], 0.0).sum(axis=1) / np.maximum(filled.sum(axis=1), 1)
                self.reference[done] = level
                self.profile[done] = np.where(filled, self.profile[done] / level[:, None], 1.0)
        test = judged & ~warm & np.isfinite(self.reference[rows])
        expected = self.reference[rows] * self.profile[rows, of_day].astype(np.float64)
        before = self.active[rows].copy()
        if test.any():
            r = rows[test]
            z = mean[test] / expected[test] - 1.0
            s = np.clip(self.cusum[r] + np.minimum(z - CUSUM_K, ONE_HOUR_MAX), 0.0, CUSUM_MAX)
            self.cusum[r] = s
            self.active[r] = np.where(s >= CUSUM_H, True, np.where(s <= 0.0, False, self.active[r]))
            # Learn only hours that carry no evidence: the test never learns the rise it is testing.
            learn = s < LEARN_BELOW
            if learn.any():
                rl, m, h = r[learn], mean[test][learn], of_day[test][learn]
                deseasonalised = m / self.profile[rl, h]
                self.reference[rl] += REFERENCE_ALPHA * (deseasonalised - self.reference[rl])
                ratio = m / self.reference[rl]
                self.profile[rl, h] += (PROFILE_ALPHA * (ratio - self.profile[rl, h])).astype(np.float32)
        changed = self.active[rows] != before
        return changed, mean, expected * (1.0 + CUSUM_K)
