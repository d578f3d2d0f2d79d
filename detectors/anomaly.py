"""Anomalies against each sensor's own learned baseline: spikes (robust z), shifts (CUSUM), drifts (Page-Hinkley).

The baseline is an exponentially weighted mean and variance. It is frozen while any test sees evidence of
an anomaly, so an ongoing anomaly is never learned as the new normal.
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

WARMUP_READINGS = 30  # readings learned before any test may alarm
ALPHA = 0.02  # baseline weight of a new reading (about 50 readings of memory)
Z_SPIKE = 6.0  # a reading this many sigmas off is a spike
Z_GATE = 3.0  # readings further off than this are not learned
Z_CLIP = 4.0  # one wild reading adds at most this much to the shift CUSUM
SHIFT_K = 0.5  # CUSUM reference: detects shifts of about one sigma
SHIFT_H = 8.0
DRIFT_K = 0.05  # Page-Hinkley tolerance: slow, small persistent changes
DRIFT_CLIP = 1.0  # a drift is small; larger departures are the shift test's business
DRIFT_H = 25.0


@dataclass
class AnomalyDetector:
    """Per-sensor EWMA baseline with spike, shift and drift tests."""

    config: CoreConfig
    mean: NDArray[np.float64] = field(init=False)
    var: NDArray[np.float64] = field(init=False)
    learned: NDArray[np.int32] = field(init=False)
    cusum_up: NDArray[np.float64] = field(init=False)
    cusum_down: NDArray[np.float64] = field(init=False)
    drift_up: NDArray[np.float64] = field(init=False)
    drift_down: NDArray[np.float64] = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)

    def __post_init__(self) -> None:
        n = self.config.n_sensors
        self.mean = np.zeros(n)
        self.var = np.zeros(n)
        self.learned = np.zeros(n, np.int32)
        self.cusum_up = np.zeros(n)
        self.cusum_down = np.zeros(n)
        self.drift_up = np.zeros(n)
        self.drift_down = np.zeros(n)
        self.states = {name: HysteresisState.new(n) for name in (SPIKE, SHIFT, DRIFT)}

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        arrays = (self.mean, self.var, self.learned, self.cusum_up, self.cusum_down, self.drift_up, self.drift_down)
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
        up, down, d_up, d_down = self.cusum_up[seg], self.cusum_down[seg], self.drift_up[seg], self.drift_down[seg]
        floor = self.config.sigma_floor[seg]
        for k, a in enumerate(alive):
            idx = starts[:a] + k
            x = value[idx]
            ok = valid[idx]
            m, v, count = mean[:a], var[:a], learned[:a]
            sd = np.maximum(np.sqrt(v), floor[:a])
            warm = count < WARMUP_READINGS
            with np.errstate(divide="ignore", invalid="ignore"):
                zi = (x - m) / sd
            zi[~(ok & (count > 0) & np.isfinite(zi))] = 0.0
            test = ok & ~warm
            zc = np.clip(zi, -Z_CLIP, Z_CLIP)
            zd = np.clip(zi, -DRIFT_CLIP, DRIFT_CLIP)
            u = np.where(test, np.clip(up[:a] + zc - SHIFT_K, 0.0, 2 * SHIFT_H), up[:a])
            dn = np.where(test, np.clip(down[:a] - zc - SHIFT_K, 0.0, 2 * SHIFT_H), down[:a])
            du = np.where(test, np.clip(d_up[:a] + zd - DRIFT_K, 0.0, 2 * DRIFT_H), d_up[:a])
            dd = np.where(test, np.clip(d_down[:a] - zd - DRIFT_K, 0.0, 2 * DRIFT_H), d_down[:a])
            shift = np.maximum(u, dn)
            drift = np.maximum(du, dd)
            quiet = (np.abs(zi) < Z_GATE) & (shift < SHIFT_H / 2) & (drift < DRIFT_H / 2)
            learn = ok & (warm | quiet)
            alpha = np.where(warm, 1.0 / (count + 1.0), ALPHA)
            delta = x - m
            mean[:a] = np.where(learn, m + alpha * delta, m)
            var[:a] = np.where(learn, (1.0 - alpha) * (v + alpha * delta * delta), v)
            learned[:a] = np.where(learn, np.minimum(count + 1, 1 << 30), count)
            up[:a], down[:a], d_up[:a], d_down[:a] = u, dn, du, dd
            z[idx] = zi
            shift_stat[idx] = shift
            drift_stat[idx] = drift
            scored[idx] = test
        self.mean[seg], self.var[seg], self.learned[seg] = mean, var, learned
        self.cusum_up[seg], self.cusum_down[seg], self.drift_up[seg], self.drift_down[seg] = up, down, d_up, d_down

        c = self.config
        interval = c.report_interval_s
        zero = np.zeros(c.n_sensors)
        abs_z = np.abs(z)
        nan = np.full(n, np.nan)
        spike_on = scored & (abs_z >= Z_SPIKE)
        shift_on = scored & (shift_stat >= SHIFT_H)
        drift_on = scored & (drift_stat >= DRIFT_H) & ~shift_on
        events = [
            # Held for a few intervals after the last spiky reading so one event gives one alarm.
            debounce(
                SPIKE, batch, spike_on, valid & (abs_z < Z_SPIKE), zero, 10 * interval, self.states[SPIKE], value, nan
            ),
            debounce(
                SHIFT,
                batch,
                shift_on,
                valid & (shift_stat < SHIFT_H / 2),
                zero,
                5 * interval,
                self.states[SHIFT],
                value,
                nan,
            ),
            debounce(
                DRIFT,
                batch,
                drift_on,
                valid & (drift_stat < DRIFT_H / 2),
                zero,
                5 * interval,
                self.states[DRIFT],
                value,
                nan,
            ),
        ]
        score = np.where(
            scored, np.clip(np.maximum.reduce([abs_z / Z_SPIKE, shift_stat / SHIFT_H, drift_stat / DRIFT_H]), 0, 1), 0.0
        )
        return score, events
