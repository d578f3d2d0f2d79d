"""``hazwatch run --demo``: publish plausible background readings for the site, with a visible event every few minutes.

It talks to the broker like any field device would (SenML over MQTT, retained status, last will),
so a newcomer sees the whole path work within a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import zlib
from dataclasses import dataclass

import aiomqtt

from daemon.clock import Clock
from daemon.ingest.broker_url import BrokerTarget
from detectors.kinds import Kind
from detectors.substances import SUBSTANCES
from rules.site import DeviceSpec, SensorSpec, Site

log = logging.getLogger(__name__)

EVENT_PERIOD_S = 180.0
FIRST_EVENT_AFTER_S = 30.0


# The level a demo excursion multiplies when the site file sets none: each kind's alarm level in the shipped rules.
# Gas: GB/T 50493-2019 level 2 is 200 % of the GBZ 2.1 occupational limit (rules/defaults/gas.yaml); gamma: the
# 1,000 nSv/h alarm level of rules/defaults/gamma.yaml. A multiple of a made-up 1.0 showed nothing (1.3 nSv/h).
GAMMA_ALARM_NSV_H = 1000.0


def alarm_level(sensor: SensorSpec) -> float:
    """The level an excursion of ``sensor`` is measured against, in its canonical unit."""
    if sensor.levels.high_high is not None or sensor.levels.high is not None:
        return float(sensor.levels.high_high or sensor.levels.high or 0.0)
    if sensor.kind is Kind.GAS and sensor.substance in SUBSTANCES:
        return 2.0 * SUBSTANCES[sensor.substance].occupational_limit_ppm
    if sensor.kind is Kind.GAMMA_DOSE_RATE:
        return GAMMA_ALARM_NSV_H
    return 1.0


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """A scripted excursion: ``sensor`` reads ``factor`` x its alarm level (``alarm_level``) for ``duration_s``."""

    sensor_id: str
    factor: float
    duration_s: float


def _events(site: Site) -> list[DemoEvent]:
    """Pick one gas, one gamma and one tamper sensor to misbehave in turn."""
    events: list[DemoEvent] = []
    by_kind: dict[Kind, SensorSpec] = {}
    for device in site.devices:
        for sensor in device.sensors:
            by_kind.setdefault(sensor.kind, sensor)
    if Kind.GAS in by_kind:
        events.append(DemoEvent(by_kind[Kind.GAS].id, 3.0, 90.0))
    if Kind.TAMPER in by_kind:
        events.append(DemoEvent(by_kind[Kind.TAMPER].id, 1.0, 60.0))
    if Kind.GAMMA_DOSE_RATE in by_kind:
        events.append(DemoEvent(by_kind[Kind.GAMMA_DOSE_RATE].id, 1.5, 300.0))
    return events


class DemoFeed:
    """Publishes every device of the site at its report interval."""

    def __init__(self, site: Site, target: BrokerTarget, prefix: str, clock: Clock, seed: int = 7) -> None:
        self._site = site
        self._target = target
        self._prefix = prefix
        self._clock = clock
        self._random = random.Random(seed)  # noqa: S311 - demo data, not security
        self._events = _events(site)
        self._started = 0.0

    def _active_event(self, now: float) -> DemoEvent | None:
        elapsed = now - self._started - FIRST_EVENT_AFTER_S
        if elapsed < 0 or not self._events:
            return None
        cycle, into = divmod(elapsed, EVENT_PERIOD_S)
        event = self._events[int(cycle) % len(self._events)]
        return event if into < event.duration_s else None

    def _value(self, device: DeviceSpec, sensor: SensorSpec, now: float, event: DemoEvent | None) -> object:
        rnd = self._random
        if event is not None and event.sensor_id == sensor.id:
            if sensor.kind is Kind.TAMPER:
                return True
            return round(alarm_level(sensor) * event.factor * (1 + 0.05 * rnd.gauss(0, 1)), 4)
        hour = (now % 86400) / 3600
        match sensor.kind:
            case Kind.GAS:
                return round(max(0.0, 0.02 * (sensor.levels.high or 1.0) * (1 + rnd.gauss(0, 0.5))), 5)
            case Kind.GAMMA_DOSE_RATE:
                background = 80 + zlib.crc32(device.id.encode()) % 40
                return round(background + math.sqrt(background) * rnd.gauss(0, 0.5), 1)
            case Kind.SOURCE_DOSE_RATE:
                baseline = device.source.baseline_dose_rate_nsv_h if device.source else 300.0
                return round(baseline * (1 + 0.03 * rnd.gauss(0, 1)), 1)
            case Kind.WIND_SPEED:
                return round(max(0.0, 3.0 + rnd.gauss(0, 0.8)), 2)
            case Kind.WIND_DIRECTION:
                return round((120 + rnd.gauss(0, 15)) % 360, 1)
            case Kind.RAIN_RATE:
                return 0.0
            case Kind.TEMPERATURE:
                return round(15 + 6 * math.sin((hour - 9) / 24 * 2 * math.pi) + rnd.gauss(0, 0.2), 2)
            case Kind.BATTERY_VOLTAGE:
                return round(12.6 + rnd.gauss(0, 0.05), 3)
            case Kind.MAINS_POWER:
                return True
            case Kind.TAMPER:
                return False
            case Kind.LATITUDE:
                return round(device.position.lat + rnd.gauss(0, 2e-5), 7)
            case Kind.LONGITUDE:
                return round(device.position.lon + rnd.gauss(0, 2e-5), 7)
            case Kind.HDOP:
                return round(0.8 + abs(rnd.gauss(0, 0.2)), 2)
        return 0.0

    def message(self, device: DeviceSpec, now: float) -> bytes:
        """One SenML message with every channel of the device."""
        event = self._active_event(now)
        records: list[dict[str, object]] = [{"bn": f"{device.id}:", "bt": round(now, 3)}]
        for sensor in device.sensors:
            value = self._value(device, sensor, now, event)
            record: dict[str, object] = {"n": sensor.name, "u": sensor.unit}
            record["vb" if isinstance(value, bool) else "v"] = value
            records.append(record)
        records[0].update(records.pop(1))
        return json.dumps(records, separators=(",", ":")).encode()

    def topic(self, device: DeviceSpec) -> str:
        """Measurement topic of a device."""
        return f"{self._prefix}/{self._site.site}/{device.id}"

    async def run(self) -> None:
        """Publish until cancelled; reconnect if the broker goes away."""
        self._started = self._clock.now()
        next_due = {device.id: self._started + self._random.uniform(0, 2) for device in self._site.devices}
        while True:
            try:
                async with aiomqtt.Client(
                    self._target.host, self._target.port, identifier="hazwatch-demo-feed"
                ) as client:
                    for device in self._site.devices:
                        await client.publish(f"{self.topic(device)}/status", b"online", qos=1, retain=True)
                    log.info(
                        "demo feed publishing %d devices; first event in %.0fs", len(next_due), FIRST_EVENT_AFTER_S
                    )
                    while True:
                        now = self._clock.now()
                        for device in self._site.devices:
                            if next_due[device.id] <= now:
                                await client.publish(self.topic(device), self.message(device, now), qos=1)
                                next_due[device.id] = now + device.report_interval_s
                        await asyncio.sleep(max(0.05, min(next_due.values()) - self._clock.now()))
            except aiomqtt.MqttError as exc:
                log.warning("demo feed lost the broker (%s); retrying", exc)
                await asyncio.sleep(1.0)
