"""Anomalies against each sensor's own learned baseline: spikes (z-score), shifts (CUSUM), drifts (slow reference).

The baseline is an exponentially weighted mean and variance (about 100 readings of memory). A reading more
than ``Z_GATE`` sigmas off is never learned, and nothing is learned while the shift test is in alarm, so an
ongoing anomaly does not become the new normal. (Freezing earlier, on half-way evidence, locks in an
estimate that happens to be off and turns noise into alarms; learning until the alarm keeps the false-alarm
rate at the CUSUM's design value.)

Drift is a change too slow for the CUSUM, which the baseline would follow: it is measured as the distance,
in sigmas, between the baseline and a much slower reference level (about 2,000 readings of memory) that
stops learning while a drift is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.streams import debounce, rank_plan

SPIKE = "anomaly.spike"
SHIFT = "anomaly.shift"
DRIFT = "anomaly.drift"

WARMUP_READINGS = 100  # readings averaged before any test may alarm (baseline error ~ 0.1 sigma)
ALPHA = 0.01  # baseline weight of a new reading
REFERENCE_ALPHA = 0.0005  # slow reference level for the drift test
Z_SPIKE = 6.0  # a reading this many sigmas off is a spike
Z_GATE = 3.0  # readings further off than this are not learned
Z_CLIP = 4.0  # one wild reading adds at most this much to the shift CUSUM
# Two-sided CUSUM with reference k = 0.5 sigma and decision level h = 15: in-control run length of about
# 2 x 10^7 readings per side (Siegmund's approximation; about 10^6 measured with the estimated baseline),
# a 2-sigma shift is found in about 10 readings, a 1-sigma shift in about 30.
SHIFT_K = 0.5
SHIFT_H = 15.0
DRIFT_SIGMAS = 0.75  # baseline this many sigmas from the reference: drift (its noise is ~0.07 sigma)
DRIFT_CLEAR_SIGMAS = 0.4


@dataclass
class AnomalyDetector:
    """Per-sensor EWMA baseline with spike, shift and drift tests."""

    config: CoreConfig
    mean: NDArray[np.float64] = field(init=False)
    var: NDArray[np.float64] = field(init=False)
    learned: NDArray[np.int32] = field(init=False)
    cusum_up: NDArray[np.float64] = field(init=False)
    cusum_down: NDArray[np.float64] = field(init=False)
    reference: NDArray[np.float64] = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)

    def __post_init__(self) -> None:
        n = self.config.n_sensors
        self.mean = np.zeros(n)
        self.var = np.zeros(n)
        self.learned = np.zeros(n, np.int32)
        self.cusum_up = np.zeros(n)
        self.cusum_down = np.zeros(n)
        self.reference = np.zeros(n)
        self.states = {name: HysteresisState.new(n) for name in (SPIKE, SHIFT, DRIFT)}

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (self.mean, self.var, self.learned, self.cusum_up, self.cusum_down, self.reference)
        return sum(a.nbytes for a in arrays) + sum(s.nbytes for s in self.states.values())

    def process(
        self, batch: SortedBatch, value: NDArray[np.float64], valid: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float64], list[ConditionEvents]]:
        """Score each reading (0..1, 1 = at an alarm threshold) and return the anomaly transitions.

        ``batch`` holds only sensors with anomaly tests enabled; arrays are in its sorted order.
        """
        n = value.shape[0]
        z = np.zeros(n)
        shift_stat = np.zeros(n)
        drift_stat = np.zeros(n)
        scored = np.zeros(n, np.bool_)
        starts, alive = rank_plan(batch)
        # Per-segment copies of the state, longest segment first: step k works on a contiguous prefix.
        seg = batch.sensor[starts]
        mean, var, learned = self.mean[seg], self.var[seg], self.learned[seg]
        up, down, reference = self.cusum_up[seg], self.cusum_down[seg], self.reference[seg]
        floor = self.config.sigma_floor[seg]
        for k, a in enumerate(alive):
            idx = starts[:a] + k
            x = value[idx]
            ok = valid[idx]
            m, v, count, ref = mean[:a], var[:a], learned[:a], reference[:a]
            sd = np.maximum(np.sqrt(v), floor[:a])
            warm = count < WARMUP_READINGS
            with np.errstate(divide="ignore", invalid="ignore"):
                zi = (x - m) / sd
                drift = np.abs(m - ref) / sd
            zi[~(ok & (count > 0) & np.isfinite(zi))] = 0.0
            drift[~np.isfinite(drift)] = 0.0
            test = ok & ~warm
            # np.minimum/np.maximum: np.clip's Python wrapper costs more than the arithmetic on these small arrays.
            zc = np.minimum(np.maximum(zi, -Z_CLIP), Z_CLIP)
            u = np.where(test, np.minimum(np.maximum(up[:a] + zc - SHIFT_K, 0.0), 2 * SHIFT_H), up[:a])
            dn = np.where(test, np.minimum(np.maximum(down[:a] - zc - SHIFT_K, 0.0), 2 * SHIFT_H), down[:a])
            shift = np.maximum(u, dn)
            learn = ok & (warm | ((np.abs(zi) < Z_GATE) & (shift < SHIFT_H)))
            alpha = np.where(warm, 1.0 / (count + 1.0), ALPHA)
            delta = x - m
            mean[:a] = np.where(learn, m + alpha * delta, m)
            var[:a] = np.where(learn, (1.0 - alpha) * (v + alpha * delta * delta), v)
            learn_reference = learn & (warm | (drift < DRIFT_SIGMAS))
            reference[:a] = np.where(learn_reference, ref + np.where(warm, alpha, REFERENCE_ALPHA) * (x - ref), ref)
            learned[:a] = np.where(learn, np.minimum(count + 1, 1 << 30), count)
            up[:a], down[:a] = u, dn
            z[idx] = zi
            shift_stat[idx] = shift
            drift_stat[idx] = np.where(test, drift, 0.0)
            scored[idx] = test
        self.mean[seg], self.var[seg], self.learned[seg] = mean, var, learned
        self.cusum_up[seg], self.cusum_down[seg], self.reference[seg] = up, down, reference

        c = self.config
        interval = c.report_interval_s
        zero = np.zeros(c.n_sensors)
        abs_z = np.abs(z)
        nan = np.full(n, np.nan)
        spike_on = scored & (abs_z >= Z_SPIKE)
        shift_on = scored & (shift_stat >= SHIFT_H)
        drift_on = scored & (drift_stat >= DRIFT_SIGMAS)
        spike_off = valid & (abs_z < Z_SPIKE)
        shift_off = valid & (shift_stat < SHIFT_H / 2)
        drift_off = valid & (drift_stat < DRIFT_CLEAR_SIGMAS)
        events = [
            # Held for a few intervals after the last spiky reading so one event gives one alarm.
            debounce(SPIKE, batch, spike_on, spike_off, zero, 10 * interval, self.states[SPIKE], value, nan),
            debounce(SHIFT, batch, shift_on, shift_off, zero, 5 * interval, self.states[SHIFT], value, nan),
            debounce(DRIFT, batch, drift_on, drift_off, zero, 5 * interval, self.states[DRIFT], value, nan),
        ]
        ratios = np.maximum(np.maximum(abs_z / Z_SPIKE, shift_stat / SHIFT_H), drift_stat / DRIFT_SIGMAS)
        score = np.where(scored, np.clip(ratios, 0.0, 1.0), 0.0)
        return score, events
