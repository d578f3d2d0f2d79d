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

Long single-sensor runs (back-tests of one series) are computed along time with linear filters
(``scipy.signal.lfilter``) and cumulative minima for the CUSUMs, between the readings where the model
stops learning; those readings are stepped exactly like the rank-by-rank path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
_LN10 = float(np.log(10.0))

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
        drift = np.abs(m - ref) / (long_run * drift_spread(count))
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


def _filter(
    weight: float, forget: float, inputs: NDArray[np.float64], before: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``y_t = forget * y_{t-1} + weight * inputs_t`` from ``y_{-1} = before``: values before and after each reading."""
    # scipy.signal pulls in scipy.stats (about a second of CPU); only back-tests of long single-sensor runs get here.
    from scipy.signal import lfilter  # noqa: PLC0415

    after: NDArray[np.float64] = lfilter([weight], [1.0, -forget], inputs, zi=[forget * before])[0]
    prior = np.empty_like(after)
    prior[0] = before
    prior[1:] = after[:-1]
    return prior, after


def _lindley(start: float, increments: NDArray[np.float64]) -> NDArray[np.float64]:
    """``S_t = max(0, S_{t-1} + increments_t)`` from ``S_{-1} = start``, as a running sum less its running minimum."""
    walk = start + np.cumsum(increments)
    out: NDArray[np.float64] = walk - np.minimum(np.minimum.accumulate(walk), 0.0)
    return out


def _quiet_run(
    row: NDArray[np.float64], x: NDArray[np.float64], floor: float
) -> tuple[int, StepOut, NDArray[np.float64]]:
    """Readings at the start of ``x`` (all valid, model warm) on which the model learns as usual.

    Returns how many there are, their outputs and the state after them. Within such a run every recursion is
    linear (or a CUSUM reflected at zero), so it is computed along time; the first reading that is gated, in
    alarm or about to re-baseline ends the run and is left to ``step``.
    """
    a = ALPHA
    m_before, m_after = _filter(a, 1.0 - a, x, row[MEAN])
    d = x - m_before
    b = COV_ALPHA
    c0_before, c0_after = _filter((1.0 - b) * b, 1.0 - b, d * d, row[C0])
    dev_after = x - m_after
    dprev = np.empty_like(x)
    dprev[0] = row[LAST_DEV]
    dprev[1:] = dev_after[:-1]
    c1_before, c1_after = _filter(b, 1.0 - b, d * dprev, row[C1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        phi = np.where(c0_before > 0, np.minimum(np.maximum(c1_before / c0_before, 0.0), PHI_MAX), 0.0)
    e = d - phi * dprev
    abs_e = np.abs(e)
    s_before, s_after = _filter(a * MAE_TO_SIGMA, 1.0 - a, abs_e, row[SCALE])
    s_eff = np.maximum(s_before, np.maximum(floor, 1e-9 * np.abs(m_before)) + 1e-300)
    with np.errstate(over="ignore", invalid="ignore"):
        z = e / s_eff
        long_run = s_eff / (1.0 - phi)
        u = d / long_run
    up = _lindley(row[UP], u - SHIFT_K)
    dn = _lindley(row[DOWN], -u - SHIFT_K)
    shift = np.maximum(up, dn)
    ref_before, ref_after = _filter(REFERENCE_ALPHA, 1.0 - REFERENCE_ALPHA, x, row[REFERENCE])
    count = row[COUNT] + np.arange(x.shape[0], dtype=np.float64)  # every reading of a quiet run is learnt
    with np.errstate(over="ignore", invalid="ignore"):
        drift = np.abs(m_before - ref_before) / (long_run * drift_spread(count))
    abs_z = np.abs(z)
    quiet = (abs_z < Z_GATE) & (np.abs(u) < Z_CLIP) & (shift < SHIFT_H) & (drift < DRIFT_SIGMAS) & np.isfinite(z)
    if not np.isnan(row[ALARM_SINCE]):
        quiet[0] = False  # leaving an alarm: let the exact step clear its clock
    stop = int(np.argmin(quiet)) if not quiet.all() else x.shape[0]
    if stop == 0:
        return 0, StepOut(z[:0], z[:0], z[:0], z[:0], np.zeros(0, np.bool_), np.zeros(0, np.bool_)), row
    k = stop
    r = np.minimum(abs_z[:k], SURPRISE_CAP)
    _, short_after = _filter(SURPRISE_ALPHA, 1.0 - SURPRISE_ALPHA, r, row[SHORT])
    lmean_before, lmean_after = _filter(SURPRISE_LONG_ALPHA, 1.0 - SURPRISE_LONG_ALPHA, short_after, row[LONG_MEAN])
    dl = short_after - lmean_before
    g = SURPRISE_LONG_ALPHA
    lvar_before, lvar_after = _filter((1.0 - g) * g, 1.0 - g, dl * dl, row[LONG_VAR])
    evidence = _evidence(short_after, lmean_before, lvar_before)
    new = row.copy()
    last = k - 1
    new[COUNT] = min(row[COUNT] + k, 2.0**30)
    new[MEAN], new[C0], new[C1] = m_after[last], c0_after[last], c1_after[last]
    new[LAST_DEV], new[SCALE] = dev_after[last], s_after[last]
    new[UP], new[DOWN], new[REFERENCE] = up[last], dn[last], ref_after[last]
    new[SHORT], new[LONG_MEAN], new[LONG_VAR] = short_after[last], lmean_after[last], lvar_after[last]
    new[ALARM_SINCE] = np.nan
    new[ALARM_MEAN], new[ALARM_COUNT] = 0.0, 0.0
    ones = np.ones(k, np.bool_)
    out = StepOut(z[:k], shift[:k], drift[:k], evidence, ones, ~ones)
    return k, out, new


def _opens_quiet(row: NDArray[np.float64], x: float, floor: float) -> bool:
    """Whether ``_quiet_run`` from this state would take its first reading ``x``: its test on that one
    reading, in Python floats (the same arithmetic as the array form's first element)."""
    if not math.isnan(row[ALARM_SINCE]):
        return False
    m, c0, c1, dprev = float(row[MEAN]), float(row[C0]), float(row[C1]), float(row[LAST_DEV])
    d = x - m
    phi = min(max(c1 / c0, 0.0), PHI_MAX) if c0 > 0 else 0.0
    e = d - phi * dprev
    s_eff = max(float(row[SCALE]), max(floor, 1e-9 * abs(m)) + 1e-300)
    z = e / s_eff
    long_run = s_eff / (1.0 - phi)
    u = d / long_run
    # max(walk, 0.0) keeps a NaN walk NaN, so a comparison with it is false, as np.maximum's NaN is.
    up, down = max(float(row[UP]) + (u - SHIFT_K), 0.0), max(float(row[DOWN]) + (-u - SHIFT_K), 0.0)
    drift = abs(m - float(row[REFERENCE])) / (long_run * _drift_spread_one(float(row[COUNT])))
    calm = abs(z) < Z_GATE and abs(u) < Z_CLIP and up < SHIFT_H and down < SHIFT_H and drift < DRIFT_SIGMAS
    return calm and math.isfinite(z)


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

    Gives what ``step`` gives reading by reading, up to floating-point rounding of the filters.
    """
    n = x.shape[0]
    z, shift, drift, score = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    tested, rebased = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    valid = np.flatnonzero(ok)
    xv, tv = x[valid], t[valid]
    state = row.reshape(1, N_STATE).copy()
    # Chunks grow with the quiet runs found; where runs keep ending at once (a spiky or alarmed stretch) the
    # readings are stepped one by one, longer each time, before the next try along time.
    i, chunk, misses, stepped_left = 0, 4096, 0, 0
    while i < valid.shape[0]:
        if stepped_left == 0 and state[0, COUNT] >= WARMUP_READINGS:
            # Half the tries on a series that is often in alarm end at their first reading: tell those at the
            # cost of one reading instead of a chunk.
            if _opens_quiet(state[0], float(xv[i]), floor):
                k, out, new = _quiet_run(state[0], xv[i : i + chunk], floor)
                if k:
                    at = valid[i : i + k]
                    z[at], shift[at], drift[at], tested[at] = out.z, out.shift, out.drift, True
                    # The score is evidence of a new anomaly: an onset holds it at zero for hold_s.
                    ends, hold_until = _hold_ends(tv[i : i + k], out.score, state[0, HOLD_UNTIL], hold_s)
                    score[at] = np.where(tv[i : i + k] < ends, 0.0, out.score)
                    state[0] = new
                    state[0, HOLD_UNTIL] = hold_until
                    i += k
                    # A run that filled its chunk may go on: double it. One that ended inside: the next is likely
                    # about as long (every reading computed past a run's end is thrown away).
                    chunk = min(2 * k, 1 << 16) if k == min(chunk, valid.shape[0] - (i - k)) else max(k + k // 4, 64)
                    misses = 0 if k >= 32 else misses
                    continue
            misses += 1
            stepped_left = min(1 << misses, 256)
            chunk = 64
        j = valid[i]
        z[j], shift[j], drift[j], score[j], tested[j], rebased[j] = _step_one(
            state[0], float(x[j]), float(t[j]), floor, hold_s, rebaseline_s
        )
        stepped_left = max(stepped_left - 1, 0)
        i += 1
    row[:] = state[0]
    return StepOut(z, shift, drift, score, tested, rebased)


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
        # Per-segment copies of the state, longest segment first: step k works on a contiguous prefix.
        seg = batch.sensor[starts]
        rows = self.state[self.slot[seg]]
        floor, seg_hold, seg_rebase = c.sigma_floor[seg], hold[seg], rebase[seg]
        for k, a in enumerate(alive):
            idx = starts[:a] + k
            out = step(rows[:a], value[idx], valid[idx], batch.time[idx], floor[:a], seg_hold[:a], seg_rebase[:a])
            z[idx], shift_stat[idx], drift_stat[idx], score[idx] = out.z, out.shift, out.drift, out.score
            scored[idx], rebased[idx] = out.tested, out.rebased
        self.state[self.slot[seg]] = rows

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
