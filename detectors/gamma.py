"""Gamma dose-rate rises against each station's learned background, and their natural/suspicious classification.

The fast test is Page's CUSUM of the sequential probability ratio (a repeated SPRT, Jarman et al. 2004) between
"background b" and "background + r*b", with a Gaussian approximation whose sigma is the larger of the learned
scatter and the Poisson counting noise of the probe. A rise needs two elevated readings (one reading's evidence is
capped just above half the decision level), so one counting fluctuation, however large, never raises it (a reading
at or above full scale is conclusive on its own).

Every rise is classified, and re-classified at each reading until it ends:

* natural: rain at one of the station's gauges (every gauge within the configured radius, its own rain sensor
  first) from two hours before the rise began, or within a few minutes after it while neighbours rise too (the rain
  front reaches stations before their gauges), and the excess decays as radon-progeny washout must once the rain
  has stopped (washout.py), stays under the ceiling washout never exceeds (washout.py: 1.5x the largest published
  rain peak, +100 % of the station's own background or +100 nSv/h, whichever is larger, in heavy rain; scaled down
  as the square root of the rain rate when the rain sensor at the station, its own or a weather station's close by,
  measured lighter rain) and does not stand clearly above rained-on neighbours;
* suspicious: anything else, as soon as it is evident: a rise without rain, an excess above the washout ceiling even
  while it rains, an excess that fails to decay, one far above its rained-on neighbours, a reading at or above full
  scale. The reason says how much of the rise washout explains and that the rest is judged as a possible source.
  A rise whose neighbours rise too, without rain yet, waits up to half an hour for the rain before it is called
  suspicious;
* transient: a rise whose readings were back at background before it could be classified (a burst of counts, a
  vehicle passing): logged, not paged.

A suspicious class that later turns out to be washout (the rain reached the gauges just after the rise began, while
the neighbours rose) is withdrawn, and the reason is logged and kept in ``withdrawals``. A rise that was once beyond
what washout can make never is: heavier rain later, or its excess decaying below the ceiling (a source taken away
while washout lingers), does not make it washout, and it stays suspicious until it ends. Slow rises below the fast
test's reach are gamma_slow.py's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors import gamma_steady
from detectors.conditions import ConditionEvents
from detectors.config import GAMMA, CoreConfig
from detectors.gamma_slow import SLOW_RISE, SlowRiseTest
from detectors.hysteresis import HysteresisState, SortedBatch, step, transitions
from detectors.streams import rank_plan
from detectors.washout import WASHOUT_CAP_FACTOR, WASHOUT_MAX_EXCESS, washout_bound

RISE = "gamma.rise"
RISE_NATURAL = "gamma.rise_natural"
RISE_SUSPICIOUS = "gamma.rise_suspicious"
RISE_TRANSIENT = "gamma.rise_transient"
RISE_SLOW = SLOW_RISE

WARMUP_READINGS = 30
WARMUP_GATE_READINGS = 5  # readings learnt before the warm-up rejects readings far above them
WARMUP_GATE_SIGMA = 6.0  # "far above": 6 sigma of one reading, and at least
WARMUP_GATE_FRACTION = 0.5  # 50 % of the background learnt so far (wider than any counting or radon scatter)
BACKGROUND_ALPHA = 1.0 / 60.0  # about an hour of memory at 60 s reports
SPRT_H = 13.8  # ln(1/alpha) with alpha = 1e-6: ~1 false rise per 10^6 readings with real (non-Poisson) scatter
# One reading's evidence is capped just above half the decision level (a Huber-clipped likelihood ratio): however
# far one reading stands out, a rise needs a second elevated reading. Without the cap a single spike filled the
# CUSUM to its ceiling and the normal readings after it kept it over the level long enough to raise a "rise".
SPRT_ONE_READING = 0.55 * SPRT_H
SMOOTH_ALPHA = 0.2  # the excess used for classification: an EWMA over about five readings
RAIN_MIN_MM_H = 0.5  # rain rate that counts as rain
RAIN_LOOKBACK_S = 2 * 3600.0  # rain up to this long before the rise began explains it (progeny decay)
RAIN_LEAD_S = 15 * 60.0  # rain reaching the gauges this long after the rise began still explains it (with neighbours)
RAIN_END_GRACE_S = 5 * 60.0  # deposition may go on this long after the last gauge report (drizzle, gauge spacing)
DRY_RESET_S = 3 * 3600.0  # three hours after rain the washout is gone: its peak is forgotten
WASHOUT_TOLERANCE = 1.1  # relative slack on the washout bound (the bound is already the slowest physical decay)
WASHOUT_MARGIN = 0.08  # absolute slack, fraction of background (about 3 sigma of the smoothed excess)
NEIGHBOUR_MATCH = 0.15  # an excess within this of a rained-on neighbour's is explained by the same rain
ABOVE_NEIGHBOURS = 0.3  # "clearly above rained-on neighbours": 30 % of background more than twice their excess
NEIGHBOUR_WINDOW_S = 3600.0  # a neighbour's rise within this long of ours counts as "together"
NEIGHBOUR_WAIT_S = 1800.0  # a rise shared with neighbours waits this long for rain before it is suspicious
CLASSIFY_DELAY_S = 600.0  # wait this long into a rise so neighbours and rain gauges can report
WET_S = 3 * 3600.0  # the slow test skips hours with rain this recent
# A washout decays over hours and hovers near the decision level on its way down; hold the alarm this long
# after the evidence is gone so one rise gives one alarm.
RISE_OFF_DELAY_S = 1800.0
_NATURAL = 1
_SUSPICIOUS = 2
_TRANSIENT = 3
_NAMES = {_NATURAL: RISE_NATURAL, _SUSPICIOUS: RISE_SUSPICIOUS, _TRANSIENT: RISE_TRANSIENT}
MAX_WITHDRAWALS_KEPT = 1000
_STEADY = gamma_steady.SteadyConstants(SPRT_H, SPRT_ONE_READING, BACKGROUND_ALPHA, SMOOTH_ALPHA, 1 << 30)
_DERIVED = ("gauges", "rate_gauge")  # GammaDetector's tables made from the configuration (see ``_derive``)

log = logging.getLogger(__name__)


def gauge_table(config: CoreConfig) -> NDArray[np.int32]:
    """Per sensor, the rain gauges to consult (own first, -1 padded): the CSR list, else the nearest gauge."""
    n = config.n_sensors
    off, idx = config.rain_gauge_offsets, config.rain_gauge_index
    counts = np.diff(off) if off.shape[0] == n + 1 else np.zeros(n, np.int32)
    width = max(int(counts.max(initial=0)), 1)
    table = np.full((n, width), -1, np.int32)
    for i in np.flatnonzero(counts):  # config time, not the hot path
        table[i, : counts[i]] = idx[off[i] : off[i + 1]]
    fallback = (counts == 0) & (config.rain_sensor >= 0)
    table[fallback, 0] = config.rain_sensor[fallback]
    return table


@dataclass
class GammaDetector:
    """Poisson-aware rise test per gamma station, its continual rain/washout classification, and the slow test."""

    config: CoreConfig
    background: NDArray[np.float64] = field(init=False)
    variance: NDArray[np.float64] = field(init=False)
    learned: NDArray[np.int32] = field(init=False)
    evidence: NDArray[np.float64] = field(init=False)  # log-likelihood ratio CUSUM
    smooth: NDArray[np.float64] = field(init=False)  # short EWMA of the readings (the excess estimate)
    wet_peak: NDArray[np.float32] = field(init=False)  # largest smoothed excess while it rained (fraction of b)
    # Largest rain rate (mm/h) its rate sensor measured while it rained (inf: it has none; 0: none measured).
    wet_rate: NDArray[np.float32] = field(init=False)
    excess_last: NDArray[np.float32] = field(init=False)  # smoothed excess at the last reading (for neighbours)
    wet_last: NDArray[np.float64] = field(init=False)  # latest rain at the station's gauges, as of its last reading
    rise: HysteresisState = field(init=False)
    rise_start: NDArray[np.float64] = field(init=False)
    rain_at_start: NDArray[np.float64] = field(init=False)  # latest rain at the gauges when the rise began
    first_rain: NDArray[np.float64] = field(init=False)  # first rain seen at the gauges after the rise began
    last_on: NDArray[np.float64] = field(init=False)
    last_off: NDArray[np.float64] = field(init=False)
    classified: NDArray[np.int8] = field(init=False)
    # The rise went beyond what washout can make (ceiling, neighbours, decay, full scale) at some reading: no later
    # rain makes it washout, so its suspicious class stays until the rise ends.
    beyond_washout: NDArray[np.bool_] = field(init=False)
    last_rain: NDArray[np.float64] = field(init=False)  # per rain gauge
    last_rate: NDArray[np.float32] = field(init=False)  # per rain gauge: its latest valid reading (mm/h)
    gauges: NDArray[np.int32] = field(init=False)  # (sensors, k) gauges each station consults, -1 padded
    rate_gauge: NDArray[np.int32] = field(init=False)  # the rain sensor measuring the rate at each station, -1 none
    slow: SlowRiseTest = field(init=False)
    withdrawals: list[tuple[int, float, str]] = field(init=False, default_factory=list)
    reasons: dict[int, str] = field(init=False, default_factory=dict)  # why each sensor's rise has its latest class

    def __post_init__(self) -> None:
        c = self.config
        n = c.n_sensors
        self.background = np.zeros(n)
        self.variance = np.zeros(n)
        self.learned = np.zeros(n, np.int32)
        self.evidence = np.zeros(n)
        self.smooth = np.full(n, np.nan)
        self.wet_peak = np.zeros(n, np.float32)
        self.wet_rate = np.zeros(n, np.float32)
        self.excess_last = np.zeros(n, np.float32)
        self.wet_last = np.full(n, np.nan)
        self.rise = HysteresisState.new(n)
        self.rise_start = np.full(n, np.nan)
        self.rain_at_start = np.full(n, np.nan)
        self.first_rain = np.full(n, np.nan)
        self.last_on = np.full(n, np.nan)
        self.last_off = np.full(n, np.nan)
        self.classified = np.zeros(n, np.int8)
        self.beyond_washout = np.zeros(n, np.bool_)
        self.last_rain = np.full(n, np.nan)
        self.last_rate = np.zeros(n, np.float32)
        self._derive()
        self.slow = SlowRiseTest(c.kind == GAMMA, c.report_interval_s)

    def _derive(self) -> None:
        """The tables that follow from the configuration alone (not carried state: a checkpoint leaves them out)."""
        is_gamma = self.config.kind == GAMMA
        self.gauges = gauge_table(self.config)
        self.gauges[~is_gamma] = -1
        self.rate_gauge = np.where(is_gamma, self.config.rain_rate_sensor, -1).astype(np.int32)

    def __getstate__(self) -> dict[str, Any]:
        # The gauge table is (sensors x most gauges near one station): the largest array here, and configuration.
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._derive()

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (
            self.background,
            self.variance,
            self.learned,
            self.evidence,
            self.smooth,
            self.wet_peak,
            self.wet_rate,
            self.excess_last,
            self.wet_last,
            self.rise_start,
            self.rain_at_start,
            self.first_rain,
            self.last_on,
            self.last_off,
            self.classified,
            self.beyond_washout,
            self.last_rain,
            self.last_rate,
        )
        return sum(int(a.nbytes) for a in arrays) + self.rise.nbytes + self.slow.nbytes

    def _wet_times(
        self,
        batch: SortedBatch,
        rain_sensor: NDArray[np.int32],
        rain_time: NDArray[np.float64],
        rain_order: NDArray[np.intp],
    ) -> NDArray[np.float64]:
        """For each gamma reading, the latest rain at any of its station's gauges at or before it (nan: none), among
        the rain readings that arrived before it (``_arrived_before``)."""
        gauges = self.gauges[batch.sensor]  # (readings, k)
        has = gauges >= 0
        carried = np.where(has, self.last_rain[np.maximum(gauges, 0)], np.nan)
        out: NDArray[np.float64]
        with np.errstate(invalid="ignore"):
            out = np.fmax.reduce(np.where(carried <= batch.time[:, None], carried, np.nan), axis=1, initial=np.nan)
        if rain_sensor.shape[0] == 0 or not has.any():
            return out
        # Rain events are sorted by (gauge, time): one key orders them, so one searchsorted finds the latest.
        t0 = float(min(rain_time.min(), batch.time.min()))
        span = 2.0**32
        keys = rain_sensor.astype(np.float64) * span + (rain_time - t0)
        for j in range(gauges.shape[1]):
            g = gauges[:, j]
            ok = g >= 0
            if not ok.any():
                continue
            q = g[ok].astype(np.float64) * span + (batch.time[ok] - t0)
            pos = _arrived_before(
                np.searchsorted(keys, q, side="right") - 1, rain_sensor, rain_order, g[ok], batch.order[ok]
            )
            found = (pos >= 0) & (rain_sensor[np.maximum(pos, 0)] == g[ok])
            latest = np.where(found, rain_time[np.maximum(pos, 0)], np.nan)
            out[ok] = np.fmax(out[ok], latest)
        return out

    def _station_rates(
        self, batch: SortedBatch, rain: SortedBatch, rain_value: NDArray[np.float64], rain_valid: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """For each gamma reading, the rain rate its station's rate sensor (config.rain_rate_sensor) last reported at
        or before it (inf: the station has none, so the rate there is unknown)."""
        own = self.rate_gauge[batch.sensor]
        has = own >= 0
        out = np.where(has, self.last_rate[np.maximum(own, 0)].astype(np.float64), np.inf)
        g, t, v = rain.sensor[rain_valid], rain.time[rain_valid], rain_value[rain_valid]
        if g.shape[0] == 0 or not has.any():
            return out
        # Same (gauge, time) key as _wet_times: one searchsorted finds each station's latest rate reading.
        t0 = float(min(t.min(), batch.time.min()))
        span = 2.0**32
        keys = g.astype(np.float64) * span + (t - t0)
        q = own[has].astype(np.float64) * span + (batch.time[has] - t0)
        pos = _arrived_before(
            np.searchsorted(keys, q, side="right") - 1, g, rain.order[rain_valid], own[has], batch.order[has]
        )
        found = (pos >= 0) & (g[np.maximum(pos, 0)] == own[has])
        out[has] = np.where(found, v[np.maximum(pos, 0)], out[has])
        return out

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
        raining = rain_valid & (rain_value >= RAIN_MIN_MM_H)
        rain_sensor, rain_time = rain.sensor[raining], rain.time[raining]
        wet_time = self._wet_times(batch, rain_sensor, rain_time, rain.order[raining]) if n else np.zeros(0)
        station_rate = self._station_rates(batch, rain, rain_value, rain_valid) if n else np.zeros(0)
        rate = np.zeros(n)
        evidence = np.zeros(n)
        persist = np.zeros(n, np.bool_)
        excess = np.zeros(n)
        peak = np.zeros(n)
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
        smooth = self.smooth[seg]
        counts_per_unit = np.maximum(c.gamma_cps_per_nsv_h[seg] * c.report_interval_s[seg], 1e-12)
        rise_fraction = c.gamma_rise_fraction[seg]
        steady_state = gamma_steady.SteadyState(background, variance, learned, cusum, smooth)
        with np.errstate(invalid="ignore"):
            dry_all = ~(batch.time - wet_time <= DRY_RESET_S)
        if gamma_steady.applies(value, valid, cens_all, dry_all, steady_state, WARMUP_READINGS, alive):
            # Dry and warmed up: the same recursion without the terms that are constant then (gamma_steady.py).
            steady = gamma_steady.run(starts, alive, value, steady_state, counts_per_unit, rise_fraction, _STEADY)
            evidence, persist, excess = steady.evidence, steady.persist, steady.excess
            tested[:] = True
            rate[:] = np.inf
            self.wet_peak[seg], self.wet_rate[seg] = 0.0, 0.0
        else:
            wet_peak = self.wet_peak[seg].astype(np.float64)
            wet_rate = self.wet_rate[seg].astype(np.float64)
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
                before = cusum[:a]
                llr = np.where(test, np.minimum(delta / var * (x - b - delta / 2.0), SPRT_ONE_READING), 0.0)
                # A lower bound can only add evidence; one above the rise level is conclusive on its own.
                llr = np.where(cens, np.maximum(llr, 0.0), llr)
                e = np.where(test, np.clip(before + llr, 0.0, 2 * SPRT_H), before)
                conclusive = cens & test & (x >= b + delta)
                e = np.where(conclusive, np.maximum(e, SPRT_H), e)
                # Persistence: the evidence before this reading already held more than one reading can give.
                persist[idx] = (before >= SPRT_H / 2) | conclusive
                cusum[:a] = e
                # A source that arrives while a station is still learning its background (a network, or a
                # drill, started in the middle of an event) must not become its background: once a few readings
                # are in, one far above them is counted towards the warm-up but not learnt, so the rise test sees
                # it afterwards.
                rejected = np.zeros(a, np.bool_)
                if warm.any():  # rare after start-up: skip the gate's arithmetic in steady state
                    gate = np.maximum(WARMUP_GATE_SIGMA * np.sqrt(var), WARMUP_GATE_FRACTION * np.maximum(b, 1.0))
                    rejected = warm & (count >= WARMUP_GATE_READINGS) & (x > b + gate)
                learn = ok & ((warm & ~rejected) | ((e < SPRT_H / 4) & (x < b + 3.0 * np.sqrt(var))))
                alpha = np.where(warm, 1.0 / (count + 1.0), BACKGROUND_ALPHA)
                d = x - b
                background[:a] = np.where(learn, b + alpha * d, b)
                variance[:a] = np.where(learn, (1.0 - alpha) * (variance[:a] + alpha * d * d), variance[:a])
                learned[:a] = np.where(learn | (ok & rejected), np.minimum(count + 1, 1 << 30), count)
                sm = np.where(np.isnan(smooth[:a]), x, smooth[:a] + SMOOTH_ALPHA * (x - smooth[:a]))
                smooth[:a] = np.where(ok, sm, smooth[:a])
                ex = np.where(warm, 0.0, smooth[:a] / np.maximum(background[:a], 1.0) - 1.0)
                since_rain = batch.time[idx] - wet_time[idx]
                wet_now = since_rain <= RAIN_END_GRACE_S
                dry_long = ~(since_rain <= DRY_RESET_S)  # also true when it never rained
                wet_peak[:a] = np.where(dry_long, 0.0, np.where(wet_now, np.maximum(wet_peak[:a], ex), wet_peak[:a]))
                # The heaviest rain the station's rate sensor measured while it rained sets how much washout can
                # add. A sensor that saw no rain while the gauges around did (a blocked funnel, a shower's edge)
                # says nothing sure about the rain at the station: its rate is unknown there, as without a sensor.
                wr = np.where(wet_now, np.maximum(wet_rate[:a], station_rate[idx]), wet_rate[:a])
                wet_rate[:a] = np.where(dry_long, 0.0, wr)
                rate[idx] = np.where(wet_rate[:a] > 0.0, wet_rate[:a], np.inf)
                evidence[idx] = e
                tested[idx] = test
                excess[idx] = ex
                peak[idx] = wet_peak[:a]
            self.wet_peak[seg], self.wet_rate[seg] = wet_peak.astype(np.float32), wet_rate.astype(np.float32)
        self.background[seg], self.variance[seg], self.learned[seg], self.evidence[seg] = (
            background,
            variance,
            learned,
            cusum,
        )
        self.smooth[seg] = smooth

        # The decision level reached with evidence from more than one reading (persistence), or one conclusive
        # censored reading.
        on = tested & (evidence >= SPRT_H) & persist
        off = valid & (evidence < SPRT_H / 2)
        zero = np.zeros(c.n_sensors)
        before_active = self.rise.active.copy()
        off_delay = np.maximum(RISE_OFF_DELAY_S, 2 * c.report_interval_s)
        active = step(batch, on, off, zero, off_delay, self.rise)
        change = transitions(batch, active, before_active)
        rise_events = ConditionEvents(
            RISE,
            batch.sensor[change],
            batch.time[change],
            active[change],
            value[change],
            self.background[batch.sensor[change]] * (1 + c.gamma_rise_fraction[batch.sensor[change]]),
            cens_all[change] if cens_all[change].any() else None,
        )
        readings = _Readings(value, valid | cens_all, cens_all, evidence, excess, peak, wet_time, rate)
        classes = self._classify(batch, readings, active, change)
        if n:
            ends = batch.is_last
            self.excess_last[batch.sensor[ends]] = excess[ends]
            self.wet_last[batch.sensor[ends]] = np.fmax(self.wet_last[batch.sensor[ends]], wet_time[ends])
        if rain_sensor.shape[0]:
            np.fmax.at(self.last_rain, rain_sensor, rain_time)
        if rain_valid.any():  # sorted by (gauge, time): the last valid reading of each gauge is its latest
            g = rain.sensor[rain_valid]
            last = np.append(g[1:] != g[:-1], True)
            self.last_rate[g[last]] = rain_value[rain_valid][last]
        with np.errstate(invalid="ignore"):
            wet = batch.time - wet_time <= WET_S
        slow = self.slow.process(batch, value, valid, wet)
        score = np.where(tested, np.clip(evidence / SPRT_H, 0.0, 1.0), 0.0)
        return score, [rise_events, *classes, slow]

    def _classify(
        self, batch: SortedBatch, r: _Readings, active: NDArray[np.bool_], change: NDArray[np.intp]
    ) -> list[ConditionEvents]:
        """Classify every rise at each of its readings from ``CLASSIFY_DELAY_S`` on (at once at a reading at or above
        full scale); clear the class with the rise."""
        c = self.config
        s = batch.sensor
        t = batch.time
        n = s.shape[0]
        changed = np.zeros(n, np.bool_)
        changed[change] = True
        # Start time of the rise each reading belongs to.
        is_on = changed & active
        idx = np.arange(n)
        last_on_idx = np.maximum.accumulate(np.where(is_on, idx, -1)) if n else idx
        in_segment = last_on_idx >= batch.segment_first
        start = np.where(in_segment, t[np.where(in_segment, last_on_idx, 0)], self.rise_start[s])
        # A reading at or above full scale, or an excess beyond what washout adds in the heaviest rain, needs no wait
        # for gauges or neighbours: nothing they report can make it washout. (The lowest such ceiling first, as a
        # cheap filter; _decide checks the station's own.)
        early = active & r.usable & (t - start < CLASSIFY_DELAY_S)
        beyond_any = early & (r.censored | (r.excess > WASHOUT_CAP_FACTOR * WASHOUT_MAX_EXCESS + WASHOUT_MARGIN))
        due = (active & r.usable & ~early) | beyond_any
        points = np.flatnonzero(changed | due)
        if points.shape[0] == 0:
            return []
        # Rise transitions in this batch, per sensor, in time order (they are rare: plain Python is fine).
        # (time, arrival position in the batch): a decision reads only what arrived before its reading, so any cut
        # of the stream into batches decides the same (readings of one time step arrive one after another).
        ons: dict[int, list[tuple[float, int]]] = {}
        offs: dict[int, list[tuple[float, int]]] = {}
        arrival = batch.order
        for i in change:
            (ons if active[i] else offs).setdefault(int(s[i]), []).append((float(t[i]), int(arrival[i])))
        segments = {int(s[a]): (int(a), int(b)) for a, b in _segment_bounds(batch)}
        # Neighbours' rise times as they stood before this batch (the loop below moves them on, sensor by sensor,
        # so reading them there would let a neighbour's later transitions leak into an earlier decision).
        on_before, off_before = self.last_on.copy(), self.last_off.copy()

        def rising(j: int, at: float, since: float, before: int) -> bool:
            k_on = max((x for x, o in ons.get(j, []) if x <= at and o < before), default=float(on_before[j]))
            k_off = max((x for x, o in offs.get(j, []) if x <= at and o < before), default=float(off_before[j]))
            return bool(k_on <= at and (not k_off >= k_on or k_off >= since - NEIGHBOUR_WINDOW_S))

        def neighbour_state(j: int, at: float, before: int) -> tuple[float, float]:
            """(smoothed excess, latest rain at its gauges) of station j as of ``at``, from what arrived ``before``."""
            bounds = segments.get(j)
            if bounds is not None:
                a, b = bounds
                pos = a + int(np.searchsorted(t[a:b], at, side="right")) - 1
                while pos >= a and arrival[pos] > before:
                    pos -= 1
                if pos >= a:
                    return float(r.excess[pos]), float(r.wet_time[pos])
            return float(self.excess_last[j]), float(self.wet_last[j])

        out: dict[int, list[_Row]] = {_NATURAL: [], _SUSPICIOUS: [], _TRANSIENT: []}
        for i in points:
            j = int(s[i])
            ti = float(t[i])
            if changed[i] and active[i]:
                self.rise_start[j] = ti
                self.last_on[j] = ti
                self.rain_at_start[j] = r.wet_time[i]
                self.first_rain[j] = np.nan
                self.beyond_washout[j] = False
                if not r.censored[i]:
                    continue
            elif changed[i]:  # the rise ended: clear its class
                self.last_off[j] = ti
                self.rise_start[j] = np.nan
                self.beyond_washout[j] = False
                if self.classified[j]:
                    out[int(self.classified[j])].append((j, ti, False, float(r.value[i]), np.nan))
                    self.classified[j] = 0
                continue
            rise_start = float(start[i])
            wet_t = float(r.wet_time[i])
            if wet_t > rise_start and np.isnan(self.first_rain[j]):
                self.first_rain[j] = wet_t
            neighbours = c.neighbour_index[c.neighbour_offsets[j] : c.neighbour_offsets[j + 1]]
            kind, reason, explained = self._decide(
                int(i), j, ti, int(arrival[i]), rise_start, r, neighbours, rising, neighbour_state
            )
            if kind == _SUSPICIOUS and (bool(r.censored[i]) or not np.isnan(explained)):
                self.beyond_washout[j] = True
            old = int(self.classified[j])
            if kind in (old, 0):
                continue
            if old == _SUSPICIOUS and kind == _NATURAL and self.beyond_washout[j]:
                continue  # it was beyond washout: heavier rain since, or a decay to below the ceiling, cannot undo that
            if old == _TRANSIENT:
                continue  # a transient stays one until its rise ends (a new rise gets a new class)
            if old:
                out[old].append((j, ti, False, float(r.value[i]), np.nan))
            if old == _SUSPICIOUS and kind == _NATURAL:
                self._withdraw(j, ti, reason)
            self.classified[j] = kind
            self.reasons[j] = reason
            if kind == _SUSPICIOUS:
                log.info("gamma sensor %d: rise suspicious at %.0f: %s", j, ti, reason)
            # A suspicious rise beyond washout carries the dose rate washout explains as its level.
            level = float(self.background[j]) * (1.0 + explained)
            out[kind].append((j, ti, True, float(r.value[i]), level))
        return [_events(_NAMES[k], rows) for k, rows in out.items() if rows]

    def _decide(
        self,
        i: int,
        j: int,
        ti: float,
        before: int,
        rise_start: float,
        r: _Readings,
        neighbours: NDArray[np.int32],
        rising: _Rising,
        neighbour_state: _NeighbourState,
    ) -> tuple[int, str, float]:
        """The class a rise has at reading ``i`` (0: not decided yet), why, and the excess (fraction of background)
        that washout explains when the rise goes beyond it (nan otherwise)."""
        b = float(self.background[j])
        heaviest = washout_bound(0.0, 0.0, WASHOUT_TOLERANCE, WASHOUT_MARGIN, b)
        # A reading at or above full scale is a lower bound: conclusive when even that is beyond any washout; a
        # saturation flag on a reading near background says nothing the readings around it do not.
        if r.censored[i] and float(r.value[i]) / max(b, 1.0) - 1.0 > heaviest:
            return _SUSPICIOUS, "at or above full scale: no washout comes near", np.nan
        excess = float(r.excess[i])
        if excess > heaviest:
            return _SUSPICIOUS, _beyond(excess, heaviest, b, "washout in the heaviest rain adds"), heaviest
        if ti - rise_start < CLASSIFY_DELAY_S:
            return 0, "waiting for the gauges and neighbours", np.nan
        wet_t = float(r.wet_time[i])
        together = sum(rising(int(k), ti, rise_start, before) for k in neighbours)
        rained_before = bool(self.rain_at_start[j] >= rise_start - RAIN_LOOKBACK_S)
        first_rain = float(self.first_rain[j])
        rained_just_after = bool(first_rain - rise_start <= RAIN_LEAD_S) and (together > 0 or neighbours.shape[0] == 0)
        if rained_before or rained_just_after:
            peak = float(r.peak[i])
            rate = float(r.rate[i])
            # Washout has a ceiling (washout.py), lower in lighter rain: whatever the rain and the neighbours, a rise
            # above it is not all washout, and the part above is judged as a possible source (so is fallout rained
            # out network-wide).
            ceiling = washout_bound(peak, 0.0, WASHOUT_TOLERANCE, WASHOUT_MARGIN, b, rate)
            if excess > ceiling:
                return _SUSPICIOUS, _beyond(excess, ceiling, b, f"washout {_in_rain(rate)} adds"), ceiling
            wet_neighbours = []
            for k in neighbours:
                k_excess, k_wet = neighbour_state(int(k), ti, before)
                if k_wet >= ti - RAIN_LOOKBACK_S:
                    wet_neighbours.append(k_excess)
            above = excess - max(wet_neighbours) if wet_neighbours else np.inf
            if wet_neighbours and excess > ABOVE_NEIGHBOURS + 2.0 * max(*wet_neighbours, 0.0):
                shared = ABOVE_NEIGHBOURS + 2.0 * max(*wet_neighbours, 0.0)
                why = f"rained-on neighbours rise only {max(wet_neighbours):.0%}, the same rain explains"
                return _SUSPICIOUS, _beyond(excess, shared, b, why), shared
            dry_for = ti - wet_t
            # A gauge a few km off may see the rain end before the station does; rained-on neighbours still as
            # high as this station show that, so only an excess above theirs can fail the decay test.
            if dry_for > RAIN_END_GRACE_S and above > NEIGHBOUR_MATCH:
                bound = washout_bound(peak, dry_for - RAIN_END_GRACE_S, WASHOUT_TOLERANCE, WASHOUT_MARGIN, b, rate)
                if excess > bound:
                    why = f"{dry_for / 60:.0f} min after the rain, the progeny decay leaves washout"
                    return _SUSPICIOUS, _beyond(excess, bound, b, why), bound
            lead = "" if rained_before else f", rain reached the gauges {(first_rain - rise_start) / 60:.0f} min later"
            reason = f"washout: rain at the gauges{lead}, {together} neighbour(s) rising, decay consistent"
            return _NATURAL, reason, np.nan
        if r.evidence[i] < SPRT_H / 2 and not self.classified[j]:
            return _TRANSIENT, "readings back at background before the rise could be classified", np.nan
        if together and ti - rise_start < NEIGHBOUR_WAIT_S:
            return 0, "neighbours rising: waiting for rain at the gauges", np.nan
        return _SUSPICIOUS, "no rain at the station's gauges" + (", neighbours rising too" if together else ""), np.nan

    def _withdraw(self, sensor: int, time: float, reason: str) -> None:
        """Record (and log) why a suspicious class was withdrawn."""
        log.info("gamma sensor %d: suspicious class withdrawn at %.0f: %s", sensor, time, reason)
        self.withdrawals.append((sensor, time, reason))
        del self.withdrawals[:-MAX_WITHDRAWALS_KEPT]


@dataclass(frozen=True, slots=True)
class _Readings:
    """Per-reading quantities the classifier needs (sorted order)."""

    value: NDArray[np.float64]
    usable: NDArray[np.bool_]  # valid or censored
    censored: NDArray[np.bool_]
    evidence: NDArray[np.float64]
    excess: NDArray[np.float64]  # smoothed excess, fraction of background
    peak: NDArray[np.float64]  # largest smoothed excess while it rained
    wet_time: NDArray[np.float64]  # latest rain at the station's gauges
    rate: NDArray[np.float64]  # heaviest rain (mm/h) at the station's rate sensor while it rained (inf: unknown)


_Rising = Callable[[int, float, float, int], bool]
_NeighbourState = Callable[[int, float, int], tuple[float, float]]


def _arrived_before(
    pos: NDArray[np.intp],
    sensor: NDArray[np.int32],
    order: NDArray[np.intp],
    wanted: NDArray[np.int32],
    before: NDArray[np.intp],
) -> NDArray[np.intp]:
    """Step each found position ``pos`` (the latest reading of sensor ``wanted`` at or before a time, in a batch
    sorted by sensor and time) back past readings that arrived after the reading asking (``order`` > ``before``):
    a rain reading of the same minute that comes later in the batch is not yet known, as it would not be had the
    batch been cut between them. Rarely more than one step."""
    pos = pos.copy()
    while True:
        ok = pos >= 0
        late = np.zeros(pos.shape, np.bool_)
        late[ok] = (sensor[pos[ok]] == wanted[ok]) & (order[pos[ok]] > before[ok])
        if not late.any():
            return pos
        pos[late] -= 1


def _segment_bounds(batch: SortedBatch) -> list[tuple[int, int]]:
    """(first, end) sorted-order index range of each sensor's readings."""
    starts = batch.segment_starts
    ends = np.append(starts[1:], batch.sensor.shape[0])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _in_rain(rate_mm_h: float) -> str:
    """How the reason names the rain the washout ceiling was set by."""
    if not rate_mm_h < np.inf:
        return "in rain of unknown rate at the station (heavy rain assumed)"
    return f"in rain of at most {rate_mm_h:.1f} mm/h at the station"


def _beyond(excess: float, bound: float, background: float, why: str) -> str:
    """The reason for a rise that goes beyond what washout (or the shared rain) explains, in % and nSv/h."""
    return (
        f"excess {excess:.0%} ({excess * background:.0f} nSv/h) over background; {why} at most {bound:.0%} "
        f"({bound * background:.0f} nSv/h): the {(excess - bound) * background:.0f} nSv/h above that is not washout "
        "and is judged as a possible source"
    )


_Row = tuple[int, float, bool, float, float]  # (sensor, time, active, value, level)


def _events(name: str, rows: list[_Row]) -> ConditionEvents:
    sensor, time, active, value, level = zip(*rows, strict=True)
    return ConditionEvents(
        name,
        np.asarray(sensor, np.int32),
        np.asarray(time, np.float64),
        np.asarray(active, np.bool_),
        np.asarray(value, np.float64),
        np.asarray(level, np.float64),
    )
