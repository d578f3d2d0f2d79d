"""Scrape-time collectors and the pure state functions behind them, each on a fresh registry."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from daemon.clock import ManualClock
from daemon.metrics.adapters import AlarmBookMetrics, IncidentEngineMetrics
from daemon.metrics.instruments import Metrics
from daemon.metrics.sensor_state import (
    ALARM,
    FAULT,
    NORMAL,
    OFFLINE,
    OUT_OF_SERVICE,
    fold_conditions,
    sensor_states,
)
from daemon.metrics.sensors import SensorStateCollector, SiteCollector, sensor_label_values
from daemon.metrics.sources import MetricSources
from daemon.metrics.status import StatusCollector, network_ratio
from detectors.conditions import ConditionEvents
from detectors.readings import FLAG_OUT_OF_SERVICE, FLAG_STUCK
from detectors.substances import SUBSTANCES
from plans.incident import Incident, IncidentStatus
from plans.model import Tier
from rules.book import AlarmBook
from rules.engine import RuleEngine
from rules.loading import load_default_rules
from rules.sensor_table import SensorTable
from rules.site import Site

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def table(demo_site: Site) -> SensorTable:
    return SensorTable.build(demo_site)


class Latest:
    """The pipeline's arrays, as the collectors see them."""

    def __init__(self, n: int) -> None:
        self.latest_value = np.full(n, np.nan)
        self.latest_time = np.full(n, np.nan)
        self.latest_flags = np.zeros(n, np.uint16)


class Conditions:
    def __init__(self, pairs: list[tuple[str, int]]) -> None:
        self.pairs = pairs

    def active_conditions(self) -> list[tuple[str, int]]:
        return self.pairs


class Tiers:
    def __init__(self, tiers: list[str]) -> None:
        self.tiers = tiers

    def open_incident_tiers(self) -> list[str]:
        return self.tiers


class Ratios:
    def __init__(self, acquisition: np.ndarray, valid: np.ndarray) -> None:
        self.pair = (acquisition, valid)

    def ratios(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        return self.pair


def test_state_precedence_and_offline_after_three_intervals() -> None:
    n = 6
    interval = np.full(n, 10.0)
    latest_time = np.array([NOW - 5, NOW - 31, np.nan, NOW - 5, NOW - 5, NOW - 100])
    flags = np.array([0, 0, 0, FLAG_STUCK, 0, FLAG_OUT_OF_SERVICE], np.uint16)
    masks = fold_conditions(n, [("threshold.high", 4), ("threshold.high", 1), ("quality.capture_low", 0)])
    state = sensor_states(NOW, latest_time, flags, interval, np.zeros(n, np.bool_), masks, np.zeros(n, np.bool_))
    # fresh; stale (31 s > 3 x 10 s) but alarmed -> alarm wins; never seen; stuck; alarm; out of service wins
    assert state.tolist() == [NORMAL, ALARM, OFFLINE, FAULT, ALARM, OUT_OF_SERVICE]


def test_conditions_fold_into_alarm_fault_offline() -> None:
    masks = fold_conditions(
        4,
        [("quality.offline", 0), ("quality.stuck", 1), ("gas.aegl2_10min", 2), ("source.heartbeat_lost", 3), ("x", 9)],
    )
    assert masks.offline.tolist() == [True, False, False, True]
    assert masks.fault.tolist() == [False, True, False, False]
    assert masks.alarm.tolist() == [False, False, True, False]


def test_device_offline_status_makes_its_sensors_offline(table: SensorTable) -> None:
    latest = Latest(len(table))
    latest.latest_time[:] = NOW
    registry = CollectorRegistry()
    gamma = table.index["gamma-01-dose"]
    device = int(table.device_of[gamma])
    registry.register(SensorStateCollector(table, ManualClock(NOW), latest, MetricSources(len(table)), {device: False}))
    assert registry.get_sample_value("hazwatch_sensor_state", _labels(table, "gamma-01-dose", state="offline")) == 1
    assert registry.get_sample_value("hazwatch_sensor_state", _labels(table, "gamma-02-dose", state="normal")) == 1


def _labels(table: SensorTable, sensor_id: str, **extra: str) -> dict[str, str]:
    i = table.index[sensor_id]
    spec = table.sensors[i]
    values = sensor_label_values(table, i)
    assert values[3] == spec.id
    return dict(zip(["site", "zone", "device", "sensor", "kind", "unit"], values, strict=True)) | extra


def test_source_statuses_from_conditions_and_latest_values(table: SensorTable) -> None:
    latest = Latest(len(table))
    latest.latest_time[:] = NOW
    latest.latest_value[:] = 1.0
    sources = MetricSources(len(table))
    sources.conditions = Conditions(
        [("source.geofence_exit", table.index["src-cam-01-dose"]), ("threshold.low", table.index["src-gauge-02-dose"])]
    )
    latest.latest_value[table.index["src-gauge-03-mains"]] = 0.0
    latest.latest_time[table.index["src-gauge-04-dose"]] = NOW - 3600
    registry = CollectorRegistry()
    registry.register(SensorStateCollector(table, ManualClock(NOW), latest, sources, {}))

    def status(device: str, name: str) -> float | None:
        return registry.get_sample_value("hazwatch_source_status", _source_labels(table, device, name))

    assert status("src-cam-01", "outside_geofence") == 1
    assert status("src-cam-01", "in_container") == 0
    assert status("src-gauge-02", "missing") == 1
    assert status("src-gauge-03", "mains_lost") == 1
    assert status("src-gauge-03", "in_container") == 1
    assert status("src-gauge-04", "offline") == 1
    assert status("src-gauge-01", "in_container") == 1
    assert status("src-gauge-01", "tamper") == 1  # the tamper switch reads 1 in this fixture


def _source_labels(table: SensorTable, device_id: str, status: str) -> dict[str, str]:
    device = next(d for d in table.devices if d.id == device_id)
    assert device.source is not None
    return {
        "site": table.site.site,
        "zone": device.zone,
        "device": device.id,
        "nuclide": device.source.nuclide,
        "category": str(device.source.category),
        "status": status,
    }


def test_site_collector_exports_info_and_levels(table: SensorTable) -> None:
    registry = CollectorRegistry()
    registry.register(SiteCollector(table))
    level = _labels(table, "gas-n01-cl2", level="aegl3_10min")
    assert registry.get_sample_value("hazwatch_sensor_level", level) == 50.0
    baseline = _labels(table, "src-gauge-01-dose", level="baseline")
    assert registry.get_sample_value("hazwatch_sensor_level", baseline) == 400.0
    info = [s for m in registry.collect() if m.name == "hazwatch_sensor_info" for s in m.samples]
    assert len(info) == len(table)
    cl2 = next(s for s in info if s.labels["sensor"] == "gas-n01-cl2")
    assert cl2.labels["substance"] == "Cl2"
    assert cl2.labels["zone_type"] == "boundary"


def test_status_collector_defaults_give_every_series(table: SensorTable) -> None:
    registry = CollectorRegistry()
    registry.register(StatusCollector(table, ManualClock(NOW), MetricSources(len(table))))
    for tier in Tier:
        assert registry.get_sample_value("hazwatch_incidents_open", {"tier": tier.value}) == 0
    assert registry.get_sample_value("hazwatch_incident_highest_tier") == 0
    assert registry.get_sample_value("hazwatch_alarms", {"priority": "urgent", "state": "shelved"}) == 0
    capture = registry.get_sample_value(
        "hazwatch_network_data_capture_ratio", {"site": "demo-park", "network": "gas_detector"}
    )
    assert capture is not None
    assert math.isnan(capture)  # unknown, not a false 0 %


def test_status_collector_reads_its_providers(table: SensorTable) -> None:
    n = len(table)
    sources = MetricSources(n)
    sources.incidents = Tiers(["blue", "orange", "blue"])
    acquisition = np.full(n, np.nan)
    gas = [i for i, s in enumerate(table.sensors) if s.kind.value == "gas"]
    acquisition[gas[0]] = 0.5
    acquisition[gas[1]] = 1.0
    sources.quality = Ratios(acquisition, acquisition)
    registry = CollectorRegistry()
    registry.register(StatusCollector(table, ManualClock(NOW), sources))
    assert registry.get_sample_value("hazwatch_incidents_open", {"tier": "blue"}) == 2
    assert registry.get_sample_value("hazwatch_incident_highest_tier") == 3
    network = {"site": "demo-park", "network": "gas_detector"}
    assert registry.get_sample_value("hazwatch_network_valid_data_ratio", network) == pytest.approx(0.75)


def test_network_ratio_weights_by_expected_readings() -> None:
    ratio = np.array([1.0, 0.0, np.nan])
    per_second = np.array([1 / 10, 1 / 60, 1 / 10])  # a 10 s sensor counts six times a 60 s one
    assert network_ratio(ratio, per_second) == pytest.approx(6 / 7)
    assert math.isnan(network_ratio(np.array([np.nan]), np.array([1.0])))


def test_alarm_book_and_incident_engine_adapters(table: SensorTable) -> None:
    rules = load_default_rules()
    engine = RuleEngine(rules, table)
    book = AlarmBook(table, rules)
    sensor = table.index["gas-n01-cl2"]
    raised = engine.process(
        NOW,
        [
            ConditionEvents(
                "gas.aegl2_10min",
                np.array([sensor], np.int32),
                np.array([NOW]),
                np.array([True]),
                np.array([5.0]),
                np.array([2.8]),
            )
        ],
    )
    book.on_condition(raised, NOW)
    adapter = AlarmBookMetrics(book)
    assert ("gas.aegl2_10min", sensor) in list(adapter.active_conditions())
    states = list(adapter.alarm_states())
    assert states
    assert all(state == "active_unack" for _, state in states)
    registry = CollectorRegistry()
    sources = MetricSources(len(table))
    sources.alarms = adapter
    registry.register(StatusCollector(table, ManualClock(NOW), sources))
    total = sum(s.value for m in registry.collect() if m.name == "hazwatch_alarms" for s in m.samples)
    assert total == len(states)

    class Engine:
        incidents: ClassVar[dict[str, Incident]] = {
            "a": Incident("a", "demo-park", NOW, False, Tier.YELLOW),
            "b": Incident("b", "demo-park", NOW, False, Tier.BLUE, confirmed_tier=Tier.RED),
            "c": Incident("c", "demo-park", NOW, False, Tier.RED, status=IncidentStatus.CLOSED),
            "d": Incident("d", "demo-park", NOW, False, None),
        }

    assert sorted(IncidentEngineMetrics(Engine()).open_incident_tiers()) == ["red", "yellow"]  # type: ignore[arg-type]


def test_metrics_pre_create_notification_channels() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    assert registry.get_sample_value("hazwatch_notifications_failed_total", {"channel": "webhook"}) == 0
    assert registry.get_sample_value("hazwatch_notification_oldest_unacknowledged_age_seconds") == 0
    assert registry.get_sample_value("hazwatch_build_info", {"version": "0.1.0"}) == 1


def test_levels_come_from_the_core_and_the_rules_where_the_site_sets_none(table: SensorTable) -> None:
    """Panels draw the levels the service judges by: gas detector levels, gamma level rules, source missing."""
    registry = CollectorRegistry()
    registry.register(SiteCollector(table, load_default_rules(), table.core_config()))

    def level(sensor: str, name: str) -> float | None:
        return registry.get_sample_value("hazwatch_sensor_level", _labels(table, sensor, level=name))

    assert level("gas-n01-cl2", "high") == pytest.approx(SUBSTANCES["Cl2"].occupational_limit_ppm)
    assert level("gas-n01-cl2", "high_high") == pytest.approx(2 * SUBSTANCES["Cl2"].occupational_limit_ppm)
    assert (level("gamma-01-dose", "high"), level("gamma-01-dose", "high_high")) == (200.0, 1000.0)
    assert level("gamma-01-dose", "gamma-level-2000") == 2000.0
    assert level("src-gauge-01-dose", "low") == pytest.approx(max(100.0 + 3 * 15.0, 0.2 * 400.0))
    assert level("src-gauge-01-battery", "low") == 11.4
