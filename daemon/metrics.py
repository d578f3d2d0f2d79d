"""The service's Prometheus metrics, on a registry that is passed in (tests use a fresh one each)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.codec import Reason
from detectors.kinds import CANONICAL_UNIT
from detectors.readings import FLAG_NAMES
from rules.sensor_table import SensorTable

PRIORITIES = ("low", "medium", "high", "urgent")
NOTIFY_CHANNELS = ("webhook", "alertmanager", "smtp", "wecom", "dingtalk")


class SensorCollector(Collector):
    """Latest value and time per sensor, read from the pipeline's arrays at scrape time (nothing on the hot path)."""

    def __init__(self, table: SensorTable, latest_value: np.ndarray, latest_time: np.ndarray) -> None:
        self._table = table
        self._value = latest_value
        self._time = latest_time

    def collect(self) -> Iterable[Metric]:
        """One series per sensor that has reported."""
        table = self._table
        labels = ["site", "zone", "device", "sensor", "kind", "unit"]
        value = GaugeMetricFamily(
            "hazwatch_sensor_value", "Latest reading per sensor, in the canonical unit of its kind.", labels=labels
        )
        seen = GaugeMetricFamily(
            "hazwatch_sensor_last_reading_timestamp_seconds", "Time of the latest reading per sensor.", labels=labels
        )
        site = table.site.site
        for i in np.flatnonzero(~np.isnan(self._time)).tolist():
            spec = table.sensors[i]
            device = table.devices[int(table.device_of[i])].id
            label_values = [site, table.zone[i], device, spec.id, spec.kind.value, CANONICAL_UNIT[spec.kind]]
            value.add_metric(label_values, float(self._value[i]))
            seen.add_metric(label_values, float(self._time[i]))
        yield value
        yield seen


class Metrics:
    """Every metric the service exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.ingest_messages = Counter("hazwatch_ingest_messages_total", "MQTT messages received.", registry=registry)
        self.ingest_readings = Counter(
            "hazwatch_ingest_readings_total", "Readings decoded and accepted into the pipeline.", registry=registry
        )
        self.quarantined = Counter(
            "hazwatch_quarantined_messages_total",
            "Messages (or parts of messages) quarantined, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in Reason:
            self.quarantined.labels(reason.value)
        self.flagged = Counter(
            "hazwatch_readings_flagged_total", "Readings carrying a quality flag, by flag.", ["flag"], registry=registry
        )
        for name in FLAG_NAMES.values():
            self.flagged.labels(name)
        self.batch_seconds = Histogram(
            "hazwatch_pipeline_batch_duration_seconds",
            "Time to run one batch through decode-to-alarm processing.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.store_seconds = Histogram(
            "hazwatch_store_write_duration_seconds",
            "Time to commit one group of writes to the database.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.store_backlog = Gauge(
            "hazwatch_store_backlog_items", "Write groups waiting for the database.", registry=registry
        )
        self.store_errors = Counter(
            "hazwatch_store_errors_total", "Failed database writes (retried).", registry=registry
        )
        self.mqtt_connected = Gauge(
            "hazwatch_mqtt_connected", "1 while connected to the MQTT broker.", registry=registry
        )
        self.mqtt_reconnects = Counter(
            "hazwatch_mqtt_reconnects_total",
            "Connection attempts after a lost or failed connection.",
            registry=registry,
        )
        self.alarms_raised = Counter(
            "hazwatch_alarms_raised_total", "Alarms raised, by priority.", ["priority"], registry=registry
        )
        self.alarms_active = Gauge(
            "hazwatch_alarms_active", "Alarms currently active, by priority.", ["priority"], registry=registry
        )
        for priority in PRIORITIES:
            self.alarms_raised.labels(priority)
            self.alarms_active.labels(priority)
        self.drill_running = Gauge(
            "hazwatch_drill_running", "1 while this process runs a drill (replay or simulation).", registry=registry
        )
        self.devices_online = Gauge(
            "hazwatch_devices_online", "Devices whose last status message said online.", registry=registry
        )
        self.notifications_sent = Counter(
            "hazwatch_notifications_sent_total", "Notifications delivered, by channel.", ["channel"], registry=registry
        )
        self.notifications_failed = Counter(
            "hazwatch_notifications_failed_total",
            "Failed delivery attempts (retried with back-off until delivered or given up), by channel.",
            ["channel"],
            registry=registry,
        )
        self.notification_delivery_seconds = Histogram(
            "hazwatch_notification_delivery_seconds",
            "Time from queueing a notification to its delivery.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
            registry=registry,
        )
        self.notifications_pending = Gauge(
            "hazwatch_notifications_pending", "Notifications queued and not yet delivered.", registry=registry
        )
        self.notifications_unacknowledged = Gauge(
            "hazwatch_notifications_unacknowledged",
            "Delivered notifications nobody has acknowledged yet.",
            registry=registry,
        )
        self.notification_oldest_unacknowledged_age = Gauge(
            "hazwatch_notification_oldest_unacknowledged_age_seconds",
            "Age of the oldest delivered, unacknowledged notification (0 when none).",
            registry=registry,
        )
        self.notification_channel_failing = Gauge(
            "hazwatch_notification_channel_failing",
            "1 while a channel's latest delivery attempt failed.",
            ["channel"],
            registry=registry,
        )
        for channel in NOTIFY_CHANNELS:
            self.notifications_sent.labels(channel)
            self.notifications_failed.labels(channel)
            self.notification_channel_failing.labels(channel)
