"""Anomalies against a learned baseline: spike, shift, drift; the baseline never learns an ongoing anomaly."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.anomaly import (
    DRIFT_CLEAR_SIGMAS,
    DRIFT_SIGMAS,
    _evidence,
    _spread_at,
    drift_spread,
    evidence_of,
    initial_state,
    run_along_time,
    step,
)
from detectors.config import CoreConfig
from detectors.core import CoreResult, DetectionCore
from detectors.kinds import Kind
from tests.detectors.synthetic import T0, first_on, run, stream

STEP_S = 30.0


def _events(values: np.ndarray) -> dict[str, list[tuple[int, float, bool]]]:
    config = CoreConfig.build([Kind.SOURCE_DOSE_RATE], report_interval_s=np.array([STEP_S]))
    return run(DetectionCore(config), stream([0], T0, STEP_S, {0: values}))


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return 1500 + np.random.default_rng(seed).normal(0, 20, n)


def test_single_spike_gives_one_alarm() -> None:
    """A three-reading burst gives exactly one spike alarm, not one per reading."""
    values = _noise(300)
    values[150:153] = 3000
    events = _events(values)
    assert [a for _, _, a in events["anomaly.spike"]] == [True, False]
    assert first_on(events, "anomaly.spike") == T0 + 150 * STEP_S


def test_shift_is_not_learned_while_it_lasts() -> None:
    """A sustained +5 sigma shift stays alarmed for hundreds of readings (baseline frozen), then clears."""
    values = _noise(1200)
    values[200:900] += 100
    events = _events(values)
    shift = events["anomaly.shift"]
    assert shift[0][2] is True
    assert T0 + 200 * STEP_S <= shift[0][1] <= T0 + 205 * STEP_S
    assert len(shift) == 2
    assert shift[1][2] is False
    assert shift[1][1] > T0 + 900 * STEP_S


def test_slow_drift_is_caught_as_drift() -> None:
    """A slow creep of half a sigma per hundred readings: drift, long before it would be a spike."""
    values = _noise(1500)
    values[300:] += np.arange(1200) * 0.1
    events = _events(values)
    t = first_on(events, "anomaly.drift")
    assert np.isfinite(t)
    assert t < T0 + 700 * STEP_S
    assert "anomaly.spike" not in events


def test_quiet_signal_is_quiet() -> None:
    """Long stationary noise raises no anomaly."""
    assert not [k for k in _events(_noise(3000, seed=4)) if k.startswith("anomaly.")]


def test_false_alarm_rate_on_many_quiet_sensors() -> None:
    """200,000 readings of stationary noise over 50 sensors: no shift or drift alarm at all."""
    from detectors.readings import ReadingBatch

    n, steps = 50, 4000
    config = CoreConfig.build([Kind.SOURCE_DOSE_RATE] * n, report_interval_s=np.full(n, STEP_S))
    rng = np.random.default_rng(9)
    values = 1500 + 20 * rng.standard_normal((steps, n))
    t = np.repeat(T0 + STEP_S * np.arange(steps), n)
    batch = ReadingBatch(
        np.tile(np.arange(n, dtype=np.int32), steps), t, values.ravel(), np.zeros(n * steps, np.uint16)
    )
    names = {e.condition for e in DetectionCore(config).process(batch).conditions}
    assert not names & {"anomaly.shift", "anomaly.drift"}


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    """Stationary AR(1) noise with unit marginal variance."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, np.sqrt(1.0 - phi * phi), n)
    first = rng.normal()
    return np.asarray(lfilter([1.0], [1.0, -phi], e, zi=[phi * first])[0])


def _generic_alarm_fraction(values: np.ndarray) -> tuple[float, dict[str, list[tuple[int, float, bool]]]]:
    from detectors.backtest import backtest

    t = T0 + STEP_S * np.arange(values.shape[0])
    result = backtest(t, values, Kind.GENERIC)
    config = CoreConfig.build([Kind.GENERIC], report_interval_s=np.array([STEP_S]))
    return float(result.alarm.mean()), run(DetectionCore(config), stream([0], T0, STEP_S, {0: values}))


def test_autocorrelated_noise_does_not_alarm() -> None:
    """Stationary AR(1) noise, phi = 0.9 (20,000 readings): no shift or drift, in alarm well under 1 % of the time."""
    for seed in (1, 2, 3):
        fraction, events = _generic_alarm_fraction(100.0 + 5.0 * _ar1(20_000, 0.9, seed))
        assert "anomaly.shift" not in events
        assert "anomaly.drift" not in events
        assert fraction < 0.01


def test_lasting_step_is_one_episode_and_becomes_the_new_normal() -> None:
    """A lasting +5 sigma step on AR(1) noise: one shift alarm, then the new level is normal and says so."""
    values = 100.0 + 5.0 * _ar1(6000, 0.5, 7)
    values[3000:] += 5.0 * 5.0
    _, events = _generic_alarm_fraction(values)
    shift = events["anomaly.shift"]
    assert [active for _, _, active in shift] == [True, False]
    assert T0 + 3000 * STEP_S <= shift[0][1] <= T0 + 3010 * STEP_S
    new_normal = [time for _, time, active in events["anomaly.new_normal"] if active]
    assert len(new_normal) == 1
    assert shift[1][1] >= new_normal[0]
    assert "anomaly.drift" not in events


def test_generic_score_reports_a_new_anomaly_once() -> None:
    """Three bursts of unusual variability far apart each give one reading at score 1, and quiet noise none."""
    from detectors.backtest import backtest

    rng = np.random.default_rng(5)
    values = 10.0 + rng.normal(0.0, 1.0, 8000)
    for at in (3000, 5000, 7000):
        values[at : at + 20] += rng.normal(0.0, 8.0, 20)
    result = backtest(T0 + STEP_S * np.arange(8000), values, Kind.GENERIC)
    onsets = np.flatnonzero(result.anomaly_score >= 1.0)
    assert len(onsets) == 3
    assert all(0 <= o - at < 20 for o, at in zip(onsets, (3000, 5000, 7000), strict=True))


@pytest.mark.slow
def test_along_time_equals_rank_by_rank() -> None:
    """One long segment computed along time gives the rank-by-rank result: same alarms, scores to rounding."""
    from detectors.anomaly import LONG_SEGMENT
    from detectors.readings import ReadingBatch

    rng = np.random.default_rng(11)
    n = 5000
    values = 50.0 + 3.0 * _ar1(n, 0.8, 11)
    values[1500:1503] += 60.0  # a spike
    values[3000:] += 40.0  # a lasting shift, re-baselined (generic) or held (gas)
    values[800] = np.nan  # an invalid reading
    values[4500:4600] += np.linspace(0, 20, 100) + rng.normal(0, 1, 100)
    for kind in (Kind.GENERIC, Kind.GAS):
        config = CoreConfig.build([kind], report_interval_s=np.array([STEP_S]))
        x = np.abs(values) if kind is not Kind.GENERIC else values
        t = np.asarray(T0 + STEP_S * np.arange(n), np.float64)
        batch = ReadingBatch(np.zeros(n, np.int32), t, x, np.zeros(n, np.uint16))
        whole = DetectionCore(config)
        along = whole.process(batch)
        pieces = DetectionCore(config)
        cut = LONG_SEGMENT - 1  # shorter than LONG_SEGMENT: stepped rank by rank
        parts = [pieces.process(batch.take(slice(a, a + cut))) for a in range(0, n, cut)]
        stepped_score = np.concatenate([p.anomaly_score for p in parts])
        np.testing.assert_allclose(along.anomaly_score, stepped_score, atol=1e-9)

        def transitions(results: list[CoreResult]) -> set[tuple[str, float, bool]]:
            return {
                (e.condition, float(tt), bool(a))
                for r in results
                for e in r.conditions
                if e.condition.startswith("anomaly.")
                for tt, a in zip(e.time, e.active, strict=True)
            }

        got = transitions([along])
        assert got == transitions(parts)
        assert any(name == "anomaly.spike" for name, _, _ in got)
        np.testing.assert_allclose(whole.anomaly.state, pieces.anomaly.state, rtol=1e-9, atol=1e-12)


def test_evidence_of_one_reading_equals_the_array_form() -> None:
    """The scalar evidence the stepped path uses is the array form's, edge cases included."""
    rng = np.random.default_rng(9)
    short = np.concatenate((rng.normal(1.0, 0.5, 2000), [1.0, 2.0, 0.5, 3.0, 1.0, np.nan, 2.0, 1e300]))
    mean = np.concatenate((rng.normal(0.8, 0.1, 2000), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 0.0]))
    var = np.concatenate((rng.gamma(1.0, 0.05, 2000), [0.0, 0.0, 0.0, -1.0, np.nan, 0.01, 0.01, 1e-300]))
    expected = _evidence(short, mean, var)
    got = [evidence_of(s, m, v) for s, m, v in zip(short.tolist(), mean.tolist(), var.tolist(), strict=True)]
    np.testing.assert_array_equal(got, expected)
    assert 0.0 < expected[:2000].max() <= 1.0


def _messy_series(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) noise with lasting steps (re-baselined), spikes and bursts, a drift, flat stretches, NaNs and gaps."""
    x = 50.0 + 3.0 * _ar1(n, float(rng.uniform(0.0, 0.95)), int(rng.integers(1 << 30)))
    for _ in range(int(rng.integers(1, 6))):
        at = int(rng.integers(200, n))
        x[at:] += rng.choice([-1.0, 1.0]) * rng.uniform(5.0, 60.0)  # a lasting change
    for _ in range(int(rng.integers(0, 30))):
        at, width = int(rng.integers(150, n)), int(rng.integers(1, 12))
        x[at : at + width] += rng.normal(0.0, 40.0, len(x[at : at + width]))  # a spike or a burst
    at = int(rng.integers(150, n))
    x[at:] += np.linspace(0.0, rng.uniform(0.0, 30.0), n - at)  # a slow drift
    for _ in range(int(rng.integers(0, 4))):
        at, width = int(rng.integers(0, n)), int(rng.integers(20, 400))
        x[at : at + width] = np.round(x[at], 1)  # a flat stretch (the scale collapses to its floor)
    x[rng.random(n) < 0.01] = np.nan
    steps = np.where(rng.random(n) < 0.005, rng.uniform(2.0, 300.0, n), 1.0)  # gaps of up to 300 intervals
    return T0 + STEP_S * np.cumsum(steps), x


def _crossings(
    ok: np.ndarray, z: np.ndarray, shift: np.ndarray, drift: np.ndarray, score: np.ndarray
) -> list[np.ndarray]:
    """Where each alarm statistic is past its on or off level, at the valid readings (an invalid one is not
    tested; the stepped path passes its old CUSUM on there)."""
    on, off = DRIFT_SIGMAS, DRIFT_CLEAR_SIGMAS
    return [c[ok] for c in (np.abs(z) >= 6.0, shift >= 15.0, shift < 7.5, drift >= on, drift < off, score >= 1.0)]


@pytest.mark.slow
def test_along_time_equals_reading_by_reading_on_random_series() -> None:
    """The along-time path gives every alarm statistic's crossings, re-baselines and score onsets of the exact
    recursion stepped one reading at a time, scores to rounding, on random series with everything in them."""
    rng = np.random.default_rng(2026)
    hold, rebaseline = 100 * STEP_S, 100 * STEP_S
    rebases = 0
    for trial in range(6):
        t, x = _messy_series(rng, int(rng.integers(1200, 2500)))
        t = np.asarray(t, np.float64)
        floor = 0.0 if trial % 3 else 0.05
        ok = np.isfinite(x)
        along_row = initial_state(1)[0]
        along = run_along_time(along_row, x, ok, t, floor, hold, rebaseline)
        state = initial_state(1)
        stepped = [
            step(
                state,
                x[j : j + 1],
                ok[j : j + 1],
                t[j : j + 1],
                np.array([floor]),
                np.array([hold]),
                np.array([rebaseline]),
            )
            for j in range(x.shape[0])
        ]

        by_step = [np.concatenate([getattr(o, name) for o in stepped]) for name in ("z", "shift", "drift", "score")]
        mine = _crossings(ok, along.z, along.shift, along.drift, along.score)
        for got, want in zip(mine, _crossings(ok, *by_step), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(along.rebased, np.concatenate([o.rebased for o in stepped]))
        np.testing.assert_array_equal(along.tested, np.concatenate([o.tested for o in stepped]))
        np.testing.assert_allclose(along.score, by_step[3], atol=1e-9)
        np.testing.assert_allclose(along_row, state[0], rtol=1e-7, atol=1e-9)
        rebases += int(along.rebased.sum())
    assert rebases >= 5


def test_alarms_and_bursts_are_computed_along_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long series that is often in alarm (lasting steps, bursts) is not stepped reading by reading: only
    its warm-up and its re-baselines are (the along-time path once stepped every reading of a shift alarm)."""
    import detectors.anomaly as model

    calls = [0]
    exact = model._step_one

    def counted(*args: object) -> tuple[float, float, float, float, bool, bool]:
        calls[0] += 1
        return exact(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "_step_one", counted)
    rng = np.random.default_rng(4)
    n = 20_000
    x = 100.0 + 5.0 * _ar1(n, 0.7, 4)
    for at in range(1000, n, 1000):
        x[at:] += 40.0 if at % 2000 else -40.0  # a lasting change every thousand readings
        x[at + 500 : at + 505] += rng.normal(0.0, 60.0, 5)  # and a burst between them
    t = np.asarray(T0 + STEP_S * np.arange(n), np.float64)
    out = run_along_time(initial_state(1)[0], x, np.ones(n, np.bool_), t, 0.0, 100 * STEP_S, 100 * STEP_S)
    assert int(out.rebased.sum()) >= 10
    assert int((out.shift >= 15.0).sum()) > 1000
    assert calls[0] <= 100 + 2 * int(out.rebased.sum()) + 50


def test_two_sigma_step_on_strongly_correlated_noise_is_one_episode() -> None:
    """AR(1) noise with phi = 0.9 and a lasting step of two marginal sigmas (0.46 long-run sigmas): one alarm
    episode, then the new level is normal and says so. The baseline used to learn such a step silently."""
    from detectors.backtest import backtest

    for seed in (101, 102, 103):
        values = 100.0 + 5.0 * _ar1(20_000, 0.9, seed)
        values[10_000:] += 2 * 5.0
        t = T0 + STEP_S * np.arange(values.shape[0])
        alarm = backtest(t, values, Kind.GENERIC).alarm.astype(np.int8)
        assert not alarm[:10_000].any()
        onsets = np.flatnonzero(np.diff(alarm) == 1) + 1
        assert onsets.shape[0] == 1, onsets
        assert 10_000 <= onsets[0] <= 10_000 + 1_000, onsets
        assert not alarm[-1]  # re-baselined: the alarm did not last for ever


def test_drift_spread_table_equals_the_formula_at_every_count() -> None:
    """The along-time path reads the drift's standard error from a table that stops where the formula stops
    changing in floating point: the same values below, at and far beyond its end."""
    from detectors.anomaly import _spread_of, _spread_table, drift_spread

    last = _spread_table().shape[0] - 1
    counts = np.concatenate(
        (np.arange(0, 3000), np.arange(last - 50, last + 50), [2 * last, 10 * last, 2.0**30 - 1, 2.0**30])
    ).astype(np.int64)
    np.testing.assert_array_equal(
        _spread_of(0, counts.astype(np.intp), counts.shape[0]), drift_spread(counts.astype(np.float64))
    )
    for first, n in ((100, 500), (last - 10, 40), (last + 5, 7), (2**30, 3)):
        np.testing.assert_array_equal(
            np.broadcast_to(_spread_of(first, None, n), (n,)),
            drift_spread(np.arange(first, first + n, dtype=np.float64)),
        )


def test_warm_up_loop_equals_stepping_each_reading() -> None:
    """The along-time path runs the warm-up in one loop of Python floats: the state, z and drift of stepping
    each reading with ``_step_one``, bit for bit (a floor, a flat start and a jump included)."""
    from detectors.anomaly import WARMUP_READINGS, _step_one, _warm_up

    rng = np.random.default_rng(21)
    x = np.concatenate(([5.0] * 10, 5.0 + rng.normal(0.0, 2.0, WARMUP_READINGS - 20), [40.0], rng.normal(5, 2, 9)))
    for floor in (0.0, 0.5):
        stepped_row, looped_row = initial_state(1)[0], initial_state(1)[0]
        stepped = [_step_one(stepped_row, v, T0 + i, floor, 100.0, 100.0) for i, v in enumerate(x.tolist())]
        z, drift = _warm_up(looped_row, x.tolist(), floor)
        np.testing.assert_array_equal(z, [s[0] for s in stepped])
        np.testing.assert_array_equal(drift, [s[2] for s in stepped])
        assert not any(s[1] or s[3] or s[4] or s[5] for s in stepped)
        np.testing.assert_array_equal(looped_row, stepped_row)


def test_looked_up_drift_spread_is_the_formula_at_every_count() -> None:
    """The rank-by-rank model looks the drift's standard error up by count: the same values as the formula, from the
    first reading to the cap of 2^30 learnt readings, in any order."""
    rng = np.random.default_rng(3)
    counts = np.concatenate([rng.permutation(200_000), rng.integers(200_000, 2**30, 100_000), [2**30]]).astype(
        np.float64
    )
    assert np.array_equal(_spread_at(counts), drift_spread(counts))
