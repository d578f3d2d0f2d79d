"""Generate sensor data from a scenario: realistic background for every sensor plus the scenario's events.

Generation is vectorised: each block of time steps is a (steps x sensors) array computed with numpy, and the
same seed always gives the same data. The output is either recorded messages (SenML payloads, as devices send
them) or decoded reading batches for the columnar form; both carry identical values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daemon.drills.recording import RecordedMessage
from daemon.drills.scenario import (
    BrokerOutage,
    GammaRise,
    MonitorSilent,
    Offset,
    Scenario,
    SensorFault,
    SourceMoved,
    SourceRemoved,
    Tamper,
    ToxicRelease,
)
from detectors.kinds import BOOLEAN_KINDS, KIND_CODES, Kind
from detectors.plume import plume_g_m3
from detectors.readings import FLAG_DEVICE_FAULT, FLAG_OUT_OF_RANGE, FLAG_SATURATED, ReadingBatch
from detectors.substances import MOLAR_VOLUME_L, SUBSTANCES
from rules.sensor_table import SensorTable
from rules.site import Site

M_PER_DEG_LAT = 111_320.0
BLOCK_STEPS = 600  # steps generated per block; fixed so the random stream does not depend on the output form
# Rain washout of radon progeny: PTB's reference measuring site for environmental radiation in Braunschweig saw
# 106 -> 196 nSv/h after 14 mm in 15 min (ptb.de, PTB department 6.3, "Measurements"; H. Dombrowski and F. Wissmann,
# "Meteorological influences on the results of area dose rate measurements", Kerntechnik, doi:10.3139/124.100554),
# decaying over a few hours. Modelled as first-order build-up with rain and decay with an effective half-life
# between the Pb-214 (27 min) and Bi-214 (20 min) progeny, capped at +100 % of background.
WASHOUT_HALF_LIFE_S = 35 * 60.0
WASHOUT_GAIN = 2.0e-5  # fraction of background added per (mm/h x s) of rain
WASHOUT_CAP = 1.0
STATION_BACKGROUND_NSV_H = (55.0, 85.0)  # the low end of the BfS/RIVM range, so +100 % washout stays below 200
CONTAINER_BACKGROUND_NSV_H = 90.0
DECIMALS: dict[Kind, int] = {
    Kind.GAMMA_DOSE_RATE: 1,
    Kind.SOURCE_DOSE_RATE: 1,
    Kind.GAS: 5,
    Kind.WIND_SPEED: 2,
    Kind.WIND_DIRECTION: 1,
    Kind.RAIN_RATE: 2,
    Kind.TEMPERATURE: 2,
    Kind.BATTERY_VOLTAGE: 3,
    Kind.LATITUDE: 7,
    Kind.LONGITUDE: 7,
    Kind.HDOP: 2,
}
HAZARD_EVENTS = ("toxic_release", "source_removed", "source_moved", "tamper", "monitor_silent", "gamma_rise")
# Malformed payloads a faulty device or gateway might send, cycled through during a `malformed` fault.
MALFORMED_PAYLOADS: tuple[bytes, ...] = (
    b'[{"bn":"x","v":',
    b"\xff\xfe\x00garbage\x80",
    b'[{"n":"%s","v":"high"}]',
    b'{"unexpected":"object"}',
    b"[]",
    b'[{"n":"%s","v":NaN}]',
)


MIN_PLUME_WIND_M_S = 1.0  # the plume is unreliable below ~1.5 m/s; never divide by a calm


@dataclass
class Block:
    """One block of generated data: values for every sensor at every step, and which devices publish."""

    times: NDArray[np.float64]  # (steps,) device time of each step, unix s
    values: NDArray[np.float64]  # (steps, sensors) canonical unit
    publish: NDArray[np.bool_]  # (steps, devices)
    device_fault: NDArray[np.bool_]  # (steps, devices) the device flags its readings as faulty
    latency: NDArray[np.float64]  # (steps, devices) receive delay, s
    extra: list[RecordedMessage] = field(default_factory=list)  # status and malformed messages
    saturated: NDArray[np.bool_] | None = None  # (steps, devices) a hazard channel of the device is at full scale


def local_metres(lat: NDArray[np.float64], lon: NDArray[np.float64], site: Site) -> NDArray[np.float64]:
    """(north, east) metres of positions relative to the site centre."""
    north = (lat - site.center.lat) * M_PER_DEG_LAT
    east = (lon - site.center.lon) * M_PER_DEG_LAT * math.cos(math.radians(site.center.lat))
    return np.stack([north, east], axis=-1)


class Simulator:
    """Generates a scenario's sensor data block by block."""

    def __init__(self, scenario: Scenario, site: Site) -> None:
        self.scenario = scenario
        self.site = site
        self.table = SensorTable.build(site)
        table = self.table
        self.n_sensors = len(table)
        self.n_devices = len(table.devices)
        self.prefix = f"{scenario.topic_prefix}/{site.site}"
        self.t0 = scenario.start_unix
        intervals = [int(scenario.report_interval_s or round(device.report_interval_s)) for device in table.devices]
        if any(i < 1 for i in intervals):
            raise ValueError("report intervals must be at least 1 s")
        self.interval = np.array(intervals, np.int64)
        self.step = int(reduce(math.gcd, intervals))
        self.n_steps = int(scenario.duration_s // self.step)
        self.device_index = {d.id: i for i, d in enumerate(table.devices)}
        self.kind = [table.sensors[i].kind for i in range(self.n_sensors)]
        self.kind_code = table.kind
        pos = local_metres(table.lat, table.lon, site)
        self.north, self.east = pos[:, 0], pos[:, 1]
        self.device_of = table.device_of
        rng = np.random.default_rng(scenario.seed)
        self._rng = rng
        # Per-device phase (multiple of the step) so devices do not all report in the same second.
        self.phase = (rng.integers(0, 1 << 30, self.n_devices) % (self.interval // self.step)) * self.step
        self.gamma_background = rng.uniform(*STATION_BACKGROUND_NSV_H, self.n_sensors)
        self.high = self._first_alarm_level(table)
        self.gas_bias = _quiet_gas_scale(table, self.high) * rng.uniform(0.01, 0.04, self.n_sensors)
        self.temperature_offset = rng.normal(0.0, 0.3, self.n_sensors)
        self.battery_nominal = rng.uniform(12.4, 12.9, self.n_sensors)
        self.rain_weight = rng.uniform(0.85, 1.15, self.n_sensors)
        self.meander_phase = float(rng.uniform(0, 2 * math.pi))
        self.baseline = np.array(
            [
                table.devices[int(d)].source.baseline_dose_rate_nsv_h  # type: ignore[union-attr]
                if table.devices[int(d)].source is not None
                else 0.0
                for d in self.device_of.tolist()
            ]
        )
        self.decimals = np.array([DECIMALS.get(k, 0) for k in self.kind], np.int64)
        # Hazard channels with a declared full scale (gas detectors) saturate there; everything else never does.
        self.full_scale = np.array(
            [s.full_scale if s.full_scale is not None and s.kind is Kind.GAS else np.inf for s in table.sensors],
            np.float64,
        )
        self._washout_state = np.zeros(self.n_sensors)
        self._stuck_value: dict[int, float] = {}
        self._check_references()

    # ----------------------------------------------------------------------------------------------- checks
    def _check_references(self) -> None:
        for event in self.scenario.events:
            device = getattr(event, "device", None)
            if device is not None and device not in self.device_index:
                raise ValueError(f"event {event.id}: device {device!r} is not in site {self.site.site}")
            if isinstance(event, SensorFault) and event.sensor not in self.table.index:
                raise ValueError(f"event {event.id}: sensor {event.sensor!r} is not in site {self.site.site}")
            if isinstance(event, ToxicRelease) and not any(s.substance == event.gas for s in self.table.sensors):
                raise ValueError(f"event {event.id}: no {event.gas} sensor in site {self.site.site}")

    def _sensors_of(self, device: str, *kinds: Kind) -> NDArray[np.int64]:
        d = self.device_index[device]
        mask = self.device_of == d
        if kinds:
            mask &= np.isin(self.kind_code, [KIND_CODES[k] for k in kinds])
        return np.flatnonzero(mask)

    def _kind_mask(self, kind: Kind) -> NDArray[np.bool_]:
        mask: NDArray[np.bool_] = self.kind_code == KIND_CODES[kind]
        return mask

    # ---------------------------------------------------------------------------------------------- weather
    def weather(
        self, rel: NDArray[np.float64], noise: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str], NDArray[np.int64]]:
        """Wind speed, wind-from direction, stability per period and the period index, per step."""
        periods = self.scenario.weather
        starts = np.array([w.at_s for w in periods])
        index = np.searchsorted(starts, rel, side="right") - 1
        speed = np.array([w.wind_speed_m_s for w in periods])[index]
        direction = np.array([w.wind_from_deg for w in periods])[index]
        meander = np.array([w.meander_deg for w in periods])[index]
        direction = direction + meander * np.sin(2 * math.pi * rel / 1200.0 + self.meander_phase)
        if noise:
            speed = speed * (1.0 + 0.08 * self._rng.standard_normal(rel.shape))
            direction = direction + 3.0 * self._rng.standard_normal(rel.shape)
        return np.maximum(speed, 0.0), np.mod(direction, 360.0), [w.stability for w in periods], index

    def rain(self, rel: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rain rate (mm/h) per step and sensor position."""
        rate = np.zeros((rel.shape[0], self.n_sensors))
        for period in self.scenario.rain:
            on = (rel >= period.start_s) & (rel < period.start_s + period.duration_s)
            if not on.any():
                continue
            where = np.ones(self.n_sensors, bool)
            if period.center is not None and period.radius_m is not None:
                distance = np.hypot(self.north - period.center.north_m, self.east - period.center.east_m)
                where = distance <= period.radius_m
            rate += np.outer(on, where * self.rain_weight) * period.rate_mm_h
        return rate

    # ------------------------------------------------------------------------------------------------ events
    def plume_ppm(
        self,
        event: ToxicRelease,
        rel: NDArray[np.float64],
        speed: NDArray[np.float64],
        direction: NDArray[np.float64],
        stability: list[str],
        period: NDArray[np.int64],
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Gas sensors of the released gas and their plume concentration (steps x those sensors), ppm."""
        sensors = np.array([i for i, s in enumerate(self.table.sensors) if s.substance == event.gas], np.int64)
        dn = self.north[sensors] - event.at.north_m
        de = self.east[sensors] - event.at.east_m
        theta = np.radians(direction)[:, None]
        downwind = -(dn[None, :] * np.cos(theta) + de[None, :] * np.sin(theta))
        crosswind = dn[None, :] * np.sin(theta) - de[None, :] * np.cos(theta)
        u = np.maximum(speed, 1.0)[:, None]
        emitted_at = rel[:, None] - np.maximum(downwind, 0.0) / u
        on = (emitted_at >= event.start_s) & (emitted_at < event.start_s + event.duration_s)
        g_m3 = np.zeros_like(downwind)
        for p in np.unique(period).tolist():
            rows = period == p
            # The model is unreliable below ~1.5 m/s; never divide by a calm.
            wind = np.maximum(u[rows], MIN_PLUME_WIND_M_S)
            g_m3[rows] = plume_g_m3(downwind[rows], crosswind[rows], event.rate_g_s, wind, stability[p], event.height_m)
        ppm = g_m3 * 1000.0 * MOLAR_VOLUME_L / SUBSTANCES[event.gas].molar_mass_g_mol
        return sensors, np.where(on, ppm, 0.0)

    def gamma_excess(self, event: GammaRise, rel: NDArray[np.float64]) -> NDArray[np.float64]:
        """Added dose rate at the event's station per step."""
        into = rel - event.start_s
        ramp = np.clip(into / event.ramp_s, 0.0, 1.0) if event.ramp_s > 0 else (into >= 0).astype(float)
        if event.duration_s is not None:
            ramp = np.where(into < event.duration_s, ramp, 0.0)
        return np.asarray(event.excess_nsv_h * ramp, np.float64)

    def track(self, event: SourceMoved, rel: NDArray[np.float64]) -> NDArray[np.float64]:
        """(north, east) displacement of a moved container per step."""
        travelled = np.clip((rel - event.start_s) * event.speed_m_s, 0.0, event.distance_m)
        bearing = math.radians(event.bearing_deg)
        return np.stack([travelled * math.cos(bearing), travelled * math.sin(bearing)], axis=-1)

    # ------------------------------------------------------------------------------------------------ blocks
    def blocks(self) -> Iterator[Block]:
        """Every block of the scenario, in time order (each call starts the same random stream afresh)."""
        self._rng = np.random.default_rng([self.scenario.seed, 1])
        self._washout_state = np.zeros(self.n_sensors)
        self._stuck_value = {}
        for first in range(0, self.n_steps, BLOCK_STEPS):
            yield self._block(first, min(BLOCK_STEPS, self.n_steps - first))

    def _block(self, first: int, n: int) -> Block:
        rng = self._rng
        k = np.arange(first, first + n, dtype=np.int64)
        rel = (k * self.step).astype(np.float64)
        times = self.t0 + rel
        solar_hour = np.mod((times + self.site.center.lon / 15.0 * 3600.0) / 3600.0, 24.0)
        values = np.zeros((n, self.n_sensors))
        noise = rng.standard_normal((n, self.n_sensors))
        speed, direction, stability, period = self.weather(rel, noise=True)
        rain = self.rain(rel)
        # background per kind
        gas = self._kind_mask(Kind.GAS)
        daily = 1.0 + 0.3 * np.sin(2 * math.pi * (solar_hour - 4.0) / 24.0)
        values[:, gas] = np.maximum(self.gas_bias[gas] * daily[:, None] + 0.3 * self.gas_bias[gas] * noise[:, gas], 0.0)
        gamma = self._kind_mask(Kind.GAMMA_DOSE_RATE)
        background = (
            self.gamma_background[gamma] * (1.0 + 0.04 * np.cos(2 * math.pi * (solar_hour - 6.0) / 24.0))[:, None]
        )
        washout = self._washout(rain[:, gamma], self.gamma_background[gamma])
        values[:, gamma] = background + washout + np.sqrt(background) * 0.8 * noise[:, gamma]
        source = self._kind_mask(Kind.SOURCE_DOSE_RATE)
        values[:, source] = self.baseline[source] * (1.0 + 0.02 * noise[:, source])
        wind_speed = self._kind_mask(Kind.WIND_SPEED)
        values[:, wind_speed] = np.maximum(speed[:, None] * (1.0 + 0.1 * noise[:, wind_speed]), 0.0)
        wind_dir = self._kind_mask(Kind.WIND_DIRECTION)
        values[:, wind_dir] = np.mod(direction[:, None] + 5.0 * noise[:, wind_dir], 360.0)
        rain_mask = self._kind_mask(Kind.RAIN_RATE)
        values[:, rain_mask] = rain[:, rain_mask]
        temperature = self._kind_mask(Kind.TEMPERATURE)
        periods = self.scenario.weather
        mean_temp = np.array([w.temperature_c for w in periods])[period]
        values[:, temperature] = (
            (mean_temp + 4.0 * np.sin(2 * math.pi * (solar_hour - 9.0) / 24.0))[:, None]
            + self.temperature_offset[temperature]
            - 0.1 * rain[:, temperature]
            + 0.1 * noise[:, temperature]
        )
        battery = self._kind_mask(Kind.BATTERY_VOLTAGE)
        values[:, battery] = self.battery_nominal[battery] + 0.02 * noise[:, battery]
        values[:, self._kind_mask(Kind.MAINS_POWER)] = 1.0
        lat, lon = self._kind_mask(Kind.LATITUDE), self._kind_mask(Kind.LONGITUDE)
        values[:, lat] = self.table.lat[lat] + 2e-5 * noise[:, lat]
        values[:, lon] = self.table.lon[lon] + 2e-5 * noise[:, lon]
        hdop = self._kind_mask(Kind.HDOP)
        values[:, hdop] = 0.8 + np.abs(0.2 * noise[:, hdop])
        publish = ((k[:, None] * self.step - self.phase[None, :]) % self.interval[None, :]) == 0
        publish &= (k[:, None] * self.step) >= self.phase[None, :]
        device_fault = np.zeros_like(publish)
        latency = rng.uniform(0.05, 0.35, publish.shape)
        block = Block(times, values, publish, device_fault, latency)
        if first == 0:
            block.extra += [
                RecordedMessage(self.t0, f"{self.prefix}/{d.id}/status", b"online") for d in self.table.devices
            ]
        self._apply_events(block, rel, speed, direction, stability, period)
        rounded = np.empty_like(values)
        for decimals in np.unique(self.decimals).tolist():
            columns = self.decimals == decimals
            rounded[:, columns] = np.round(values[:, columns], decimals)
        # A detector cannot read above its full scale: it reads full scale and says it is saturated.
        over = rounded > self.full_scale[None, :]
        rounded[over] = np.broadcast_to(self.full_scale[None, :], over.shape)[over]
        block.saturated = np.zeros_like(publish)
        if over.any():
            steps, sensors = np.nonzero(over)
            block.saturated[steps, self.device_of[sensors]] = True
        block.values = rounded
        block.extra.sort(key=lambda m: m.received)
        return block

    def _washout(self, rain: NDArray[np.float64], background: NDArray[np.float64]) -> NDArray[np.float64]:
        decay = math.exp(-math.log(2) * self.step / WASHOUT_HALF_LIFE_S)
        gamma_state = self._washout_state[self._kind_mask(Kind.GAMMA_DOSE_RATE)]
        drive = rain * background[None, :] * WASHOUT_GAIN * self.step
        # Imported here: scipy.signal pulls in scipy.stats (about a CPU-second), which every process that merely
        # imports the simulator (the CLI, each test worker) would pay; only a simulation with rain needs it.
        from scipy.signal import lfilter  # noqa: PLC0415

        excess, final = lfilter([1.0], [1.0, -decay], drive, axis=0, zi=(decay * gamma_state)[None, :])
        self._washout_state[self._kind_mask(Kind.GAMMA_DOSE_RATE)] = excess[-1] if len(excess) else gamma_state
        del final
        capped: NDArray[np.float64] = np.minimum(excess, WASHOUT_CAP * background[None, :])
        return capped

    def _apply_events(
        self,
        block: Block,
        rel: NDArray[np.float64],
        speed: NDArray[np.float64],
        direction: NDArray[np.float64],
        stability: list[str],
        period: NDArray[np.int64],
    ) -> None:
        values, end = block.values, float(rel[-1]) + self.step
        for event in self.scenario.events:
            if event.start_s >= end and not isinstance(event, ToxicRelease):
                continue
            if isinstance(event, ToxicRelease):
                sensors, ppm = self.plume_ppm(event, rel, speed, direction, stability, period)
                values[:, sensors] += ppm
            elif isinstance(event, GammaRise):
                for s in self._sensors_of(event.device, Kind.GAMMA_DOSE_RATE).tolist():
                    values[:, s] += self.gamma_excess(event, rel)
            elif isinstance(event, SourceRemoved):
                on = rel >= event.start_s
                for s in self._sensors_of(event.device, Kind.SOURCE_DOSE_RATE).tolist():
                    values[on, s] = CONTAINER_BACKGROUND_NSV_H * (1.0 + 0.05 * self._rng.standard_normal(int(on.sum())))
            elif isinstance(event, SourceMoved):
                move = self.track(event, rel)
                device = self.table.devices[self.device_index[event.device]]
                cos_lat = math.cos(math.radians(device.position.lat))
                for s in self._sensors_of(event.device, Kind.LATITUDE).tolist():
                    values[:, s] += move[:, 0] / M_PER_DEG_LAT
                for s in self._sensors_of(event.device, Kind.LONGITUDE).tolist():
                    values[:, s] += move[:, 1] / (M_PER_DEG_LAT * cos_lat)
            elif isinstance(event, Tamper):
                on = rel >= event.start_s
                if event.duration_s is not None:
                    on &= rel < event.start_s + event.duration_s
                values[np.ix_(on, self._sensors_of(event.device, Kind.TAMPER))] = 1.0
            elif isinstance(event, MonitorSilent):
                d = self.device_index[event.device]
                block.publish[rel >= event.start_s, d] = False
                will = self.t0 + event.start_s + event.last_will_after_s
                if rel[0] <= event.start_s + event.last_will_after_s < end:
                    block.extra.append(RecordedMessage(will, f"{self.prefix}/{event.device}/status", b"offline"))
            elif isinstance(event, SensorFault):
                self._apply_fault(event, block, rel)
            elif isinstance(event, BrokerOutage):
                self._apply_outage(event, block, rel)

    def _apply_outage(self, outage: BrokerOutage, block: Block, rel: NDArray[np.float64]) -> None:
        """Nothing arrives while the broker is down; the devices' queued messages (QoS 1, persistent session) arrive
        together when it is back, in the order they were sent, before anything sent after the outage."""
        end = outage.start_s + outage.duration_s
        on = (rel >= outage.start_s) & (rel < end)
        if not on.any():
            return
        # The backlog is delivered within 40 ms, earlier than the first message sent after the outage (>= 50 ms).
        spread = min(5e-5, 0.04 / outage.duration_s)
        waited = (end - rel[on])[:, None] + spread * (rel[on] - outage.start_s)[:, None]
        block.latency[on] = waited + block.latency[on] * 1e-3

    def _apply_fault(self, fault: SensorFault, block: Block, rel: NDArray[np.float64]) -> None:
        s = self.table.index[fault.sensor]
        d = int(self.device_of[s])
        on = (rel >= fault.start_s) & (rel < fault.start_s + fault.duration_s)
        if not on.any():
            return
        values = block.values
        if fault.fault == "stuck":
            stuck = self._stuck_value.setdefault(s, float(values[on, s][0]))
            values[on, s] = stuck
        elif fault.fault == "drift":
            values[on, s] += fault.drift_per_h * (rel[on] - fault.start_s) / 3600.0
        elif fault.fault == "flatline":
            values[on, s] = fault.level
        elif fault.fault == "offline":
            block.publish[on, d] = False
        elif fault.fault == "malformed":
            device = self.table.devices[d]
            name = self.table.sensors[s].name.encode()
            start = max(fault.start_s, float(rel[0]))
            count = math.ceil((start - fault.start_s) / fault.every_s)
            at = fault.start_s + count * fault.every_s
            while at < min(fault.start_s + fault.duration_s, float(rel[-1]) + self.step):
                template = MALFORMED_PAYLOADS[count % len(MALFORMED_PAYLOADS)]
                payload = template.replace(b"%s", name)
                block.extra.append(RecordedMessage(self.t0 + at + 0.5, f"{self.prefix}/{device.id}", payload))
                count += 1
                at = fault.start_s + count * fault.every_s
        if fault.device_reports_fault:
            block.device_fault[on, d] = True

    # ---------------------------------------------------------------------------------------------- outputs
    def messages(self) -> Iterator[RecordedMessage]:
        """The scenario as MQTT messages (SenML), in receive-time order."""
        table = self.table
        device_sensors = [np.flatnonzero(self.device_of == d).tolist() for d in range(self.n_devices)]
        fields = [(s.name, s.unit, s.kind in BOOLEAN_KINDS) for s in table.sensors]
        topics = [f"{self.prefix}/{d.id}" for d in table.devices]
        bases = [f'[{{"bn":"{d.id}:","bt":' for d in table.devices]
        for block in self.blocks():
            values = block.values.tolist()
            times = block.times.tolist()
            extra = block.extra
            e = 0
            for step, devices in enumerate(block.publish.tolist()):
                due = [d for d, on in enumerate(devices) if on]
                if not due and e >= len(extra):
                    continue
                row = values[step]
                out: list[RecordedMessage] = []
                for d in due:
                    parts = []
                    for s in device_sensors[d]:
                        name, unit, boolean = fields[s]
                        value = ("true" if row[s] >= 0.5 else "false") if boolean else repr(row[s])
                        parts.append(f'"n":"{name}","u":"{unit}","{"vb" if boolean else "v"}":{value}}}')
                    if block.device_fault[step, d]:
                        parts.append('"n":"fault","vb":true}')
                    if block.saturated is not None and block.saturated[step, d]:
                        parts.append('"n":"saturated","vb":true}')
                    payload = bases[d] + repr(times[step]) + "," + ",{".join(parts) + "]"
                    out.append(
                        RecordedMessage(times[step] + float(block.latency[step, d]), topics[d], payload.encode())
                    )
                horizon = times[step] + self.step
                while e < len(extra) and extra[e].received < horizon:
                    out.append(extra[e])
                    e += 1
                out.sort(key=lambda m: m.received)
                yield from out

    def batches(
        self,
    ) -> Iterator[tuple[ReadingBatch, list[RecordedMessage], float, float, NDArray[np.float64]]]:
        """The scenario as decoded reading batches (what the codec would produce) plus the raw status/bad messages.

        Readings come in the order ``messages()`` delivers them (receive time, then sensor), each with the receive
        time of the message that carries it, so a replay batches them exactly as it batches the messages.
        """
        table = self.table
        for block in self.blocks():
            publish = block.publish[:, self.device_of]
            steps, sensors = np.nonzero(publish)
            devices = self.device_of[sensors]
            received = block.times[steps] + block.latency[steps, devices]
            order = np.argsort(received, kind="stable")
            steps, sensors, devices, received = steps[order], sensors[order], devices[order], received[order]
            value = block.values[steps, sensors]
            flags = np.zeros(value.shape[0], np.uint16)
            out_of_range = (value < table.range_min[sensors]) | (value > table.range_max[sensors])
            flags[out_of_range] |= FLAG_OUT_OF_RANGE
            flags[block.device_fault[steps, devices]] |= FLAG_DEVICE_FAULT
            if block.saturated is not None:
                flags[block.saturated[steps, devices]] |= FLAG_SATURATED
            batch = ReadingBatch(sensors.astype(np.int32), block.times[steps], value, flags)
            last = block.times + block.latency.max(axis=1)
            yield batch, block.extra, float(block.times[0]), float(last[-1]), received

    def _first_alarm_level(self, table: SensorTable) -> NDArray[np.float64]:
        """Where each sensor's first alarm starts, as the detection core will judge it (nan: no level).

        Gas: the GB/T 50493 level 1 of its substance; gamma: the rise the counting test is tuned to catch
        over this station's simulated background; else the site file's high level.
        """
        core = table.core_config()
        level = table.thresholds.high.copy()
        gas = ~np.isnan(core.gas_level1)
        level[gas] = core.gas_level1[gas]
        gamma = table.kind == KIND_CODES[Kind.GAMMA_DOSE_RATE]
        level[gamma] = self.gamma_background[gamma] * (1.0 + core.gamma_rise_fraction[gamma])
        return level

    # ---------------------------------------------------------------------------------------------- truth
    def ground_truth(self) -> dict[str, Any]:
        """What happens, where and when, and which sensors should detect it (noise-free signals vs. their levels)."""
        scenario = self.scenario
        events: list[dict[str, Any]] = []
        horizon = scenario.duration_s
        for event in scenario.events:
            if event.start_s >= horizon:
                continue  # a shortened scenario ends before this event: it is not part of this drill
            entry: dict[str, Any] = {
                "id": event.id,
                "type": event.type,
                "real": event.type in HAZARD_EVENTS,
                "start": self.t0 + event.start_s,
            }
            expected: dict[str, float] = {}
            end_s = horizon
            if isinstance(event, ToxicRelease):
                end_s = min(horizon, event.start_s + event.duration_s + 1800.0)
                entry.update(gas=event.gas, rate_g_s=event.rate_g_s, location=self._place(event.at))
                rel = np.arange(event.start_s, end_s, self.step, dtype=np.float64)
                speed, direction, stability, period = self.weather(rel, noise=False)
                sensors, ppm = self.plume_ppm(event, rel, speed, direction, stability, period)
                peak = ppm.max(axis=0) if len(rel) else np.zeros(len(sensors))
                entry["peak_ppm"] = {
                    self.table.sensors[s].id: round(float(p), 4)
                    for s, p in zip(sensors.tolist(), peak.tolist(), strict=True)
                    if p > 0.001
                }
                for column, s in enumerate(sensors.tolist()):
                    level = self.high[s]
                    if math.isnan(level):
                        continue
                    above = np.flatnonzero(ppm[:, column] >= level)
                    if len(above):
                        expected[self.table.sensors[s].id] = self.t0 + float(rel[above[0]])
            elif isinstance(event, GammaRise):
                if event.duration_s is not None:
                    end_s = min(horizon, event.start_s + event.duration_s)
                entry.update(device=event.device, excess_nsv_h=event.excess_nsv_h)
                for s in self._sensors_of(event.device, Kind.GAMMA_DOSE_RATE).tolist():
                    rel = np.arange(event.start_s, end_s, self.step, dtype=np.float64)
                    above = np.flatnonzero(self.gamma_background[s] + self.gamma_excess(event, rel) >= self.high[s])
                    if len(above):
                        expected[self.table.sensors[s].id] = self.t0 + float(rel[above[0]])
            elif isinstance(event, SourceRemoved | SourceMoved | Tamper | MonitorSilent):
                entry["device"] = event.device
                # Device-level conditions (missing, geofence, tamper, heartbeat) are reported on the device's
                # first sensor, its primary channel.
                device = next(d for d in self.site.devices if d.id == event.device)
                if event.type != "monitor_silent":
                    expected[device.sensors[0].id] = self.t0 + event.start_s
                if isinstance(event, Tamper) and event.duration_s is not None:
                    end_s = min(horizon, event.start_s + event.duration_s)
                if isinstance(event, SourceMoved):
                    entry["destination"] = self._moved_to(event)
            elif isinstance(event, SensorFault):
                end_s = min(horizon, event.start_s + event.duration_s)
                entry.update(sensor=event.sensor, fault=event.fault)
            elif isinstance(event, BrokerOutage):
                end_s = min(horizon, event.start_s + event.duration_s)
            entry["end"] = self.t0 + end_s
            entry["expected_detections"] = [
                {"sensor": k, "time": v} for k, v in sorted(expected.items(), key=lambda kv: kv[1])
            ]
            events.append(entry)
        for i, rain in enumerate(scenario.rain):
            if rain.start_s >= horizon:
                continue
            events.append(
                {
                    "id": f"rain-{i + 1}",
                    "type": "rain",
                    "real": False,
                    "start": self.t0 + rain.start_s,
                    "end": self.t0 + min(horizon, rain.start_s + rain.duration_s + 3 * 3600.0),
                    "rate_mm_h": rain.rate_mm_h,
                    "expected_detections": [],
                }
            )
        return {
            "scenario": scenario.name,
            "description": scenario.description,
            "seed": scenario.seed,
            "start": self.t0,
            "end": self.t0 + horizon,
            "events": events,
            "expect": scenario.expect,
        }

    def _place(self, at: Offset) -> dict[str, float]:
        lat = self.site.center.lat + at.north_m / M_PER_DEG_LAT
        lon = self.site.center.lon + at.east_m / (M_PER_DEG_LAT * math.cos(math.radians(self.site.center.lat)))
        return {"north_m": at.north_m, "east_m": at.east_m, "lat": round(lat, 6), "lon": round(lon, 6)}

    def _moved_to(self, event: SourceMoved) -> dict[str, float]:
        device = self.table.devices[self.device_index[event.device]]
        bearing = math.radians(event.bearing_deg)
        north = event.distance_m * math.cos(bearing)
        east = event.distance_m * math.sin(bearing)
        cos_lat = math.cos(math.radians(device.position.lat))
        return {
            "lat": round(device.position.lat + north / M_PER_DEG_LAT, 6),
            "lon": round(device.position.lon + east / (M_PER_DEG_LAT * cos_lat), 6),
        }


def truth_json(truth: dict[str, Any]) -> str:
    """Ground truth as compact JSON (tests compare it)."""
    return json.dumps(truth, sort_keys=True, separators=(",", ":"))


def _quiet_gas_scale(table: SensorTable, first_alarm: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per sensor, the level a quiet day's gas reading is a few per cent of: the detector's first alarm level, or the
    substance's 8-hour AEGL-1 (AEGL-2 where AEGL-1 is not recommended) if that is lower. Ambient air sits far below
    the level at which the public would feel discomfort over 8 hours; a background scaled to the detector level alone
    put H2S (level 1 = 7 ppm) at 0.1-0.4 ppm, above its 8-h AEGL-1 of 0.33 ppm, so a day without a release alarmed.
    Sensors without either level get 0.01."""
    scale = np.where(np.isnan(first_alarm), 0.01, first_alarm)
    for i, sensor in enumerate(table.sensors):
        substance = SUBSTANCES.get(sensor.substance or "")
        if substance is None:
            continue
        long_term = substance.aegl(1) or substance.aegl(2)
        if long_term is not None:
            scale[i] = min(scale[i], long_term[-1])
    return scale
