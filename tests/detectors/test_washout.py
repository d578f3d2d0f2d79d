"""Rain washout never hides a real source, and rain alone never raises anything suspicious (synthetic truth).

The washout truth is physical (tests/detectors/synthetic.py ``washout_excess``): rain deposits radon progeny, which
decay with their half-lives once it stops. Storms are convective cells crossing a network of gamma stations, some
with their own rain sensor, some relying on gauges nearby.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from detectors.readings import ReadingBatch
from tests.detectors.synthetic import T0, first_on, run, washout_excess

STEP_S = 60.0
HOUR = 60  # readings per hour
T_DAY0 = np.floor(T0 / 86_400.0) * 86_400.0


@dataclass(frozen=True)
class Network:
    """Gamma stations on a grid; ``gauge_of[i]`` is station i's own rain sensor (-1: none)."""

    config: CoreConfig
    gamma: list[int]
    gauge_of: list[int]
    xy_km: np.ndarray


def network(cols: int, rows: int, spacing_km: float = 5.0, own_gauge_every: int = 2) -> Network:
    """A grid of stations; every ``own_gauge_every``-th has its own rain sensor; neighbours within 10 km, gauges
    within 15 km (own first)."""
    kinds: list[Kind] = []
    device: list[int] = []
    gamma: list[int] = []
    gauge_of: list[int] = []
    xy: list[tuple[float, float]] = []
    for d in range(cols * rows):
        gamma.append(len(kinds))
        kinds.append(Kind.GAMMA_DOSE_RATE)
        device.append(d)
        xy.append(((d % cols) * spacing_km, (d // cols) * spacing_km))
        if d % own_gauge_every == 0:
            gauge_of.append(len(kinds))
            kinds.append(Kind.RAIN_RATE)
            device.append(d)
        else:
            gauge_of.append(-1)
    n = len(kinds)
    pos = np.array(xy)
    dist = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1))
    neighbours = [[gamma[j] for j in range(len(gamma)) if j != i and dist[i, j] <= 10.0] for i in range(len(gamma))]
    gauges = []
    for i in range(len(gamma)):
        near = [j for j in np.argsort(dist[i], kind="stable") if dist[i, j] <= 15.0 and gauge_of[j] >= 0]
        own = [gauge_of[i]] if gauge_of[i] >= 0 else []
        gauges.append(own + [gauge_of[j] for j in near if gauge_of[j] not in own])
    n_off, g_off = np.zeros(n + 1, np.int32), np.zeros(n + 1, np.int32)
    n_idx, g_idx = [], []
    for sensor in range(n):
        if sensor in gamma:
            i = gamma.index(sensor)
            n_idx += neighbours[i]
            g_idx += gauges[i]
        n_off[sensor + 1], g_off[sensor + 1] = len(n_idx), len(g_idx)
    config = CoreConfig.build(
        kinds,
        np.array(device),
        report_interval_s=np.full(n, STEP_S),
        neighbour_offsets=n_off,
        neighbour_index=np.array(n_idx, np.int32),
        rain_gauge_offsets=g_off,
        rain_gauge_index=np.array(g_idx, np.int32),
    )
    return Network(config, gamma, gauge_of, pos)


def storm_rain(net: Network, steps: int, rng: np.random.Generator, days: int) -> np.ndarray:
    """Rain rate (mm/h) at each station: afternoon convective cells (8 km radius, 30 km/h) crossing the network."""
    rain = np.zeros((steps, len(net.gamma)))
    t_h = np.arange(steps) / HOUR
    for day in range(days):
        for _ in range(3):
            start_h = day * 24 + rng.uniform(13.0, 18.0)
            heading = rng.uniform(0, 2 * np.pi)
            speed = rng.uniform(20.0, 40.0)
            centre = net.xy_km.mean(axis=0)
            origin = centre - 40.0 * np.array([np.cos(heading), np.sin(heading)])
            peak = rng.uniform(10.0, 40.0)
            radius = rng.uniform(5.0, 10.0)
            dt = np.clip(t_h - start_h, 0.0, None)
            where = origin[None, :] + speed * dt[:, None] * np.array([np.cos(heading), np.sin(heading)])[None, :]
            d = np.hypot(*(net.xy_km[None, :, :] - where[:, None, :]).transpose(2, 0, 1))
            cell = peak * np.exp(-0.5 * (d / (0.5 * radius)) ** 2) * ((t_h >= start_h) & (t_h < start_h + 5))[:, None]
            rain += np.where(cell >= 0.2, cell, 0.0)
    return rain


def _series(
    net: Network, rain: np.ndarray, rng: np.random.Generator, extra: dict[int, np.ndarray] | None = None
) -> ReadingBatch:
    """Every station and own gauge, 60-s reports; dose = background x (1 + washout) (+ any extra, nSv/h)."""
    steps = rain.shape[0]
    background = rng.uniform(80.0, 130.0, len(net.gamma))
    columns: dict[int, np.ndarray] = {}
    for i, g in enumerate(net.gamma):
        mean = background[i] * (1 + washout_excess(rain[:, i], STEP_S))
        if extra and i in extra:
            mean = mean + extra[i]
        counts = 0.1 * STEP_S
        columns[g] = rng.poisson(mean * (1 + 0.03 * rng.standard_normal(steps)) * counts) / counts
        if net.gauge_of[i] >= 0:
            columns[net.gauge_of[i]] = np.round(rain[:, i], 1)
    sensors = sorted(columns)
    t = T_DAY0 + STEP_S * np.arange(steps)
    return ReadingBatch(
        np.tile(np.array(sensors, np.int32), steps),
        np.repeat(t, len(sensors)),
        np.stack([columns[s] for s in sensors], axis=1).ravel(),
        np.zeros(steps * len(sensors), np.uint16),
    )


def _feed(net: Network, batch: ReadingBatch) -> tuple[DetectionCore, dict[str, list[tuple[int, float, bool]]]]:
    """Hourly batches, as a live feed flushed every hour would deliver them."""
    core = DetectionCore(net.config)
    per_hour = HOUR * len(set(batch.sensor.tolist()))
    return core, run(core, batch, cuts=list(range(per_hour, len(batch), per_hour)))


def test_afternoon_storms_over_24_stations_never_raise_a_suspicious_rise() -> None:
    """Three days of afternoon storms over 24 stations (half without their own gauge): washout rises are many,
    every one natural; nothing suspicious, no slow rise, so no incident above blue can open."""
    net = network(6, 4)
    days = 3
    rng = np.random.default_rng(12)
    rain = storm_rain(net, days * 24 * HOUR, rng, days)
    _, events = _feed(net, _series(net, rain, rng))
    natural = {s for s, _, a in events.get("gamma.rise_natural", []) if a}
    print(f"storms: {len(natural)} stations with natural rises, {len(events.get('gamma.rise', [])) // 2} rises")
    assert len(natural) >= 12  # the storms really wash out
    assert "gamma.rise_suspicious" not in events
    assert "gamma.rise_slow" not in events


def _source_case(
    source_start_h: float, rain_hours: tuple[float, float] | None, fraction: float = 0.3
) -> tuple[float, float, list[Any]]:
    """Four stations 5 km apart sharing one gauge: a shower over all of them (or none), and a source adding
    ``fraction`` of background at station 0 from ``source_start_h``. Returns (source start, rain end, station 0's
    class transitions)."""
    net = network(2, 2, own_gauge_every=4)
    steps = 10 * HOUR
    rain = np.zeros((steps, 4))
    if rain_hours is not None:
        a, b = (int(h * HOUR) for h in rain_hours)
        rain[a:b] = 8.0
    rng = np.random.default_rng(31)
    extra = np.zeros(steps)
    at = int(source_start_h * HOUR)
    background = 100.0
    extra[at:] = fraction * background
    batch = _series(net, rain, rng, {0: extra})
    _, events = _feed(net, batch)
    g = net.gamma[0]
    classes = sorted(
        (t, name, a)
        for name in ("gamma.rise_natural", "gamma.rise_suspicious")
        for s, t, a in events.get(name, [])
        if s == g
    )
    rain_end = T_DAY0 + (rain_hours[1] if rain_hours else source_start_h) * 3600.0
    return T_DAY0 + at * STEP_S, rain_end, classes


def _suspicious_at(classes: list[Any], when: float) -> bool:
    state = {"gamma.rise_natural": False, "gamma.rise_suspicious": False}
    for t, name, a in classes:
        if t <= when:
            state[name] = a
    return state["gamma.rise_suspicious"]


def test_source_without_rain_is_suspicious_within_30_minutes() -> None:
    start, _, classes = _source_case(4.0, None)
    assert _suspicious_at(classes, start + 30 * 60), classes


def test_source_before_rain_is_suspicious_within_90_minutes_of_the_rain_ending() -> None:
    start, rain_end, classes = _source_case(3.0, (4.0, 5.0))
    assert _suspicious_at(classes, start + 30 * 60), classes  # before the rain: no rain to explain it
    assert _suspicious_at(classes, rain_end + 90 * 60), classes


def test_source_during_rain_is_suspicious_within_90_minutes_of_the_rain_ending() -> None:
    _, rain_end, classes = _source_case(4.5, (4.0, 5.0))
    assert _suspicious_at(classes, rain_end + 90 * 60), classes


def test_source_after_rain_is_suspicious_within_90_minutes_of_the_rain_ending() -> None:
    _, rain_end, classes = _source_case(5.5, (4.0, 5.0))
    assert _suspicious_at(classes, rain_end + 90 * 60), classes


def test_source_far_beyond_any_washout_is_suspicious_at_once_during_rain() -> None:
    """A source adding four times background in the middle of a shower: no rain washes out that much, so it is
    suspicious within five minutes of its start (the station's washout rise before it was natural, rightly).
    A fresh rise with such an excess is decided at once too, not after the ten minutes a rise waits for gauges
    and neighbours."""
    start, _, classes = _source_case(4.5, (4.0, 5.0), fraction=4.0)
    assert _suspicious_at(classes, start + 5 * 60), classes
    start, _, classes = _source_case(4.0, None, fraction=4.0)
    assert _suspicious_at(classes, start + 5 * 60), classes


def test_suspicious_class_withdrawn_when_the_rain_reaches_the_gauge_with_the_neighbours() -> None:
    """The rain front reaches station 0 first and its gauge (at another station) twenty minutes later, when the
    neighbours are rising too: the early suspicious class is withdrawn as washout, with a reason."""
    net = network(2, 2, own_gauge_every=4)  # one gauge for the four stations, at station 0
    steps = 8 * HOUR
    rain = np.zeros((steps, 4))
    front = 3 * HOUR
    rain[front : front + 60, 0] = 30.0  # heavy rain at station 0 first
    rain[front + 18 : front + 78, 1:] = 30.0  # then at the others
    rng = np.random.default_rng(8)
    batch = _series(net, rain, rng)
    # The gauge (station 0's own) is late: it reports rain only from the time the front reaches the others.
    gauge = net.gauge_of[0]
    late = (batch.sensor == gauge) & (batch.time < T_DAY0 + (front + 18) * STEP_S)
    value = np.where(late, 0.0, batch.value)
    batch = ReadingBatch(batch.sensor, batch.time, value, batch.flags)
    core, events = _feed(net, batch)
    g = net.gamma[0]
    suspicious = [(t, a) for s, t, a in events.get("gamma.rise_suspicious", []) if s == g]
    natural_on = first_on(events, "gamma.rise_natural", g)
    assert suspicious, events.get("gamma.rise_suspicious")
    assert suspicious[0][1]  # first called suspicious: no rain at the gauge yet, no neighbour rising
    assert suspicious[1] == (natural_on, False)
    reasons = [reason for s, _, reason in core.gamma.withdrawals if s == g]
    assert reasons
    assert "rain reached the gauges" in reasons[0]
    assert "gamma.rise_suspicious" not in {name for name, rows in events.items() for s, _, _ in rows if s != g}
