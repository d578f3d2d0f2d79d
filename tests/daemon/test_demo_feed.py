"""The demo's scripted events cross the shipped alarm levels, so each one shows on the console."""

from __future__ import annotations

from daemon.clock import ManualClock
from daemon.ingest.broker_url import parse_broker
from daemon.ingest.demo_feed import DemoFeed, alarm_level
from detectors.kinds import Kind
from detectors.substances import SUBSTANCES
from rules.site import Site


def test_every_demo_event_exceeds_its_alarm_level(demo_site: Site) -> None:
    feed = DemoFeed(demo_site, parse_broker("mqtt://127.0.0.1:1883"), "hazwatch", ManualClock(0.0))
    sensors = {s.id: (d, s) for d in demo_site.devices for s in d.sensors}
    kinds = set()
    for event in feed._events:
        device, sensor = sensors[event.sensor_id]
        kinds.add(sensor.kind)
        value = feed._value(device, sensor, 100.0, event)
        if sensor.kind is Kind.TAMPER:
            assert value is True
        else:
            assert isinstance(value, float)
            assert value > alarm_level(sensor)
    assert kinds == {Kind.GAS, Kind.TAMPER, Kind.GAMMA_DOSE_RATE}


def test_alarm_levels_come_from_the_shipped_rules(demo_site: Site) -> None:
    by_kind = {s.kind: s for d in demo_site.devices for s in d.sensors}
    gamma = by_kind[Kind.GAMMA_DOSE_RATE]
    assert alarm_level(gamma) == 1000.0  # rules/defaults/gamma.yaml gamma-level-1000
    gas = by_kind[Kind.GAS]
    assert alarm_level(gas) == 2 * SUBSTANCES[gas.substance or ""].occupational_limit_ppm  # GB/T 50493 level 2
