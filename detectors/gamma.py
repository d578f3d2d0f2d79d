"""Gamma dose-rate rises against each station's learned background, and their natural/suspicious classification.

The test is Page's CUSUM of the sequential probability ratio (a repeated SPRT, Jarman et al. 2004) between
"background b" and "background + r*b", with a Gaussian approximation whose sigma is the larger of the learned
scatter and the Poisson counting noise of the probe. Rain washes radon progeny down and raises every station
nearby for a few hours; a rise with rain at the nearest weather station *and* a rise at a neighbouring station
is classed natural, anything else (an isolated rise, a rise without rain) suspicious.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch, step, transitions
from detectors.streams import rank_plan

RISE = "gamma.rise"
RISE_NATURAL = "gamma.rise_natural"
RISE_SUSPICIOUS = "gamma.rise_suspicious"

WARMUP_READINGS = 30
BACKGROUND_ALPHA = 1.0 / 60.0  # about an hour of memory at 60 s reports
SPRT_H = 13.8  # ln(1/alpha) with alpha = 1e-6: ~1 false rise per 10^6 readings with real (non-Poisson) scatter
RAIN_MIN_MM_H = 0.5  # rain rate that counts as rain
RAIN_LOOKBACK_S = 2 * 3600.0  # rain up to this long before the rise began explains it (progeny decay)
NEIGHBOUR_WINDOW_S = 3600.0  # a neighbour's rise within this long of ours counts as "together"
CLASSIFY_DELAY_S = 600.0  # wait this long into a rise so neighbours and rain gauges can report
# A washout decays over hours and hovers near the decision level on its way down; hold the alarm this long
# after the evidence is gone so one rise gives one alarm.
RISE_OFF_DELAY_S = 1800.0
_NATURAL = 1
_SUSPICIOUS = 2


@dataclass
class GammaDetector:
    """Poisson-aware rise test per gamma station and the rain/neighbour classification."""

    config: CoreConfig
    background: NDArray[np.float64] = field(init=False)
    variance: NDArray[np.float64] = field(init=False)
    learned: NDArray[np.int32] = field(init=False)
    evidence: NDArray[np.float64] = field(init=False)  # log-likelihood ratio CUSUM
    rise: HysteresisState = field(init=False)
    rise_start: NDArray[np.float64] = field(init=False)
    last_on: NDArray[np.float64] = field(init=False)
    last_off: NDArray[np.float64] = field(init=False)
    classified: NDArray[np.int8] = field(init=False)
    last_rain: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        n = self.config.n_sensors
        self.background = np.zeros(n)
        self.variance = np.zeros(n)
        self.learned = np.zeros(n, np.int32)
        self.evidence = np.zeros(n)
        self.rise = HysteresisState.new(n)
        self.rise_start = np.full(n, np.nan)
        self.last_on = np.full(n, np.nan)
        self.last_off = np.full(n, np.nan)
        self.classified = np.zeros(n, np.int8)
        self.last_rain = np.full(n, np.nan)

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (
            self.background,
            self.variance,
            self.learned,
            self.evidence,
            self.rise_start,
            self.last_on,
            self.last_off,
            self.classified,
            self.last_rain,
        )
        return sum(a.nbytes for a in arrays) + self.rise.nbytes

    def process(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        rain: SortedBatch,
        rain_value: NDArray[np.float64],
        rain_valid: NDArray[np.bool_],
        censored: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.float64], list[ConditionEvents]]:
        """Score gamma readings (evidence / decision level, 0..1) and return rise and classification transitions.

        ``batch`` holds the gamma stations' readings, ``rain`` the rain gauges' readings of the same batch.
        A ``censored`` reading (at or above full scale, ``value`` its lower bound) only adds evidence, and raises
        the rise at once when its lower bound is above the rise level; it is never learnt and clears nothing.
        """
        c = self.config
        cens_all = np.zeros_like(valid) if censored is None else censored
        n = value.shape[0]
        evidence = np.zeros(n)
        tested = np.zeros(n, np.bool_)
        starts, alive = rank_plan(batch)
        # Per-segment copies of the state, longest segment first: step k works on a contiguous prefix.
        seg = batch.sensor[starts]
        background, variance, learned, cusum = (
            self.background[seg],
            self.variance[seg],
            self.learned[seg],
            self.evidence[seg],
        )
        counts_per_unit = np.maximum(c.gamma_cps_per_nsv_h[seg] * c.report_interval_s[seg], 1e-12)
        rise_fraction = c.gamma_rise_fraction[seg]
        for k, a in enumerate(alive):
            idx = starts[:a] + k
            x = value[idx]
            ok = valid[idx]
            cens = cens_all[idx]
            b, count = background[:a], learned[:a]
            warm = count < WARMUP_READINGS
            # sigma of one reading: Poisson noise of the counts behind it, or the learned scatter if larger.
            var = np.maximum(variance[:a], np.maximum(b, 1.0) / counts_per_unit[:a])
            delta = rise_fraction[:a] * np.maximum(b, 1.0)
            test = (ok | cens) & ~warm
            llr = np.where(test, delta / var * (x - b - delta / 2.0), 0.0)
            # A lower bound can only add evidence; one above the rise level is conclusive on its own.
            llr = np.where(cens, np.maximum(llr, 0.0), llr)
            e = np.where(test, np.clip(cusum[:a] + llr, 0.0, 2 * SPRT_H), cusum[:a])
            e = np.where(cens & test & (x >= b + delta), np.maximum(e, SPRT_H), e)
            cusum[:a] = e
            learn = ok & (warm | ((e < SPRT_H / 4) & (x < b + 3.0 * np.sqrt(var))))
            alpha = np.where(warm, 1.0 / (count + 1.0), BACKGROUND_ALPHA)
            d = x - b
            background[:a] = np.where(learn, b + alpha * d, b)
            variance[:a] = np.where(learn, (1.0 - alpha) * (variance[:a] + alpha * d * d), variance[:a])
            learned[:a] = np.where(learn, np.minimum(count + 1, 1 << 30), count)
            evidence[idx] = e
            tested[idx] = test
        self.background[seg], self.variance[seg], self.learned[seg], self.evidence[seg] = (
            background,
            variance,
            learned,
            cusum,
        )

        on = tested & (evidence >= SPRT_H)
        off = valid & (evidence < SPRT_H / 2)
        zero = np.zeros(c.n_sensors)
        before = self.rise.active.copy()
        off_delay = np.maximum(RISE_OFF_DELAY_S, 2 * c.report_interval_s)
        active = step(batch, on, off, zero, off_delay, self.rise)
        change = transitions(batch, active, before)
        rise_events = ConditionEvents(
            RISE,
            batch.sensor[change],
            batch.time[change],
            active[change],
            value[change],
            self.background[batch.sensor[change]] * (1 + c.gamma_rise_fraction[batch.sensor[change]]),
            cens_all[change] if cens_all[change].any() else None,
        )
        raining = rain_valid & (rain_value >= RAIN_MIN_MM_H)
        rain_sensor, rain_time = rain.sensor[raining], rain.time[raining]
        natural, suspicious = self._classify(batch, value, valid, active, change, rain_sensor, rain_time)
        if rain_sensor.shape[0]:
            np.fmax.at(self.last_rain, rain_sensor, rain_time)
        score = np.where(tested, np.clip(evidence / SPRT_H, 0.0, 1.0), 0.0)
        return score, [rise_events, natural, suspicious]

    def _rain_before(
        self, gauge: int, at: float, rain_sensor: NDArray[np.int32], rain_time: NDArray[np.float64]
    ) -> float:
        """Latest time at or before ``at`` that the gauge saw rain (nan: never)."""
        in_batch = rain_time[(rain_sensor == gauge) & (rain_time <= at)]
        latest = float(in_batch.max()) if in_batch.shape[0] else np.nan
        return float(np.fmax(latest, self.last_rain[gauge]))

    def _classify(
        self,
        batch: SortedBatch,
        value: NDArray[np.float64],
        valid: NDArray[np.bool_],
        active: NDArray[np.bool_],
        change: NDArray[np.intp],
        rain_sensor: NDArray[np.int32],
        rain_time: NDArray[np.float64],
    ) -> tuple[ConditionEvents, ConditionEvents]:
        """Decide natural/suspicious once per rise, ``CLASSIFY_DELAY_S`` after it began; clear with the rise."""
        c = self.config
        s = batch.sensor
        t = batch.time
        # Rise transitions in this batch, per sensor, in time order (they are rare: plain Python is fine).
        ons: dict[int, list[float]] = {}
        offs: dict[int, list[float]] = {}
        for i in change:
            (ons if active[i] else offs).setdefault(int(s[i]), []).append(float(t[i]))

        def on_off_before(j: int, at: float) -> tuple[float, float]:
            last_on = max((x for x in ons.get(j, []) if x <= at), default=float(self.last_on[j]))
            last_off = max((x for x in offs.get(j, []) if x <= at), default=float(self.last_off[j]))
            return last_on, last_off

        # Start time of the rise each reading belongs to.
        is_on = np.zeros(s.shape[0], np.bool_)
        is_on[change] = active[change]
        idx = np.arange(s.shape[0])
        last_on_idx = np.maximum.accumulate(np.where(is_on, idx, -1)) if s.shape[0] else idx
        in_segment = last_on_idx >= batch.segment_first
        start = np.where(in_segment, t[np.where(in_segment, last_on_idx, 0)], self.rise_start[s])
        # Decide on a trusted reading only (a stuck or saturated one says nothing about the rise).
        due = active & valid & (t - start >= CLASSIFY_DELAY_S)
        # Walk this batch's rise on/off transitions and due readings per sensor in time order.
        # Only the first due reading of each rise needs a decision; later ones are already classified.
        prev_due = np.zeros_like(due)
        prev_due[1:] = due[:-1]
        prev_due[batch.segment_first == idx] = False
        points = np.union1d(change, np.flatnonzero(due & ~prev_due))
        changed = np.zeros(s.shape[0], np.bool_)
        changed[change] = True
        out: dict[int, list[tuple[int, float, bool, float]]] = {_NATURAL: [], _SUSPICIOUS: []}
        for i in points:
            j = int(s[i])
            ti = float(t[i])
            if changed[i] and active[i]:
                self.rise_start[j] = ti
                self.last_on[j] = ti
                continue
            if changed[i]:  # the rise ended: clear its class
                self.last_off[j] = ti
                self.rise_start[j] = np.nan
                if self.classified[j]:
                    out[int(self.classified[j])].append((j, ti, False, float(value[i])))
                    self.classified[j] = 0
                continue
            if self.classified[j] or not due[i]:
                continue
            rise_start = float(start[i])
            gauge = int(c.rain_sensor[j])
            rained = gauge >= 0 and self._rain_before(gauge, ti, rain_sensor, rain_time) >= rise_start - RAIN_LOOKBACK_S
            neighbours = c.neighbour_index[c.neighbour_offsets[j] : c.neighbour_offsets[j + 1]]
            together = 0
            for k in neighbours:
                k_on, k_off = on_off_before(int(k), ti)
                if k_on <= ti and (not k_off >= k_on or k_off >= rise_start - NEIGHBOUR_WINDOW_S):
                    together += 1
            natural = rained and (together > 0 or neighbours.shape[0] == 0)
            kind = _NATURAL if natural else _SUSPICIOUS
            self.classified[j] = kind
            out[kind].append((j, ti, True, float(value[i])))
        return _events(RISE_NATURAL, out[_NATURAL]), _events(RISE_SUSPICIOUS, out[_SUSPICIOUS])


def _events(name: str, rows: list[tuple[int, float, bool, float]]) -> ConditionEvents:
    if not rows:
        return ConditionEvents.empty(name)
    sensor, time, active, value = zip(*rows, strict=True)
    return ConditionEvents(
        name,
        np.asarray(sensor, np.int32),
        np.asarray(time, np.float64),
        np.asarray(active, np.bool_),
        np.asarray(value, np.float64),
        np.full(len(rows), np.nan),
    )
