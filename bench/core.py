"""Throughput and state size of the detection core: 10,000 mixed sensors, live-sized and replay-sized batches.

Also one long generic series through ``backtest`` (the core as ``hazwatch detect`` runs it) and through
``hazwatch detect`` itself (CSV in and out), a 10 M-reading series through ``backtest``, and with ``--nab DIR``
the CPU cost per reading of ``hazwatch detect`` over every file of the Numenta Anomaly Benchmark.
Gas detectors read clean air (a fifth of their substance's lowest published level), and the 10,000-sensor figures
are given twice: all quiet, and with a fraction of the gas detectors (``--alarming``, 5 %) above their levels.
Run: ``PYTHONPATH=. python bench/core.py [--nab /path/to/NAB] [--core-only]`` (prints figures; not a pass/fail test).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from daemon.commands.detect import run as detect
from detectors.backtest import backtest
from detectors.config import GAS, SUBSTANCE_ORDER, CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from detectors.readings import ReadingBatch
from detectors.substances import SUBSTANCES

T0 = 1_750_000_000.0
SOURCE_CHANNELS = [
    Kind.SOURCE_DOSE_RATE,
    Kind.TAMPER,
    Kind.BATTERY_VOLTAGE,
    Kind.MAINS_POWER,
    Kind.LATITUDE,
    Kind.LONGITUDE,
    Kind.HDOP,
]
GASES = ["Cl2", "HF", "NH3", "H2S", "COCl2", "HCl"]
QUIET_FRACTION = 0.2  # clean air reads a fifth of the substance's lowest level
ALARM_MULTIPLE = 3.0  # an alarming gas detector reads three times its substance's lowest level


def build_config(n_sensors: int) -> CoreConfig:
    """Devices in a 4:2:1:3 mix of two-gas detectors, gamma stations, weather stations, sealed-source monitors."""
    kinds: list[Kind] = []
    device: list[int] = []
    substances: list[str | None] = []
    interval: list[float] = []
    d = 0
    while len(kinds) < n_sensors:
        roll = d % 10
        if roll < 4:  # a two-channel gas detector
            chans = [Kind.GAS, Kind.GAS]
            subs: list[str | None] = [GASES[d % 6], GASES[(d + 1) % 6]]
            every = 10.0
        elif roll < 6:
            chans, subs, every = [Kind.GAMMA_DOSE_RATE], [None], 60.0
        elif roll < 7:
            chans = [Kind.WIND_SPEED, Kind.WIND_DIRECTION, Kind.RAIN_RATE, Kind.TEMPERATURE]
            subs, every = [None] * 4, 60.0
        else:
            chans, subs, every = SOURCE_CHANNELS, [None] * 7, 30.0
        for k, s in zip(chans, subs, strict=True):
            kinds.append(k)
            substances.append(s)
            device.append(d)
            interval.append(every)
        d += 1
    kinds, device, substances, interval = (
        kinds[:n_sensors],
        device[:n_sensors],
        substances[:n_sensors],
        interval[:n_sensors],
    )
    config = CoreConfig.build(kinds, np.array(device), substances=substances, report_interval_s=np.array(interval))
    dose = [i for i, k in enumerate(kinds) if k is Kind.SOURCE_DOSE_RATE]
    config = config.with_sources(dose, [1500.0] * len(dose), [3] * len(dose))
    is_source = config.device_is_source.copy()
    lat0, lon0, radius = config.geofence_lat.copy(), config.geofence_lon.copy(), config.geofence_radius_m.copy()
    lat0[is_source], lon0[is_source], radius[is_source] = 31.9, 121.1, 600.0
    gamma = np.flatnonzero(config.kind == list(Kind).index(Kind.GAMMA_DOSE_RATE))
    rain = np.flatnonzero(config.kind == list(Kind).index(Kind.RAIN_RATE))
    rain_sensor = config.rain_sensor.copy()
    rain_sensor[gamma] = rain[np.arange(gamma.shape[0]) % rain.shape[0]]
    # Each gamma station has its two ring neighbours.
    offsets = np.zeros(n_sensors + 1, np.int32)
    counts = np.zeros(n_sensors, np.int32)
    counts[gamma] = 2
    offsets[1:] = np.cumsum(counts)
    pos = np.arange(gamma.shape[0])
    neighbours = np.stack([gamma[(pos - 1) % pos.shape[0]], gamma[(pos + 1) % pos.shape[0]]], axis=1).ravel()
    return replace(
        config,
        geofence_lat=lat0,
        geofence_lon=lon0,
        geofence_radius_m=radius,
        rain_sensor=rain_sensor,
        neighbour_offsets=offsets,
        neighbour_index=neighbours.astype(np.int32),
    )


def quiet_gas_ppm(config: CoreConfig) -> NDArray[np.float64]:
    """Per sensor, a gas detector's typical clean-air reading: a fifth of its substance's lowest published level
    (``Substance.lowest_level_ppm``), so that no level, AEGL, ERPG, STEL or TWA test is near alarm; nan elsewhere."""
    lowest = np.array([SUBSTANCES[name].lowest_level_ppm for name in SUBSTANCE_ORDER] + [np.nan])
    return QUIET_FRACTION * lowest[config.substance]  # substance -1 (not a gas) takes the trailing nan


def readings(
    config: CoreConfig,
    seconds: float,
    rng: np.random.Generator,
    alarming: NDArray[np.bool_] | None = None,
) -> ReadingBatch:
    """Every sensor at its report interval for ``seconds``, in time order, with plausible values.

    Gas detectors read clean air (``quiet_gas_ppm``, 25 % spread) except those in ``alarming`` (per sensor), which
    read ``ALARM_MULTIPLE`` times their substance's lowest level (5 % spread): above at least one of its levels.
    """
    n = config.n_sensors
    per_sensor = np.maximum((seconds // config.report_interval_s).astype(np.int64), 1)
    sensor = np.repeat(np.arange(n, dtype=np.int32), per_sensor)
    k = np.arange(sensor.shape[0]) - np.repeat(np.cumsum(per_sensor) - per_sensor, per_sensor)
    phase = rng.uniform(0, 1, n)[sensor]
    t = T0 + (k + phase) * config.report_interval_s[sensor]
    kind = config.kind[sensor]
    typical = np.array([100.0, 1500.0, np.nan, 3.0, 180.0, 0.0, 15.0, 12.5, 1.0, 0.0, 31.9, 121.1, 1.2])
    spread = np.array([4.0, 30.0, np.nan, 1.0, 30.0, 0.0, 0.5, 0.05, 0.0, 0.0, 1e-4, 1e-4, 0.2])
    quiet = quiet_gas_ppm(config)
    mean, sd = typical[kind], spread[kind]
    gas = kind == GAS
    mean[gas] = quiet[sensor[gas]]
    sd[gas] = 0.25 * mean[gas]
    if alarming is not None:
        hot = alarming[sensor]
        mean[hot] = quiet[sensor[hot]] * (ALARM_MULTIPLE / QUIET_FRACTION)
        sd[hot] = 0.05 * mean[hot]
    value = np.abs(mean + sd * rng.standard_normal(sensor.shape[0]))
    order = np.argsort(t, kind="stable")
    return ReadingBatch(sensor[order], t[order], value[order], np.zeros(sensor.shape[0], np.uint16))


def measure(core: DetectionCore, batch: ReadingBatch, batch_size: int) -> tuple[float, float]:
    """Readings per wall second and per CPU second (this process) feeding ``batch`` in pieces of ``batch_size``.

    The CPU figure is the one to compare on a shared machine: other processes inflate wall time, not our CPU time.
    """
    start, cpu = time.perf_counter(), time.process_time()
    for a in range(0, len(batch), batch_size):
        core.process(batch.take(slice(a, a + batch_size)))
    return len(batch) / (time.perf_counter() - start), len(batch) / (time.process_time() - cpu)


def single_series(n: int, repeats: int) -> None:
    """Readings/s of one long generic series through ``backtest`` and through ``hazwatch detect`` (CSV in and
    out, in this process), wall and CPU."""
    rng = np.random.default_rng(1)
    innovations = rng.normal(0.0, 1.0, n)
    value = 20.0 + np.asarray(lfilter([1.0], [1.0, -0.9], innovations))  # AR(1) noise, phi = 0.9
    value[n // 2 :] += 10.0  # one lasting change
    t = T0 + 60.0 * np.arange(n)
    with tempfile.TemporaryDirectory() as tmp:
        source, scored = Path(tmp) / "series.csv", Path(tmp) / "scored.csv"
        columns = np.column_stack((t, value))
        np.savetxt(source, columns, fmt=("%d", "%.5f"), delimiter=",", header="timestamp,value", comments="")
        options = argparse.Namespace(score="evidence")
        runs: dict[str, Callable[[], object]] = {
            "backtest": lambda: backtest(t, value, Kind.GENERIC),
            "hazwatch detect (CSV in and out)": lambda: detect(source, "generic", scored, options),
        }
        for name, call in runs.items():
            walls, cpus = [], []
            for _ in range(repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                with contextlib.redirect_stderr(io.StringIO()):
                    call()
                walls.append(n / (time.perf_counter() - wall))
                cpus.append(n / (time.process_time() - cpu))
            print(
                f"{name}, one generic series of {n:,} readings: best {max(walls):,.0f} readings/s wall "
                f"({max(cpus):,.0f} per CPU second; runs: {', '.join(f'{r:,.0f}' for r in walls)})"
            )


def long_series(n: int) -> None:
    """Readings per CPU second of one long AR(1) series with a lasting change through ``backtest``."""
    rng = np.random.default_rng(2)
    value = 20.0 + np.asarray(lfilter([1.0], [1.0, -0.9], rng.normal(0.0, 1.0, n)))
    value[n // 2 :] += 10.0
    t = T0 + 60.0 * np.arange(n)
    wall, cpu = time.perf_counter(), time.process_time()
    backtest(t, value, Kind.GENERIC)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"backtest, one generic series of {n:,} readings: {n / cpu:,.0f} readings per CPU second ({n / wall:,.0f} wall)"
    )


def nab_detect(nab: Path, scoring: str) -> None:
    """CPU microseconds per reading of ``hazwatch detect`` (CSV in and out) over every NAB data file."""
    files = sorted((nab / "data").glob("*/*.csv"))
    options = argparse.Namespace(score=scoring)
    readings = 0
    for data in files:  # counted before, not inside, the timed loop (a Python loop over lines is not detect's)
        with data.open("rb") as rows:
            readings += sum(1 for _ in rows) - 1
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        out = Path(tmp) / "scored.csv"
        detect(files[0], "generic", out, options)  # imports and first-call costs out of the figure
        wall, cpu = time.perf_counter(), time.process_time()
        for data in files:
            detect(data, "generic", out, options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"hazwatch detect --score {scoring} over {len(files)} NAB files, {readings:,} readings (CSV in and out): "
        f"{cpu / readings * 1e6:.2f} us CPU per reading ({wall / readings * 1e6:.2f} us wall)"
    )


def main() -> None:
    """Print readings/s for live-sized and replay-sized batches and the per-sensor state size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--live-seconds", type=float, default=600.0, help="simulated time fed in live batches")
    parser.add_argument("--replay-seconds", type=float, default=6 * 3600.0, help="simulated time for replay")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (the machine may be shared)")
    parser.add_argument("--series", type=int, default=1_000_000, help="readings in the single-series figure")
    parser.add_argument("--long-series", type=int, default=10_000_000, help="readings of the long backtest figure")
    parser.add_argument("--nab", type=Path, help="a NAB checkout: also time hazwatch detect over its data files")
    parser.add_argument("--nab-score", default="range-context", help="hazwatch detect --score for the NAB figure")
    parser.add_argument("--alarming", type=float, default=0.05, help="fraction of gas detectors in the alarming case")
    parser.add_argument("--core-only", action="store_true", help="only the 10,000-sensor figures (and NAB if asked)")
    args = parser.parse_args()
    if args.nab is not None:
        nab_detect(args.nab, args.nab_score)
    if not args.core_only:
        long_series(args.long_series)
        single_series(args.series, args.repeats)
    rng = np.random.default_rng(0)
    config = build_config(args.sensors)
    kinds, counts = np.unique(config.kind, return_counts=True)
    print(
        f"sensors: {config.n_sensors}, devices: {config.n_devices}, kinds: "
        + ", ".join(f"{list(Kind)[k].value}={c}" for k, c in zip(kinds, counts, strict=True))
    )
    gas = np.flatnonzero(config.kind == GAS)
    alarming = np.zeros(config.n_sensors, np.bool_)
    alarming[rng.choice(gas, round(args.alarming * gas.shape[0]), replace=False)] = True
    warm = readings(config, 3600.0, rng)  # an hour of clean air to get past every warm-up
    for case, hot in (("quiet", None), (f"{args.alarming:.0%} of gas detectors alarming", alarming)):
        replay = readings(config, args.replay_seconds, rng, hot)
        replay = ReadingBatch(replay.sensor, replay.time + 3600.0, replay.value, replay.flags)
        live = readings(config, args.live_seconds, rng, hot)
        live = ReadingBatch(live.sensor, live.time + 3600.0, live.value, live.flags)
        for name, batch, size in (("replay", replay, 1_000_000), ("live", live, 1_000)):
            rates, cpu_rates = [], []
            for _ in range(args.repeats):
                core = DetectionCore(config)
                measure(core, warm, 1_000_000)
                wall, cpu = measure(core, batch, size)
                rates.append(wall)
                cpu_rates.append(cpu)
            figures = ", ".join(f"{r:,.0f}" for r in rates)
            print(
                f"{name}, {case}: {len(batch):,} readings in batches of {size:,}: best {max(rates):,.0f} "
                f"readings/s, median {statistics.median(rates):,.0f} (runs: {figures}); "
                f"best {max(cpu_rates):,.0f} per CPU second (runs: {', '.join(f'{r:,.0f}' for r in cpu_rates)})"
            )
    print(f"state: {core.state_nbytes:,} bytes = {core.state_nbytes / config.n_sensors:,.0f} bytes per sensor")


if __name__ == "__main__":
    main()
