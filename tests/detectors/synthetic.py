"""Synthetic sites and signals of known truth for the detector tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from detectors.readings import ReadingBatch
from detectors.thresholds import ThresholdParams

T0 = 1_750_000_000.0  # an arbitrary epoch second; nothing reads the wall clock


@dataclass(frozen=True)
class MixedSite:
    """A small site with every kind of channel, and the sensor numbers of each role."""

    config: CoreConfig
    gamma: list[int]  # four stations close together
    rain: int
    temperature: int
    cl2: int
    nh3: int
    source_dose: int
    tamper: int
    battery: int
    mains: int
    lat: int
    lon: int
    hdop: int
    fence_center: tuple[float, float]


def mixed_site() -> MixedSite:
    """Four gamma stations + a weather station + two gas sensors + a mobile sealed-source camera."""
    kinds = [Kind.GAMMA_DOSE_RATE] * 4 + [Kind.RAIN_RATE, Kind.TEMPERATURE, Kind.GAS, Kind.GAS]
    kinds += [Kind.SOURCE_DOSE_RATE, Kind.TAMPER, Kind.BATTERY_VOLTAGE, Kind.MAINS_POWER]
    kinds += [Kind.LATITUDE, Kind.LONGITUDE, Kind.HDOP]
    device = [0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 6, 6, 6, 6]
    substances: list[str | None] = [None] * 6 + ["Cl2", "NH3"] + [None] * 7
    n = len(kinds)
    interval = np.array([60.0] * 6 + [10.0, 10.0] + [30.0] * 7)
    lat = np.array([31.90, 31.91, 31.90, 31.91, 31.905, 31.905, 31.9, 31.9] + [31.9] * 7)
    lon = np.array([121.10, 121.10, 121.11, 121.11, 121.105, 121.105, 121.1, 121.1] + [121.1] * 7)
    nan = np.full(n, np.nan)
    high, low, deadband, on_delay = nan.copy(), nan.copy(), np.zeros(n), np.zeros(n)
    high[:4] = 200.0
    deadband[:4] = 20.0
    on_delay[:4] = 120.0
    high[6], deadband[6] = 0.345, 0.034
    low[10], deadband[10], on_delay[10] = 11.4, 0.2, 60.0
    full_scale = nan.copy()
    full_scale[:4] = 1e7
    full_scale[6:8] = [100.0, 500.0]
    full_scale[8] = 1e8
    neighbours = [[j for j in range(4) if j != i] for i in range(4)]
    offsets = np.zeros(n + 1, np.int32)
    offsets[1:5] = np.cumsum([3, 3, 3, 3])
    offsets[5:] = 12
    config = CoreConfig.build(
        kinds,
        device,
        substances=substances,
        report_interval_s=interval,
        lat=lat,
        lon=lon,
        full_scale=full_scale,
        thresholds=ThresholdParams(high, nan.copy(), low, deadband, on_delay, np.zeros(n)),
        rain_sensor=np.array([4, 4, 4, 4] + [-1] * (n - 4), np.int32),
        neighbour_offsets=offsets,
        neighbour_index=np.array([j for x in neighbours for j in x], np.int32),
    )
    config = config.with_sources([8], [1500.0], [2])
    fence = (31.9, 121.1)
    lat_f, lon_f, r_f = (config.geofence_lat.copy(), config.geofence_lon.copy(), config.geofence_radius_m.copy())
    lat_f[6], lon_f[6], r_f[6] = fence[0], fence[1], 600.0
    config = replace(config, geofence_lat=lat_f, geofence_lon=lon_f, geofence_radius_m=r_f)
    return MixedSite(config, [0, 1, 2, 3], 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, fence)


def stream(
    sensors: list[int],
    start: float,
    interval: float,
    values: dict[int, NDArray[np.float64]],
    flags: dict[int, NDArray[np.uint16]] | None = None,
) -> ReadingBatch:
    """Readings of the given sensors every ``interval`` seconds, in time order (sensors share timestamps)."""
    count = len(values[sensors[0]])
    t = start + interval * np.arange(count)
    sensor = np.tile(np.asarray(sensors, np.int32), count)
    time = np.repeat(t, len(sensors))
    value = np.stack([values[s] for s in sensors], axis=1).ravel()
    flag = np.zeros(value.shape[0], np.uint16)
    if flags:
        flag = np.stack([flags.get(s, np.zeros(count, np.uint16)) for s in sensors], axis=1).ravel()
    return ReadingBatch(sensor, time, value, flag)


def run(
    core: DetectionCore, batch: ReadingBatch, cuts: list[int] | None = None
) -> dict[str, list[tuple[int, float, bool]]]:
    """Feed ``batch`` in pieces cut at ``cuts``; return every transition as (sensor, time, active) per condition."""
    bounds = [0, *(cuts or []), len(batch)]
    out: dict[str, list[tuple[int, float, bool]]] = {}
    for a, b in itertools.pairwise(bounds):
        for e in core.process(batch.take(slice(a, b))).conditions:
            out.setdefault(e.condition, []).extend(_rows(e))
    return out


def _rows(e: ConditionEvents) -> list[tuple[int, float, bool]]:
    return [(int(s), float(t), bool(a)) for s, t, a in zip(e.sensor, e.time, e.active, strict=True)]


def first_on(events: dict[str, list[tuple[int, float, bool]]], condition: str, sensor: int | None = None) -> float:
    """Time the condition first turned on (for the sensor), or nan."""
    times = [t for s, t, a in events.get(condition, []) if a and (sensor is None or s == sensor)]
    return min(times) if times else float("nan")


def eventful_stream(seed: int, steps: int, step_s: float = 30.0) -> tuple[MixedSite, ReadingBatch]:
    """Every channel of ``mixed_site`` for ``steps`` time steps, with rises, plumes, faults and glitches mixed in."""
    site = mixed_site()
    rng = np.random.default_rng(seed)
    k = np.arange(steps)
    values: dict[int, NDArray[np.float64]] = {}
    flags: dict[int, NDArray[np.uint16]] = {}
    for i, g in enumerate(site.gamma):
        base = 90.0 + 10 * i + rng.normal(0, 4, steps)
        base[k > steps // 2] *= 1.0 + 0.4 * (i < 2)  # two stations rise half way
        values[g] = base
        # Occasional saturation flags (a reading at or above full scale: conclusive, suspicious at once), at the
        # stations that do not rise, so the two that do can still be judged washout while it rains.
        saturated = (rng.random(steps) < 0.03) & (i >= 2)
        flags[g] = np.where(saturated, 2, 0).astype(np.uint16)
    values[site.rain] = np.where((k > steps // 3) & (k < steps // 2 + 5), 5.0, 0.0)
    values[site.temperature] = 20 + rng.normal(0, 0.3, steps)
    values[site.temperature][steps // 4] = 45.0  # a glitch
    # A frozen transmitter: stuck once it has read the same for an hour (its report interval is 60 s).
    values[site.temperature][steps // 3 : steps // 3 + 125] = 21.5
    values[site.gamma[3]][steps // 6 : steps // 6 + 5] = 0.0  # a dead tube (flatline)
    values[site.gamma[3]][steps // 7] = -1.0  # out of range
    plume = np.exp(-0.5 * ((k - steps * 0.6) / (steps * 0.1)) ** 2)
    values[site.cl2] = np.round(np.abs(rng.normal(0, 0.02, steps)) + 4.0 * plume, 3)
    values[site.nh3] = np.round(np.abs(rng.normal(0, 0.5, steps)) + 250.0 * plume, 2)
    dose = 1500 + rng.normal(0, 30, steps)
    dose[(k > steps * 0.3) & (k < steps * 0.45)] = 110.0 + rng.normal(
        0, 5, int(((k > steps * 0.3) & (k < steps * 0.45)).sum())
    )
    # Saturated at full scale, then back to the baseline at once: a fall no field makes (fold-back), so the channel
    # stays "not credible" afterwards; it comes after the missing episode so that one is still exercised.
    dose[steps * 4 // 5 : steps * 4 // 5 + 3] = 1e8
    values[site.source_dose] = dose
    values[site.tamper] = ((k % 37) == 5).astype(np.float64)
    values[site.battery] = np.linspace(12.6, 11.0, steps) + rng.normal(0, 0.05, steps)
    values[site.mains] = (rng.random(steps) > 0.05).astype(np.float64)
    walk = np.cumsum(rng.normal(0, 80, steps))  # metres from the fence centre, drifting
    values[site.lat] = site.fence_center[0] + walk / 111_195.0
    values[site.lon] = np.full(steps, site.fence_center[1])
    values[site.hdop] = np.where(rng.random(steps) < 0.2, 9.0, 1.2)
    sensors = list(range(site.config.n_sensors))
    return site, stream(sensors, T0, step_s, values, flags)


PB214_DECAY_PER_S = np.log(2.0) / (26.8 * 60.0)
BI214_DECAY_PER_S = np.log(2.0) / (19.9 * 60.0)


def washout_excess(rain_mm_h: NDArray[np.float64], step_s: float, gain: float = 1.0) -> NDArray[np.float64]:
    """Excess dose rate from radon progeny washed out by rain, as a fraction of background (the synthetic truth).

    Rain deposits Pb-214 and Bi-214 at equal activity rates, growing with the rain rate and saturating in heavy rain;
    on the ground Pb-214 (26.8 min) decays into Bi-214 (19.9 min), which decays in turn (Bateman). The dose rate is
    weighted by gamma energy per decay (Bi-214 about 1.5 MeV, Pb-214 about 0.2 MeV). ``gain`` is the excess that
    steady rain of 10 mm/h would hold (+100 % by default, the high end of what networks see).
    """
    deposit = gain * np.minimum(rain_mm_h / 10.0, 1.5) ** 0.7 * (rain_mm_h >= 0.2)  # activity per second
    lam_pb, lam_bi = PB214_DECAY_PER_S, BI214_DECAY_PER_S
    keep_pb, keep_bi = np.exp(-lam_pb * step_s), np.exp(-lam_bi * step_s)
    w_bi = 1.5 / 1.7
    w_pb = 1.0 - w_bi
    steady = w_pb / lam_pb + w_bi * (1.0 / lam_bi + 1.0 / lam_pb)  # dose of steady deposition at rate 1
    n_pb = n_bi = 0.0  # atoms on the ground (per unit deposition)
    out = np.zeros(rain_mm_h.shape[0])
    for k, d in enumerate(deposit):
        decayed_pb = n_pb * (1.0 - keep_pb)
        n_pb = n_pb * keep_pb + d * step_s / lam_pb
        n_bi = n_bi * keep_bi + decayed_pb + d * step_s / lam_bi
        out[k] = (w_pb * lam_pb * n_pb + w_bi * lam_bi * n_bi) / steady
    return out
