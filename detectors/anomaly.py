"""Anomalies against each sensor's own learned model: spikes, shifts and drifts, with autocorrelation built in.

Many channels are autocorrelated (temperature, flow, pressure, battery voltage): an EWMA baseline tested
as if readings were independent alarms on them about half the time. Each sensor therefore carries an
online AR(1) model (Box & Jenkins, *Time Series Analysis*, ch. 3): an exponentially weighted mean, lag-0
and lag-1 autocovariances (about 100 readings of memory), phi = c1 / c0. Readings are prewhitened into
one-step prediction errors ``e = (x - m) - phi (x_prev - m)`` whose scale ``s`` is a Huber-type
exponentially weighted mean absolute error (a wild reading adds at most ``Z_GATE`` scales to it).

- spike: ``|e| / s`` at least ``Z_SPIKE``: one reading the model could not predict.
- shift: a two-sided CUSUM (Page 1954) on the level deviation ``x - m`` in units of the *long-run*
  standard deviation ``s / (1 - phi)`` (the standard deviation of a sum of AR(1) deviations per reading),
  so correlated noise walks as far as independent noise would and keeps the CUSUM's design run length.
- drift: the baseline's distance from a much slower reference level, in standard errors of that distance (the
  reference is young and uncertain after the warm-up, settled later).

Nothing is learned from a reading beyond ``Z_GATE`` scales, nor while the shift test is in alarm, so an
ongoing change is not learned away. A shift or drift that has lasted ``anomaly_rebaseline_s`` becomes the
new normal: the baseline restarts at the mean level seen during the alarm, the alarm clears and an
``anomaly.new_normal`` event says so; one change gives one episode.

The per-reading score is evidence of a *new* anomaly: the recent prediction surprise (an EWMA of ``|e|/s``)
against its own long-run distribution, as a normal tail probability in decades (the "anomaly likelihood"
of Ahmad et al., Neurocomputing 262 (2017) 134-147); 1 is ``ALARM_DECADES`` decades, the alarm level. After
an onset the score stays 0 for ``anomaly_hold_s``, so one event is reported once.

Long single-sensor runs (back-tests of one series) are computed along time. Given which readings are gated,
in shift alarm or in drift alarm, every recursion is linear: the baseline, autocovariances and reference are
``scipy.signal.lfilter`` over the readings they learn from, the scale a linear scan, the CUSUMs walks between
two barriers (running sums less running extremes). Those regimes are guessed (first all quiet, then what the
previous pass found), a pass confirms the readings up to its first wrong guess, and the next pass starts
there; warm-up and re-baselines are stepped exactly like the rank-by-rank path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from numpy.typing import NDArray
from scipy.special import log_ndtr

from detectors.conditions import ConditionEvents
from detectors.config import CoreConfig
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.streams import debounce, rank_plan

SPIKE = "anomaly.spike"
SHIFT = "anomaly.shift"
DRIFT = "anomaly.drift"
NEW_NORMAL = "anomaly.new_normal"

WARMUP_READINGS = 100  # readings averaged before any test may alarm (baseline error ~ 0.1 sigma)
ALPHA = 0.01  # baseline weight of a new reading
# The autocovariances learn ten times slower than the baseline: a level shift seen through a fast AR fit
# looks like strong autocorrelation, which would widen the long-run scale and hide the shift.
COV_ALPHA = 0.001
REFERENCE_ALPHA = 0.0005  # slow reference level for the drift test
PHI_MAX = 0.98  # beyond this an AR(1) is a random walk and the long-run scale would explode
Z_SPIKE = 6.0  # a prediction error this many scales off is a spike
Z_GATE = 4.0  # readings further off than this are not learned
Z_CLIP = 4.0  # one wild reading adds at most this much to the shift CUSUM
MAE_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean absolute deviation to standard deviation for normal errors
# Two-sided CUSUM with reference k = 0.5 and decision level h = 15 (long-run sigmas): in-control run length
# of about 2 x 10^7 readings per side (Siegmund's approximation), a 2-sigma shift found in about 10 readings.
SHIFT_K = 0.5
SHIFT_H = 15.0
# Drift: the baseline's distance from the slow reference, in standard errors of that distance (both are
# exponentially weighted means of the same series, so their difference, in long-run sigmas, has the variance
# ALPHA / 2 of the baseline plus the reference's: 1 / WARMUP_READINGS at the end of the warm-up, decaying with the
# reference's weight towards REFERENCE_ALPHA / 2). The baseline follows a level change the shift CUSUM cannot
# win the race against (on AR(1) noise with phi = 0.9 a lasting step of two marginal sigmas is 0.46 long-run
# sigmas, under the CUSUM's k = 0.5); the drift test finds it, in one to three hundred readings, at 5.5 standard
# errors (0.40 long-run sigmas once the reference has settled, 0.67 just after the warm-up, when it is young).
DRIFT_SIGMAS = 5.5
DRIFT_CLEAR_SIGMAS = 2.75
# Evidence score: surprise r = min(|e|/s, SURPRISE_CAP), its short EWMA against the long-run mean and
# variance of that EWMA. Priors are the values for normal errors: E|Z| = sqrt(2/pi), and the variance of an
# EWMA with weight a of |Z| is (1 - 2/pi) a / (2 - a).
SURPRISE_CAP = 10.0
SURPRISE_ALPHA = 0.1
SURPRISE_LONG_ALPHA = 0.001
SURPRISE_PRIOR_MEAN = float(np.sqrt(2.0 / np.pi))
SURPRISE_PRIOR_VAR = (1.0 - 2.0 / np.pi) * SURPRISE_ALPHA / (2.0 - SURPRISE_ALPHA)
ALARM_DECADES = 5.0  # tail probability 1e-5 of the recent surprise: score 1
EVIDENCE_FROM = 1.0  # standard deviations of the recent surprise above its mean before it counts as evidence
LONG_SEGMENT = 512  # a sensor with this many readings in one batch is computed along time
FIRST_PASS = 1 << 14  # readings the first pass along time covers (it finds every reading's regime once)
PASS_WINDOW = 256  # readings a pass covers after one that ended at its first wrong guess of a regime
STRETCH = 1 << 14  # the longest pass (each pass that confirms its whole window doubles the next)
BURST_AHEAD = 32  # readings after a new gated one guessed from the model as it stood
_LN10 = float(np.log(10.0))
# A back-test makes thousands of passes, most over a few hundred readings, where numpy's fixed cost per call is
# most of the cost. A ufunc reduction (or the ndarray methods .any(), .max(), that wrap one) costs about 2 us
# whatever its length on numpy 2.x, count_nonzero a sixth of that; a running sum is cheaper as add.accumulate
# than as .cumsum(). Tests of masks therefore count, and the maxima below are of two rows, made elementwise.


def _any(mask: NDArray[np.bool_]) -> bool:
    """Whether any element of ``mask`` holds."""
    return int(np.count_nonzero(mask)) != 0


def _every(mask: NDArray[np.bool_]) -> bool:
    """Whether every element of ``mask`` holds."""
    return int(np.count_nonzero(mask)) == mask.size


_running_sum = np.add.accumulate

# Columns of the per-sensor state matrix.
(
    COUNT,
    MEAN,
    C0,
    C1,
    LAST_DEV,
    SCALE,
    UP,
    DOWN,
    REFERENCE,
    SHORT,
    LONG_MEAN,
    LONG_VAR,
    HOLD_UNTIL,
    ALARM_SINCE,
    ALARM_MEAN,
    ALARM_COUNT,
) = range(16)
N_STATE = 16


@dataclass(slots=True)
class StepOut:
    """Per-reading outputs of the model (arrays over the readings of one step or run)."""

    z: NDArray[np.float64]
    shift: NDArray[np.float64]
    drift: NDArray[np.float64]
    score: NDArray[np.float64]
    tested: NDArray[np.bool_]
    rebased: NDArray[np.bool_]


def initial_state(n: int) -> NDArray[np.float64]:
    """State rows for ``n`` sensors that have seen nothing."""
    state = np.zeros((n, N_STATE))
    state[:, SHORT] = SURPRISE_PRIOR_MEAN
    state[:, LONG_MEAN] = SURPRISE_PRIOR_MEAN
    state[:, LONG_VAR] = SURPRISE_PRIOR_VAR
    state[:, HOLD_UNTIL] = -np.inf
    state[:, ALARM_SINCE] = np.nan
    return state


def drift_spread(count: NDArray[np.float64]) -> NDArray[np.float64]:
    """Standard error of baseline minus reference, in long-run sigmas, after ``count`` learnt readings."""
    young = np.exp(-2.0 * REFERENCE_ALPHA * np.maximum(count - WARMUP_READINGS, 0.0))
    reference_var = young / WARMUP_READINGS + (1.0 - young) * (REFERENCE_ALPHA / 2.0)
    out: NDArray[np.float64] = np.sqrt(ALPHA / 2.0 + reference_var)
    return out


def _drift_spread_one(count: float) -> float:
    """``drift_spread`` of one count, in Python floats."""
    young = math.exp(-2.0 * REFERENCE_ALPHA * max(count - WARMUP_READINGS, 0.0))
    return math.sqrt(ALPHA / 2.0 + young / WARMUP_READINGS + (1.0 - young) * (REFERENCE_ALPHA / 2.0))


def _evidence(short: NDArray[np.float64], mean: NDArray[np.float64], var: NDArray[np.float64]) -> NDArray[np.float64]:
    """Decades of improbability of ``short`` under N(mean, var), over ``ALARM_DECADES``, clipped to 0..1.

    Within ``EVIDENCE_FROM`` standard deviations of its mean the recent surprise is ordinary: 0 (which also
    spares the tail function on most readings).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zz = (short - mean) / np.sqrt(var)
    out = np.zeros(zz.shape[0])
    hit = zz > EVIDENCE_FROM
    if _any(hit):
        out[hit] = np.minimum(-log_ndtr(-zz[hit]) / (_LN10 * ALARM_DECADES), 1.0)
    return out


def evidence_of(short: float, mean: float, var: float) -> float:
    """``_evidence`` of one reading in Python floats (a length-1 array costs far more): the same value."""
    if var > 0.0:
        zz = (short - mean) / math.sqrt(var)
    elif var == 0.0 and short != mean:
        zz = math.copysign(math.inf, short - mean)
    else:
        return 0.0  # a variance that is negative or not a number gives no evidence, as the array form gives
    if not zz > EVIDENCE_FROM:
        return 0.0
    return min(-float(log_ndtr(-zz)) / (_LN10 * ALARM_DECADES), 1.0)


def step(
    state: NDArray[np.float64],
    x: NDArray[np.float64],
    ok: NDArray[np.bool_],
    t: NDArray[np.float64],
    floor: NDArray[np.float64],
    hold_s: NDArray[np.float64],
    rebaseline_s: NDArray[np.float64],
) -> StepOut:
    """Advance the model by one reading for each row of ``state`` (updated in place); the exact recursion."""
    count, m, c0, c1, dprev, scale = (state[:, i] for i in (COUNT, MEAN, C0, C1, LAST_DEV, SCALE))
    up, dn, ref = state[:, UP], state[:, DOWN], state[:, REFERENCE]
    short, lmean, lvar = state[:, SHORT], state[:, LONG_MEAN], state[:, LONG_VAR]
    warm = count < WARMUP_READINGS
    seen = count > 0
    d = x - m
    s_eff = np.maximum(scale, np.maximum(floor, 1e-9 * np.abs(m)) + 1e-300)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        phi = np.where(c0 > 0, np.minimum(np.maximum(c1 / c0, 0.0), PHI_MAX), 0.0)
    e = d - phi * dprev
    long_run = s_eff / (1.0 - phi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = e / s_eff
        u = d / long_run
        drift = np.abs(m - ref) / (long_run * _spread_at(count))
    good = ok & seen & np.isfinite(z)
    z = np.where(good, z, 0.0)
    u = np.where(good, u, 0.0)
    drift = np.where(good, drift, 0.0)
    test = ok & ~warm
    uc = np.minimum(np.maximum(u, -Z_CLIP), Z_CLIP)
    new_up = np.where(test, np.minimum(np.maximum(up + uc - SHIFT_K, 0.0), 2 * SHIFT_H), up)
    new_dn = np.where(test, np.minimum(np.maximum(dn - uc - SHIFT_K, 0.0), 2 * SHIFT_H), dn)
    shift = np.maximum(new_up, new_dn)
    abs_z = np.abs(z)
    new_short = np.where(test, short + SURPRISE_ALPHA * (np.minimum(abs_z, SURPRISE_CAP) - short), short)
    evidence = _evidence(new_short, lmean, lvar)
    score = np.where(test & (t >= state[:, HOLD_UNTIL]), evidence, 0.0)
    dl = new_short - lmean
    state[:, LONG_MEAN] = np.where(test, lmean + SURPRISE_LONG_ALPHA * dl, lmean)
    state[:, LONG_VAR] = np.where(test, (1.0 - SURPRISE_LONG_ALPHA) * (lvar + SURPRISE_LONG_ALPHA * dl * dl), lvar)
    state[:, SHORT] = new_short
    state[:, HOLD_UNTIL] = np.where(score >= 1.0, t + hold_s, state[:, HOLD_UNTIL])

    in_alarm = test & ((shift >= SHIFT_H) | (drift >= DRIFT_SIGMAS))
    learn = ok & (warm | ((abs_z < Z_GATE) & (shift < SHIFT_H)))
    alpha = np.where(warm, 1.0 / (count + 1.0), ALPHA)
    beta = np.where(warm, alpha, COV_ALPHA)
    new_m = np.where(learn, m + alpha * d, m)
    state[:, C0] = np.where(learn, (1.0 - beta) * (c0 + beta * d * d), c0)
    state[:, C1] = np.where(learn & seen, c1 + beta * (d * dprev - c1), c1)
    huber = MAE_TO_SIGMA * np.minimum(np.abs(e), Z_GATE * s_eff)
    # During warm-up the scale is the marginal standard deviation (phi is not known yet: conservative).
    warm_scale = np.where(learn, np.sqrt(state[:, C0]), scale)
    tested_scale = np.where(ok & (shift < SHIFT_H), scale + alpha * (huber - scale), scale)
    state[:, SCALE] = np.where(warm, warm_scale, tested_scale)
    learn_reference = learn & (warm | (drift < DRIFT_SIGMAS))
    state[:, REFERENCE] = np.where(learn_reference, ref + np.where(warm, alpha, REFERENCE_ALPHA) * (x - ref), ref)
    state[:, COUNT] = np.where(learn, np.minimum(count + 1.0, 2.0**30), count)

    # Re-baseline: a shift or drift that has lasted rebaseline_s is the new normal.
    since = np.where(in_alarm, np.where(np.isnan(state[:, ALARM_SINCE]), t, state[:, ALARM_SINCE]), np.nan)
    since = np.where(test, since, state[:, ALARM_SINCE])
    # The level during the alarm (a running mean) is the new normal when it comes to that.
    alarm_count = np.where(in_alarm, state[:, ALARM_COUNT] + 1.0, np.where(test, 0.0, state[:, ALARM_COUNT]))
    with np.errstate(divide="ignore", invalid="ignore"):
        alarm_mean = np.where(
            in_alarm, state[:, ALARM_MEAN] + (x - state[:, ALARM_MEAN]) / alarm_count, state[:, ALARM_MEAN]
        )
    rebased = test & (since <= t - rebaseline_s)
    new_m = np.where(rebased, alarm_mean, new_m)
    state[:, MEAN] = new_m
    state[:, REFERENCE] = np.where(rebased, alarm_mean, state[:, REFERENCE])
    state[:, ALARM_COUNT] = np.where(rebased, 0.0, alarm_count)
    state[:, ALARM_MEAN] = np.where(rebased | (alarm_count == 0), 0.0, alarm_mean)
    state[:, UP] = np.where(rebased, 0.0, new_up)
    state[:, DOWN] = np.where(rebased, 0.0, new_dn)
    state[:, ALARM_SINCE] = np.where(rebased, np.nan, since)
    state[:, LAST_DEV] = np.where(ok, x - new_m, dprev)
    return StepOut(z, np.where(rebased, 0.0, shift), np.where(rebased, 0.0, drift), score, test, rebased)


def _step_one(
    row: NDArray[np.float64], x: float, t: float, floor: float, hold_s: float, rebaseline_s: float
) -> tuple[float, float, float, float, bool, bool]:
    """``step`` for one valid reading of one sensor, in Python floats (a length-1 array costs far more).

    Same formulas in the same order; returns z, shift, drift, score, tested, re-baselined.
    """
    count, m, c0, c1, dprev, scale, up, dn, ref, short, lmean, lvar, hold_until, since, alarm_mean, alarm_count = (
        row.tolist()
    )
    warm = count < WARMUP_READINGS
    seen = count > 0
    d = x - m
    s_eff = max(scale, max(floor, 1e-9 * abs(m)) + 1e-300)
    phi = min(max(c1 / c0, 0.0), PHI_MAX) if c0 > 0 else 0.0
    e = d - phi * dprev
    long_run = s_eff / (1.0 - phi)
    z, u, drift = e / s_eff, d / long_run, abs(m - ref) / (long_run * _drift_spread_one(count))
    if not (seen and math.isfinite(z)):
        z, u, drift = 0.0, 0.0, 0.0
    test = not warm
    shift, score = 0.0, 0.0
    abs_z = abs(z)
    if test:
        uc = min(max(u, -Z_CLIP), Z_CLIP)
        up = min(max(up + uc - SHIFT_K, 0.0), 2 * SHIFT_H)
        dn = min(max(dn - uc - SHIFT_K, 0.0), 2 * SHIFT_H)
        shift = max(up, dn)
        short = short + SURPRISE_ALPHA * (min(abs_z, SURPRISE_CAP) - short)
        evidence = evidence_of(short, lmean, lvar)
        score = evidence if t >= hold_until else 0.0
        dl = short - lmean
        row[LONG_MEAN] = lmean + SURPRISE_LONG_ALPHA * dl
        row[LONG_VAR] = (1.0 - SURPRISE_LONG_ALPHA) * (lvar + SURPRISE_LONG_ALPHA * dl * dl)
        row[SHORT] = short
        if score >= 1.0:
            row[HOLD_UNTIL] = t + hold_s
    in_alarm = test and (shift >= SHIFT_H or drift >= DRIFT_SIGMAS)
    learn = warm or (abs_z < Z_GATE and shift < SHIFT_H)
    alpha = 1.0 / (count + 1.0) if warm else ALPHA
    beta = alpha if warm else COV_ALPHA
    new_m = m + alpha * d if learn else m
    if learn:
        row[C0] = (1.0 - beta) * (c0 + beta * d * d)
        if seen:
            row[C1] = c1 + beta * (d * dprev - c1)
    if warm:
        if learn:
            row[SCALE] = math.sqrt(row[C0])
    elif shift < SHIFT_H:
        row[SCALE] = scale + alpha * (MAE_TO_SIGMA * min(abs(e), Z_GATE * s_eff) - scale)
    if learn and (warm or drift < DRIFT_SIGMAS):
        row[REFERENCE] = ref + (alpha if warm else REFERENCE_ALPHA) * (x - ref)
    if learn:
        row[COUNT] = min(count + 1.0, 2.0**30)
    if test:
        since = (t if math.isnan(since) else since) if in_alarm else math.nan
    if in_alarm:
        alarm_count += 1.0
        alarm_mean = alarm_mean + (x - alarm_mean) / alarm_count
    elif test:
        alarm_count = 0.0
    rebased = test and since <= t - rebaseline_s
    if rebased:
        new_m = alarm_mean
        row[REFERENCE] = alarm_mean
        up, dn, since, shift, drift = 0.0, 0.0, math.nan, 0.0, 0.0
        alarm_count = 0.0
    if alarm_count == 0.0:
        alarm_mean = 0.0
    row[ALARM_MEAN], row[ALARM_COUNT] = alarm_mean, alarm_count
    row[MEAN] = new_m
    row[UP], row[DOWN], row[ALARM_SINCE] = up, dn, since
    row[LAST_DEV] = x - new_m
    return z, shift, drift, score, test, rebased


def _warm_up(row: NDArray[np.float64], x: list[float], floor: float) -> tuple[list[float], list[float]]:
    """``_step_one`` over readings of the warm-up (every one learns, none is tested) in one loop of Python
    floats, ``row`` updated in place; returns each reading's z and drift (shift, score, tested and re-baselined
    are all zero there). Same formulas in the same order."""
    count, m, c0, c1, dprev, scale, ref = (float(row[i]) for i in (COUNT, MEAN, C0, C1, LAST_DEV, SCALE, REFERENCE))
    zs, drifts = [], []
    for value in x:
        seen = count > 0
        d = value - m
        s_eff = max(scale, max(floor, 1e-9 * abs(m)) + 1e-300)
        phi = min(max(c1 / c0, 0.0), PHI_MAX) if c0 > 0 else 0.0
        long_run = s_eff / (1.0 - phi)
        z, drift = (d - phi * dprev) / s_eff, abs(m - ref) / (long_run * _drift_spread_one(count))
        if not (seen and math.isfinite(z)):
            z, drift = 0.0, 0.0
        zs.append(z)
        drifts.append(drift)
        alpha = 1.0 / (count + 1.0)
        c0 = (1.0 - alpha) * (c0 + alpha * d * d)
        if seen:
            c1 = c1 + alpha * (d * dprev - c1)
        scale = math.sqrt(c0)
        ref = ref + alpha * (value - ref)
        count = min(count + 1.0, 2.0**30)
        m = m + alpha * d
        dprev = value - m
    row[COUNT], row[MEAN], row[C0], row[C1], row[LAST_DEV], row[SCALE], row[REFERENCE] = (
        count,
        m,
        c0,
        c1,
        dprev,
        scale,
        ref,
    )
    if row[ALARM_COUNT] == 0.0:
        row[ALARM_MEAN] = 0.0
    return zs, drifts


def _filter(
    weight: float, forget: float, inputs: NDArray[np.float64], before: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``y_t = forget * y_{t-1} + weight * inputs_t`` from ``y_{-1} = before``: values before and after each reading."""
    after = _lfilter(weight, forget, inputs, before)
    prior = np.empty_like(after)
    prior[0] = before
    prior[1:] = after[:-1]
    return prior, after


def _lfilter(weight: float, forget: float, inputs: NDArray[np.float64], before: float) -> NDArray[np.float64]:
    """``y_t = forget * y_{t-1} + weight * inputs_t`` from ``y_{-1} = before``, the values after each reading."""
    coefficients = (np.array([weight]), np.array([1.0, -forget]))
    out: NDArray[np.float64] = _linear_filter()(*coefficients, inputs, -1, np.array([forget * before]))[0]
    return out


@functools.cache
def _linear_filter() -> Callable[..., tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """scipy's direct-form filter kernel; ``scipy.signal.lfilter`` checks and converts its arguments for tens
    of microseconds a call, several times the filtering of a pass's thousand readings, and a back-test makes
    thousands of calls. Falls back to ``lfilter`` itself if a scipy release moves the kernel."""
    # scipy.signal pulls in scipy.stats (about a second of CPU); only back-tests of long single-sensor runs get here.
    try:
        from scipy.signal._sigtools import _linear_filter as kernel  # noqa: PLC0415
    except ImportError:  # pragma: no cover (depends on the scipy release)
        from scipy.signal import lfilter as kernel  # noqa: PLC0415
    return cast("Callable[..., tuple[NDArray[np.float64], NDArray[np.float64]]]", kernel)


def _past_cap(free: NDArray[np.float64], increments: NDArray[np.float64], cap: float) -> NDArray[np.float64]:
    """The capped walk from ``free``, the walk with its lower barrier alone (right up to its first touch of the
    cap): in place.

    Between touches of the far barrier only one barrier acts, which is a running sum less its running
    extreme; the walk switches barrier only when it crosses the whole band (rare: many readings each way).
    """
    n = increments.shape[0]
    past = (free > cap).nonzero()[0]
    if past.shape[0] == 0:
        return free
    out = free
    i = int(past[0])
    out[i] = cap
    i, low = i + 1, False
    while i < n:
        walk = cap + increments[i:].cumsum() if not low else increments[i:].cumsum()
        if low:
            part = walk - np.minimum(np.fmin.accumulate(walk), 0.0)
            past = (part > cap).nonzero()[0]
        else:
            part = walk - np.maximum(np.fmax.accumulate(walk) - cap, 0.0)
            past = (part < 0.0).nonzero()[0]
        if past.shape[0] == 0:
            out[i:] = part
            break
        j = int(past[0])
        out[i : i + j] = part[:j]
        s = cap if low else 0.0
        out[i + j] = s
        i, low = i + j + 1, not low
    return out


@dataclass(slots=True)
class _Guess:
    """Which readings of a stretch are gated (too surprising to learn), in shift alarm, in drift alarm, floored."""

    gated: NDArray[np.bool_]
    shifted: NDArray[np.bool_]
    drifting: NDArray[np.bool_]
    floored: NDArray[np.bool_]  # the scale below its floor (which then stands in for it)

    def take(self, start: int, stop: int) -> _Guess:
        """The guess for readings ``start`` to ``stop`` (a view)."""
        return _Guess(
            self.gated[start:stop], self.shifted[start:stop], self.drifting[start:stop], self.floored[start:stop]
        )

    def put(self, start: int, part: _Guess) -> None:
        """Take ``part`` as the guess from reading ``start`` on."""
        stop = start + part.gated.shape[0]
        self.gated[start:stop], self.shifted[start:stop] = part.gated, part.shifted
        self.drifting[start:stop], self.floored[start:stop] = part.drifting, part.floored


@dataclass(slots=True)
class _Pass:
    """One pass of the model along a stretch under a guess of its regimes: every per-reading quantity."""

    exact: int  # readings at the start whose regimes the pass confirmed (they are the recursion's)
    found: _Guess  # the regimes the pass computed (exact on the first ``exact`` + 1 readings)
    z: NDArray[np.float64]
    up: NDArray[np.float64]
    down: NDArray[np.float64]
    shift: NDArray[np.float64]
    drift: NDArray[np.float64]
    m_after: NDArray[np.float64]
    c0_after: NDArray[np.float64]
    c1_after: NDArray[np.float64]
    s_after: NDArray[np.float64]
    ref_after: NDArray[np.float64]
    learned: NDArray[np.intp] | None  # readings learned up to and including each (None: every one)
    x: NDArray[np.float64]
    m_before: NDArray[np.float64]
    phi: NDArray[np.float64]
    s_eff: NDArray[np.float64]

    def learned_through(self, last: int) -> int:
        """Readings learned up to and including reading ``last``."""
        return last + 1 if self.learned is None else int(self.learned[last])


def _coefficients(weight: float, forget: float) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """lfilter's numerator and denominator of ``y_t = forget * y_{t-1} + weight * inputs_t``, and ``forget``."""
    return np.array([weight]), np.array([1.0, -forget]), forget


# The along-time recursions' filters, made once (a pass of a hundred readings would spend a visible part of its
# time building them). Both autocovariances go through one call; c0's inputs carry its extra (1 - COV_ALPHA).
_BASELINE = _coefficients(ALPHA, 1.0 - ALPHA)
_COVARIANCES = _coefficients(COV_ALPHA, 1.0 - COV_ALPHA)
_SCALE = _coefficients(ALPHA * MAE_TO_SIGMA, 1.0 - ALPHA)
_REFERENCE = _coefficients(REFERENCE_ALPHA, 1.0 - REFERENCE_ALPHA)


def _values_along(
    coefficients: tuple[NDArray[np.float64], NDArray[np.float64], float], inputs: NDArray[np.float64], start: float
) -> NDArray[np.float64]:
    """The filter's value from ``start`` and after each input (one more than the inputs)."""
    numerator, denominator, forget = coefficients
    out = np.empty(inputs.shape[0] + 1)
    out[0] = start
    if inputs.shape[0]:
        out[1:] = _linear_filter()(numerator, denominator, inputs, -1, np.array([forget * start]))[0]
    return out


def _pairs_along(
    coefficients: tuple[NDArray[np.float64], NDArray[np.float64], float],
    inputs: NDArray[np.float64],
    first: float,
    second: float,
) -> NDArray[np.float64]:
    """``_values_along`` of two rows of inputs (shape (2, n)) from ``first`` and ``second``, in one call."""
    numerator, denominator, forget = coefficients
    out = np.empty((2, inputs.shape[1] + 1))
    out[0, 0], out[1, 0] = first, second
    if inputs.shape[1]:
        initial = np.array([[forget * first], [forget * second]])
        out[:, 1:] = _linear_filter()(numerator, denominator, inputs, -1, initial)[0]
    return out


@functools.cache
def _spread_table() -> NDArray[np.float64]:
    """``drift_spread`` of every count up to the one from which it no longer changes in floating point (the
    reference's youth, ``exp(-2 REFERENCE_ALPHA (count - WARMUP_READINGS))``, under 1e-28 by then)."""
    return drift_spread(np.arange(WARMUP_READINGS + 2**17, dtype=np.float64))


def _spread_at(count: NDArray[np.float64]) -> NDArray[np.float64]:
    """``drift_spread`` of learnt-reading counts (whole numbers), looked up: the same values in three array operations
    instead of ten (``drift_spread`` is constant from the table's last count on)."""
    table = _spread_table()
    out: NDArray[np.float64] = table[np.minimum(count, table.shape[0] - 1).astype(np.intp)]
    return out


def _spread_of(first: int, offsets: NDArray[np.intp] | None, n: int) -> NDArray[np.float64] | float:
    """``drift_spread`` at counts ``first + offsets`` (``first + 0 .. n - 1`` when ``offsets`` is None)."""
    table = _spread_table()
    last = table.shape[0] - 1
    if offsets is not None:
        out: NDArray[np.float64] = table[np.minimum(offsets + first, last)]
        return out
    if first + n <= last:
        return table[first : first + n]
    if first >= last:
        return float(table[last])
    tail: NDArray[np.float64] = table[np.minimum(np.arange(first, first + n), last)]
    return tail


# A gated reading (above its floor) moves the scale by its clipped error, Z_GATE scales: it grows by this
# fraction of the scale before it, on top of the forgetting every reading has.
GROWTH = ALPHA * MAE_TO_SIGMA * Z_GATE
_JUMPS = _coefficients(1.0, 1.0 - ALPHA)


def _scales_past_gated(
    abs_e: NDArray[np.float64],
    clipped: NDArray[np.bool_],
    floored: NDArray[np.bool_],
    bottom: NDArray[np.float64],
    scale0: float,
) -> NDArray[np.float64]:
    """The scale before the first and after each of the readings that move it, some of them gated: a gated
    reading learns Z_GATE floors when the scale is below its floor, and Z_GATE scales otherwise.

    The scale is the ordinary filter of every other reading's error plus, from each gated reading on, a
    jump of GROWTH times the scale before it, fading as the filter forgets. The jumps are found in order,
    one Python step each (gated readings are few); one more filter spreads them.
    """
    inputs = abs_e.copy()
    if _any(floored):
        floor_in = floored & clipped
        inputs[floor_in] = Z_GATE * bottom[floor_in]
        clipped = clipped & ~floor_in
    grows = clipped.nonzero()[0]
    inputs[grows] = 0.0
    scales = _values_along(_SCALE, inputs, scale0)
    n = inputs.shape[0]
    jumps = np.zeros(n)
    forget = 1.0 - ALPHA
    carried, last = 0.0, -1  # the jumps' part of the scale after reading ``last``
    for j, base in zip(grows.tolist(), scales[grows].tolist(), strict=True):
        before = carried * forget ** (j - 1 - last) if last >= 0 else 0.0
        jumps[j] = GROWTH * (base + before)
        carried, last = before * forget + jumps[j], j
    if grows.shape[0] > FEW_JUMPS:
        scales[1:] += _values_along(_JUMPS, jumps, 0.0)[1:]
    else:
        fading = _fading()
        for j in grows.tolist():
            scales[j + 1 :] += jumps[j] * fading[: n - j]
    return scales


FEW_JUMPS = 4  # spread one by one (two array operations each) rather than by one more filter


@functools.cache
def _fading() -> NDArray[np.float64]:
    """``(1 - ALPHA) ** k`` for every reading a pass can hold: what is left of a jump in the scale k readings on."""
    out: NDArray[np.float64] = (1.0 - ALPHA) ** np.arange(max(FIRST_PASS, STRETCH) + 1, dtype=np.float64)
    return out


def _pass(row: NDArray[np.float64], x: NDArray[np.float64], floor: float, guess: _Guess) -> _Pass:
    """The model along ``x`` (valid readings, warm model) assuming the regimes ``guess``.

    Given which readings are gated and which are in alarm, every learning recursion is a linear filter over
    the readings it learns from (the scale's, a linear one with a growth factor on gated readings), and the
    CUSUMs are walks between two barriers. The regimes computed from the result agree with the guess up to
    ``exact``: those readings are what ``_step_one`` gives them, up to rounding. Every array operation counts
    here (a back-test makes thousands of passes, most of a hundred readings): readings that all learn take
    views where gated ones take gathers.
    """
    n = x.shape[0]
    b = COV_ALPHA
    count0, mean0, c00, c10, dev0, scale0, up0, down0, ref0 = row[: REFERENCE + 1].tolist()
    gated, shifted = guess.gated, guess.shifted
    stopped = gated | shifted
    every = not _any(stopped)
    learn = ~stopped
    # Readings learned before each one and through each one (a filter's value before and after the reading).
    learned: NDArray[np.intp] | None = None
    before_index: NDArray[np.intp] | None = None
    learnt = x if every else x[learn]
    values = _values_along(_BASELINE, learnt, mean0)
    if every:
        m_before, m_after = values[:-1], values[1:]
    else:
        learned = _running_sum(learn, dtype=np.intp)
        before_index = learned - learn
        m_before, m_after = values[before_index], values[learned]
    d = x - m_before
    dprev = np.empty(n)
    dprev[0] = dev0
    np.subtract(x[:-1], m_after[:-1], out=dprev[1:])
    if every:
        dl, pl = d, dprev
    else:
        dl, pl = d[learn], dprev[learn]
    pairs = np.empty((2, dl.shape[0]))
    np.multiply(dl, dl, out=pairs[0])
    pairs[0] *= 1.0 - b
    np.multiply(dl, pl, out=pairs[1])
    covariances = _pairs_along(_COVARIANCES, pairs, c00, c10)
    if every:
        c_before, c_after = covariances[:, :-1], covariances[:, 1:]
    else:
        c_before, c_after = covariances[:, before_index], covariances[:, learned]
    c0_before = c_before[0]
    phi = c_before[1] / c0_before
    np.maximum(phi, 0.0, out=phi)
    np.minimum(phi, PHI_MAX, out=phi)
    if not _every(c0_before > 0):  # (a NaN is not > 0, as the minimum of it would not be)
        phi = np.where(c0_before > 0, phi, 0.0)
    e = d - phi * dprev
    abs_e = np.abs(e)
    bottom = np.maximum(floor, 1e-9 * np.abs(m_before))
    bottom += 1e-300
    # The scale learns outside shift alarms; on a gated reading from its own clipped error, a growth by a
    # fixed factor (as long as the scale is above its floor, which is checked below).
    if every:
        scales = _values_along(_SCALE, abs_e, scale0)
        s_before, s_after = scales[:-1], scales[1:]
    elif not _any(shifted):  # gated readings only: every reading moves the scale
        scales = _scales_past_gated(abs_e, gated, guess.floored, bottom, scale0)
        s_before, s_after = scales[:-1], scales[1:]
    else:
        moves = ~shifted
        clipped = gated[moves]
        moved = _running_sum(moves, dtype=np.intp)
        if _any(clipped):
            scales = _scales_past_gated(abs_e[moves], clipped, guess.floored[moves], bottom[moves], scale0)
        else:
            scales = _values_along(_SCALE, abs_e[moves], scale0)
        s_before, s_after = scales[moved - moves], scales[moved]
    s_eff = np.maximum(s_before, bottom)
    z = e / s_eff
    long_run = s_eff / (1.0 - phi)
    u = d / long_run
    uc = np.maximum(u, -Z_CLIP)
    np.minimum(uc, Z_CLIP, out=uc)
    # Both CUSUMs at once: a running sum less its running minimum, unless a walk reaches its cap (then stepwise).
    steps = np.empty((2, n))
    np.subtract(uc, SHIFT_K, out=steps[0])
    np.negative(uc, out=steps[1])
    steps[1] -= SHIFT_K
    walks = _running_sum(steps, axis=1)
    walks[0] += up0
    walks[1] += down0
    lows = np.fmin.accumulate(walks, axis=1)  # fmin's loop is faster; a NaN reading is never confirmed
    np.minimum(lows, 0.0, out=lows)
    walks -= lows
    if _any(walks > 2 * SHIFT_H):  # (rare; a walk's peak propagates a NaN, as it always has)
        for side, peak in enumerate(np.maximum.reduce(walks, axis=1).tolist()):
            if peak > 2 * SHIFT_H:
                _past_cap(walks[side], steps[side], 2 * SHIFT_H)
    shift = np.maximum(walks[0], walks[1])
    found_shifted = shift >= SHIFT_H
    # The reference learns what the baseline learns, except in drift alarm: a filter over those readings,
    # whose drift (from the reference before each reading) is only known once the filter has run. The
    # guess's drift alarms are taken; a reading where the computed drift disagrees ends the exact stretch.
    if not _any(guess.drifting):
        references = _values_along(_REFERENCE, learnt, ref0)
        if every:
            ref_before, ref_after = references[:-1], references[1:]
        else:
            ref_before, ref_after = references[before_index], references[learned]
    else:
        follows = learn & ~guess.drifting
        followed = _running_sum(follows, dtype=np.intp)
        references = _values_along(_REFERENCE, x[follows], ref0)
        ref_before, ref_after = references[followed - follows], references[followed]
    # The drift's standard error follows the count of readings learnt before each one.
    spread = _spread_of(int(count0), before_index, n)
    drift = np.abs(m_before - ref_before)
    drift /= long_run * spread
    found = _Guess(np.abs(z) >= Z_GATE, found_shifted, drift >= DRIFT_SIGMAS, s_before < bottom)
    # Where the guess of a regime was wrong (the recursion's own tests, reading by reading): a shift alarm
    # that came or went; outside shift alarms, a gated reading that came or went, a gated reading's floor,
    # a learnt reading's drift alarm. Not modelled along time: a non-finite statistic.
    wrong = found.gated != gated
    if not every:  # (a floor only matters on a gated reading)
        wrong |= (found.floored != guess.floored) & gated
    wrong |= (found.drifting != guess.drifting) & ~found.gated
    wrong &= ~found_shifted
    wrong |= found_shifted != shifted
    total = z + u
    total += drift
    if not _every(np.isfinite(total)):
        wrong |= ~np.isfinite(total)
    exact = int(wrong.argmax())
    if not wrong[exact]:
        exact = n
    return _Pass(
        exact,
        found,
        z,
        walks[0],
        walks[1],
        shift,
        drift,
        m_after,
        c_after[0],
        c_after[1],
        s_after,
        ref_after,
        learned,
        x,
        m_before,
        phi,
        s_eff,
    )


def _next_guess(guess: _Guess, got: _Pass) -> _Guess:
    """The guess for the readings from the first wrong one on: what the pass found, with a new shift alarm
    assumed to last (the pass learned the shift away, so its later readings under-state the alarm), and the
    readings just after a new gated one gated too while the model as it stood there cannot predict them (the
    pass learned the first one, so it under-states a burst). Views of the pass's own arrays."""
    p = got.exact
    found = got.found
    nxt = _Guess(found.gated[p:], found.shifted[p:], found.drifting[p:], found.floored[p:])
    if found.shifted[p] and not guess.shifted[p]:
        nxt.shifted[:] = True
    if found.gated[p] and not guess.gated[p]:
        m, phi, s = float(got.m_before[p]), float(got.phi[p]), float(got.s_eff[p])
        ahead = got.x[p : p + BURST_AHEAD]
        dev = ahead - m
        frozen = np.abs(dev[1:] - phi * dev[:-1]) >= Z_GATE * s
        nxt.gated[1 : ahead.shape[0]] |= frozen
    return nxt


def _alarm_runs(since0: float, t: NDArray[np.float64], in_alarm: NDArray[np.bool_]) -> list[tuple[int, int, float]]:
    """The stretch's alarm runs: first reading, end (exclusive) and onset time; a run at the start carries on
    the alarm from before the stretch (onset ``since0``) unless there was none (NaN)."""
    on = in_alarm.view(np.int8)
    edges = on[1:] - on[:-1]
    starts = ((edges == 1).nonzero()[0] + 1).tolist()
    stops = ((edges == -1).nonzero()[0] + 1).tolist()
    if in_alarm[0]:
        starts.insert(0, 0)
    if in_alarm[-1]:
        stops.append(in_alarm.shape[0])
    return [
        (a, b, since0 if a == 0 and not math.isnan(since0) else float(t[a])) for a, b in zip(starts, stops, strict=True)
    ]


def _run(
    row: NDArray[np.float64],
    x: NDArray[np.float64],
    t: NDArray[np.float64],
    floor: float,
    rebaseline_s: float,
    guess: _Guess,
) -> tuple[int, _Pass, NDArray[np.float64]]:
    """One pass along ``x`` (valid readings, model warm) under ``guess``: how many readings it confirmed, the
    pass, and the state after them. The stretch ends before a re-baseline (left to ``_step_one``)."""
    got = _pass(row, x, floor, guess)
    k = got.exact
    if k == 0:
        return 0, got, row
    in_alarm = got.found.shifted[:k] | got.found.drifting[:k]
    since0 = float(row[ALARM_SINCE])
    since_last, count, mean = math.nan, 0.0, 0.0  # unless the stretch ends in an alarm
    if not math.isnan(since0) or _any(in_alarm):
        for start, run_end, since in _alarm_runs(since0, t[:k], in_alarm):
            # A shift or drift that has lasted rebaseline_s is re-baselined: the stretch ends before it.
            due = (since <= t[start:run_end] - rebaseline_s).nonzero()[0]
            stop = run_end
            if due.shape[0]:
                k = stop = start + int(due[0])
                if k == 0:
                    return 0, got, row
            if stop == k and k > start:  # the alarm the stretch ends in: its count and mean level
                carried = start == 0 and not math.isnan(since0)
                count, mean = (float(row[ALARM_COUNT]), float(row[ALARM_MEAN])) if carried else (0.0, 0.0)
                seen = x[start:k]
                total = count + seen.shape[0]
                mean = mean + (float(seen.sum()) - seen.shape[0] * mean) / total
                count, since_last = total, since
            if due.shape[0]:
                break
    last = k - 1
    new = row.copy()
    new[COUNT] = min(row[COUNT] + got.learned_through(last), 2.0**30)
    new[MEAN], new[C0], new[C1] = got.m_after[last], got.c0_after[last], got.c1_after[last]
    new[LAST_DEV], new[SCALE] = x[last] - got.m_after[last], got.s_after[last]
    new[UP], new[DOWN], new[REFERENCE] = got.up[last], got.down[last], got.ref_after[last]
    new[ALARM_SINCE] = since_last
    new[ALARM_COUNT], new[ALARM_MEAN] = count, mean
    return k, got, new


def _quiet_guess(n: int) -> _Guess:
    """No reading gated, no alarm."""
    return _Guess(np.zeros(n, np.bool_), np.zeros(n, np.bool_), np.zeros(n, np.bool_), np.zeros(n, np.bool_))


def _surprise_scores(
    row: NDArray[np.float64], z: NDArray[np.float64], tested: NDArray[np.bool_], t: NDArray[np.float64], hold_s: float
) -> NDArray[np.float64]:
    """Each reading's score from the prediction surprises of the tested ones, and the surprise state and hold
    after them into ``row``. The surprise feeds no test of the model, so it runs once over a whole run."""
    score = np.zeros(z.shape[0])
    at = np.flatnonzero(tested)
    if at.shape[0] == 0:
        return score
    r = np.minimum(np.abs(z[at]), SURPRISE_CAP)
    _, short_after = _filter(SURPRISE_ALPHA, 1.0 - SURPRISE_ALPHA, r, float(row[SHORT]))
    lmean_before, lmean_after = _filter(
        SURPRISE_LONG_ALPHA, 1.0 - SURPRISE_LONG_ALPHA, short_after, float(row[LONG_MEAN])
    )
    dl = short_after - lmean_before
    g = SURPRISE_LONG_ALPHA
    lvar_before, lvar_after = _filter((1.0 - g) * g, 1.0 - g, dl * dl, float(row[LONG_VAR]))
    evidence = _evidence(short_after, lmean_before, lvar_before)
    # The score is evidence of a new anomaly: an onset holds it at zero for hold_s.
    times = t[at]
    ends, hold_until = _hold_ends(times, evidence, float(row[HOLD_UNTIL]), hold_s)
    score[at] = np.where(times < ends, 0.0, evidence)
    row[SHORT], row[LONG_MEAN], row[LONG_VAR] = short_after[-1], lmean_after[-1], lvar_after[-1]
    row[HOLD_UNTIL] = hold_until
    return score


def run_along_time(
    row: NDArray[np.float64],
    x: NDArray[np.float64],
    ok: NDArray[np.bool_],
    t: NDArray[np.float64],
    floor: float,
    hold_s: float,
    rebaseline_s: float,
) -> StepOut:
    """One sensor's readings in time order, computed along time; ``row`` (its state) is updated in place.

    Gives what ``step`` gives reading by reading, up to floating-point rounding of the filters. Readings
    are stepped one by one only during warm-up, at a re-baseline and where passes keep failing.
    """
    n = x.shape[0]
    every_valid = bool(ok.all())
    valid = np.arange(n) if every_valid else np.flatnonzero(ok)
    xv, tv = (x, t) if every_valid else (x[valid], t[valid])
    nv = xv.shape[0]
    z, shift, drift = np.zeros(nv), np.zeros(nv), np.zeros(nv)
    tested, rebased = np.zeros(nv, np.bool_), np.zeros(nv, np.bool_)
    state = row.copy()
    # The regimes each reading is guessed to be in; the first pass covers the whole run (from a quiet guess)
    # so that every later pass starts from regimes found once already.
    plan = _quiet_guess(nv)
    i, window, fresh = 0, FIRST_PASS, False
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while i < nv:
            if state[COUNT] < WARMUP_READINGS:  # the next readings are all warm-up: each one counts
                stop = min(i + int(WARMUP_READINGS - state[COUNT]), nv)
                z[i:stop], drift[i:stop] = _warm_up(state, xv[i:stop].tolist(), floor)
                i = stop
                continue
            # Each pass confirms the readings up to its first wrong guess of a regime; the next pass starts
            # there with the regimes this one found (exact at that reading), so a spike or an alarm's start
            # or end costs one more pass, not a reading-by-reading stretch.
            stop = min(i + window, nv)
            guess = plan.take(i, stop)
            k, got, new = _run(state, xv[i:stop], tv[i:stop], floor, rebaseline_s, guess)
            # A pass that confirmed its whole window doubles the next (a quiet series goes in long passes);
            # one that stopped early starts the short windows in which regimes change.
            window = min(2 * window, STRETCH) if k == stop - i else PASS_WINDOW
            if k:
                z[i : i + k], shift[i : i + k], drift[i : i + k] = got.z[:k], got.shift[:k], got.drift[:k]
                tested[i : i + k] = True
                state = new
                i += k
                if i == stop:
                    continue
                if k == got.exact:
                    plan.put(i, _next_guess(guess, got))
                    fresh = True
                    continue
                plan.put(i, _quiet_guess(stop - i))  # a re-baseline: what the pass found after it is moot
            elif not fresh and got.exact == 0:
                plan.put(i, _next_guess(guess, got))
                fresh = True
                continue
            z[i], shift[i], drift[i], _, tested[i], rebased[i] = _step_one(
                state, float(xv[i]), float(tv[i]), floor, hold_s, rebaseline_s
            )
            fresh = False
            i += 1
        state[SHORT : HOLD_UNTIL + 1] = row[SHORT : HOLD_UNTIL + 1]  # the stepped readings moved them too
        score = _surprise_scores(state, z, tested, tv, hold_s)
    row[:] = state
    if every_valid:
        return StepOut(z, shift, drift, score, tested, rebased)
    out = StepOut(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, np.bool_), np.zeros(n, np.bool_))
    out.z[valid], out.shift[valid], out.drift[valid], out.score[valid] = z, shift, drift, score
    out.tested[valid], out.rebased[valid] = tested, rebased
    return out


def _hold_ends(
    t: NDArray[np.float64], evidence: NDArray[np.float64], hold_until: float, hold_s: float
) -> tuple[NDArray[np.float64], float]:
    """For each reading, the end of the hold in force when it arrives, and the hold after the last reading.

    An onset is evidence >= 1 outside a hold; it holds the score at zero for ``hold_s`` after it.
    """
    ends = np.full(t.shape[0], hold_until)
    current = hold_until
    start = 0
    for j in np.flatnonzero(evidence >= 1.0).tolist():
        if t[j] >= current:
            ends[start : j + 1] = current
            current = float(t[j]) + hold_s
            start = j + 1
    ends[start:] = current
    return ends, current


@dataclass
class AnomalyDetector:
    """Per-sensor AR(1) model with spike, shift and drift tests, re-baselining and an evidence score."""

    config: CoreConfig
    slot: NDArray[np.int32] = field(init=False)  # row of each sensor in ``state``; -1: no anomaly tests
    state: NDArray[np.float64] = field(init=False)
    states: dict[str, HysteresisState] = field(init=False)

    def __post_init__(self) -> None:
        n = self.config.n_sensors
        enabled = self.config.anomaly_enabled
        # Model rows only for the sensors with anomaly tests (a third of a typical site's channels).
        self.slot = np.where(enabled, np.cumsum(enabled) - 1, -1).astype(np.int32)
        self.state = initial_state(int(enabled.sum()))
        self.states = {name: HysteresisState.new(n) for name in (SPIKE, SHIFT, DRIFT, NEW_NORMAL)}

    @property
    def state_nbytes(self) -> int:
        """Bytes of carried state."""
        return int(self.state.nbytes + self.slot.nbytes) + sum(s.nbytes for s in self.states.values())

    def process(
        self, batch: SortedBatch, value: NDArray[np.float64], valid: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float64], list[ConditionEvents]]:
        """Score each reading (0..1, 1 = an alarm-level new anomaly) and return the anomaly transitions.

        ``batch`` holds only sensors with anomaly tests enabled; arrays are in its sorted order.
        """
        n = value.shape[0]
        c = self.config
        z, shift_stat, drift_stat, score = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        scored, rebased = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
        hold, rebase = c.anomaly_hold_s, c.anomaly_rebaseline_s
        seg_starts = batch.segment_starts
        lengths = np.diff(np.append(seg_starts, n))
        long_runs = lengths >= LONG_SEGMENT
        for start, length in zip(seg_starts[long_runs], lengths[long_runs], strict=True):
            sl = slice(int(start), int(start + length))
            sensor = int(batch.sensor[start])
            out = run_along_time(
                self.state[self.slot[sensor]],
                value[sl],
                valid[sl],
                batch.time[sl],
                float(c.sigma_floor[sensor]),
                float(hold[sensor]),
                float(rebase[sensor]),
            )
            z[sl], shift_stat[sl], drift_stat[sl], score[sl] = out.z, out.shift, out.drift, out.score
            scored[sl], rebased[sl] = out.tested, out.rebased
        starts, alive = rank_plan(batch, ~long_runs)
        # Per-segment copies of the state, longest segment first: step k works on a contiguous prefix. Stored
        # one state column after another, so that each column step reads and writes is contiguous.
        seg = batch.sensor[starts]
        columns = np.array(self.state[self.slot[seg]].T)
        floor, seg_hold, seg_rebase = c.sigma_floor[seg], hold[seg], rebase[seg]
        for k, a in enumerate(alive):
            idx = starts[:a] + k
            out = step(
                columns[:, :a].T, value[idx], valid[idx], batch.time[idx], floor[:a], seg_hold[:a], seg_rebase[:a]
            )
            z[idx], shift_stat[idx], drift_stat[idx], score[idx] = out.z, out.shift, out.drift, out.score
            scored[idx], rebased[idx] = out.tested, out.rebased
        self.state[self.slot[seg]] = columns.T

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
            debounce(SHIFT, batch, shift_on, shift_off | rebased, zero, 5 * interval, self.states[SHIFT], value, nan),
            debounce(DRIFT, batch, drift_on, drift_off | rebased, zero, 5 * interval, self.states[DRIFT], value, nan),
            # One reading long: the level at that reading is the new normal.
            debounce(NEW_NORMAL, batch, rebased, ~rebased, zero, zero, self.states[NEW_NORMAL], value, nan),
        ]
        return score, events
