"""Washout explains only so much: a rise beyond what rain can do is suspicious even while it rains (synthetic truth).

The truth is built from published physics, independently of the detector: rain deposits radon progeny (Pb-214,
Bi-214) and the excess dose rate follows their Bateman build-up and decay (tests/detectors/synthetic.py
``washout_excess``); networks see rain raise the dose rate by typically 10-50 % of background and rarely by more
than about 100 % (Mercier et al., J. Environ. Radioact. 100, 2009; Livesay et al., J. Environ. Radioact. 137, 2014).
A point source adds a constant dose rate at one station that does not decay after the rain; wet deposition of
fallout adds a lasting excess at every station under the rain. Backgrounds are those of real stations, 55-130 nSv/h.
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors.core import DetectionCore
from detectors.gamma import RISE_NATURAL, RISE_SUSPICIOUS
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import first_on, run, washout_excess
from tests.detectors.test_washout import HOUR, STEP_S, T_DAY0, Network, network

RAIN_START = 1 * HOUR  # readings (60 s) into the series
RAIN_END = 3 * HOUR
HEAVY_MM_H = 25.0  # a heavy shower (the drill's): 25 mm/h for two hours


def _rain(steps: int, start: int = RAIN_START, end: int = RAIN_END) -> np.ndarray:
    """Heavy rain (mm/h) from reading ``start`` to ``end``."""
    rain = np.zeros(steps)
    rain[start:end] = HEAVY_MM_H
    return rain


def _washout(steps: int, peak: float, rain: np.ndarray | None = None) -> np.ndarray:
    """Washout excess (fraction of background) of the heavy rain, scaled so its peak is ``peak``."""
    excess = washout_excess(_rain(steps) if rain is None else rain, STEP_S)
    scaled: np.ndarray = excess * (peak / excess.max())
    return scaled


def _batch(
    net: Network,
    background: list[float],
    excess: list[np.ndarray],
    extra: dict[int, np.ndarray],
    seed: int,
    rain: np.ndarray | None = None,
) -> ReadingBatch:
    """Every station and own gauge, 60-s reports: Poisson counts of background x (1 + excess) + extra (nSv/h)."""
    rng = np.random.default_rng(seed)
    steps = excess[0].shape[0]
    rain = _rain(steps) if rain is None else rain
    columns: dict[int, np.ndarray] = {}
    for i, g in enumerate(net.gamma):
        mean = background[i] * (1.0 + excess[i]) + extra.get(i, np.zeros(steps))
        counts = 0.1 * STEP_S  # a 0.1 cps per nSv/h probe
        columns[g] = rng.poisson(mean * (1 + 0.03 * rng.standard_normal(steps)) * counts) / counts
        if net.gauge_of[i] >= 0:
            columns[net.gauge_of[i]] = rain
    sensors = sorted(columns)
    t = T_DAY0 + STEP_S * np.arange(steps)
    return ReadingBatch(
        np.tile(np.array(sensors, np.int32), steps),
        np.repeat(t, len(sensors)),
        np.stack([columns[s] for s in sensors], axis=1).ravel(),
        np.zeros(steps * len(sensors), np.uint16),
    )


def _feed(net: Network, batch: ReadingBatch) -> tuple[DetectionCore, dict[str, list[tuple[int, float, bool]]]]:
    """Batches of ten minutes, as a live feed delivers them."""
    core = DetectionCore(net.config)
    per = 10 * len(set(batch.sensor.tolist()))
    return core, run(core, batch, cuts=list(range(per, len(batch), per)))


def _at(minute: int) -> float:
    return float(T_DAY0 + minute * STEP_S)


@pytest.mark.parametrize("background", [55.0, 85.0, 130.0])
@pytest.mark.parametrize("peak", [0.5, 0.9, 1.0])
def test_strong_washout_in_heavy_rain_at_a_lone_station_stays_natural(background: float, peak: float) -> None:
    """Heavy rain washing out up to +100 % (the most networks see) at a station with no neighbour to compare:
    a natural rise, never suspicious."""
    net = network(1, 1)
    steps = 7 * HOUR
    batch = _batch(net, [background], [_washout(steps, peak)], {}, seed=int(background + 100 * peak))
    _, events = _feed(net, batch)
    assert first_on(events, RISE_NATURAL) < _at(RAIN_END), events
    assert RISE_SUSPICIOUS not in events, events[RISE_SUSPICIOUS]


def test_washout_of_100_nsv_h_at_a_low_background_station_stays_natural() -> None:
    """Washout comes from the air, not the soil: the same storm that adds +100 nSv/h at ordinary stations adds it
    at a 35 nSv/h station too (+285 % of its background). Natural, never suspicious."""
    net = network(1, 1)
    steps = 7 * HOUR
    batch = _batch(net, [35.0], [_washout(steps, 100.0 / 35.0)], {}, seed=77)
    _, events = _feed(net, batch)
    assert first_on(events, RISE_NATURAL) < _at(RAIN_END), events
    assert RISE_SUSPICIOUS not in events, events[RISE_SUSPICIOUS]


def test_strong_washout_over_a_network_stays_natural_at_every_station() -> None:
    """+90 % washout under the same heavy rain at nine stations of 55-85 nSv/h (each a little different):
    every rise natural, nothing suspicious."""
    net = network(3, 3)
    steps = 7 * HOUR
    rng = np.random.default_rng(5)
    background = list(rng.uniform(55.0, 85.0, 9))
    excess = [_washout(steps, 0.9 * w) for w in rng.uniform(0.9, 1.1, 9)]
    _, events = _feed(net, _batch(net, background, excess, {}, seed=6))
    natural = {s for s, _, a in events.get(RISE_NATURAL, []) if a}
    assert len(natural) >= 7, events.get(RISE_NATURAL)
    assert RISE_SUSPICIOUS not in events, events[RISE_SUSPICIOUS]


def _source(steps: int, start: int, nsv_h: float, ramp: int = 2) -> np.ndarray:
    """A point source brought near the station: ``nsv_h`` more from ``start`` (a two-minute ramp), lasting."""
    k = np.arange(steps)
    return nsv_h * np.clip((k - start) / ramp, 0.0, 1.0)


def test_source_in_heavy_rain_at_a_lone_station_is_suspicious_while_it_rains() -> None:
    """+400 nSv/h at a 70 nSv/h station 40 min into heavy rain that already washed out +90 %: no washout does that.
    Suspicious within ten minutes of the source, while it still rains; the reason and the level say how much of
    the rise washout explains and that the rest is judged as a possible source."""
    net = network(1, 1)
    steps = 5 * HOUR
    start = RAIN_START + 40
    core, events = _feed(net, _batch(net, [70.0], [_washout(steps, 0.9)], {0: _source(steps, start, 400.0)}, 3))
    g = net.gamma[0]
    assert first_on(events, RISE_NATURAL, g) < _at(start)  # the washout rise came first, rightly natural
    called = first_on(events, RISE_SUSPICIOUS, g)
    assert _at(start) < called <= _at(start + 10), events
    reason = core.gamma.reasons[g]
    assert "possible source" in reason
    assert "nSv/h" in reason


def test_suspicious_level_is_the_dose_rate_washout_explains() -> None:
    """The suspicious transition's level is what washout can explain (background x (1 + ceiling)): above the
    washed-out reading of a rainy day, far below the source's reading."""
    net = network(1, 1)
    steps = 4 * HOUR
    start = RAIN_START + 40
    batch = _batch(net, [70.0], [_washout(steps, 0.9)], {0: _source(steps, start, 400.0)}, 4)
    core = DetectionCore(net.config)
    per = 10 * len(set(batch.sensor.tolist()))
    ons = []
    for a in range(0, len(batch), per):
        for e in core.process(batch.take(slice(a, a + per))).conditions:
            if e.condition == RISE_SUSPICIOUS:
                ons += [(float(v), float(lv)) for v, lv, act in zip(e.value, e.level, e.active, strict=True) if act]
    assert ons
    value, level = ons[0]
    assert 70.0 * 1.9 < level < 70.0 + 250.0  # more than the strongest washout seen, well under the source
    assert value > level + 150.0


def test_fallout_rained_out_over_every_station_is_suspicious_while_it_rains() -> None:
    """Rain bringing down a radioactive plume: +300 % at four stations at once, far beyond any washout. Shared by
    the neighbours, but no radon washout does it: suspicious at every station before the rain ends."""
    net = network(2, 2)
    steps = 5 * HOUR
    fallout = np.zeros(steps)
    fallout[RAIN_START + 20 :] = np.minimum(np.arange(steps - RAIN_START - 20) / 30.0, 1.0) * 3.0
    excess = [_washout(steps, 0.6) + fallout for _ in range(4)]
    _, events = _feed(net, _batch(net, [60.0, 70.0, 80.0, 75.0], excess, {}, seed=9))
    for g in net.gamma:
        assert first_on(events, RISE_SUSPICIOUS, g) < _at(RAIN_END), (g, events.get(RISE_SUSPICIOUS))


def test_source_in_heavy_rain_in_a_network_is_suspicious_at_its_station_only() -> None:
    """The drill's case on a 3x3 network: every station washed out by up to +90 %, a +400 nSv/h source at the
    centre one. The centre is suspicious within ten minutes of the source, the others stay natural."""
    net = network(3, 3)
    steps = 6 * HOUR
    rng = np.random.default_rng(21)
    background = list(rng.uniform(55.0, 85.0, 9))
    excess = [_washout(steps, 0.9 * w) for w in rng.uniform(0.9, 1.1, 9)]
    start = RAIN_START + 30
    _, events = _feed(net, _batch(net, background, excess, {4: _source(steps, start, 400.0)}, seed=22))
    centre = net.gamma[4]
    assert _at(start) < first_on(events, RISE_SUSPICIOUS, centre) <= _at(start + 10), events.get(RISE_SUSPICIOUS)
    assert {s for s, _, a in events.get(RISE_SUSPICIOUS, []) if a} == {centre}


@pytest.mark.parametrize("source", [0.0, 400.0])
def test_cold_start_in_heavy_rain_learns_neither_the_washout_nor_a_source(source: float) -> None:
    """The core starts (a new network, a drill) five minutes before heavy rain over nine stations; at one, a
    +400 nSv/h source arrives twenty minutes in, while the stations are still learning their background. The
    source must not become that station's background: it is suspicious within the first hour, and only there;
    without the source, the cold start in rain raises nothing suspicious."""
    net = network(3, 3)
    steps = 3 * HOUR
    rain = _rain(steps, 5, 35)
    rng = np.random.default_rng(44)
    background = list(rng.uniform(55.0, 85.0, 9))
    excess = [_washout(steps, 0.9 * w, rain) for w in rng.uniform(0.9, 1.1, 9)]
    extra = {4: _source(steps, 20, source)}
    _, events = _feed(net, _batch(net, background, excess, extra, seed=45, rain=rain))
    suspicious = {s for s, _, a in events.get(RISE_SUSPICIOUS, []) if a}
    if source:
        assert suspicious == {net.gamma[4]}, events.get(RISE_SUSPICIOUS)
        assert first_on(events, RISE_SUSPICIOUS, net.gamma[4]) <= _at(60)
    else:
        assert not suspicious, events.get(RISE_SUSPICIOUS)
