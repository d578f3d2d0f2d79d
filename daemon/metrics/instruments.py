"""The service's Prometheus metrics, on a registry that is passed in (tests use a fresh one each).

Instruments updated as events happen (counters, histograms, a few gauges) live on ``Metrics``.
Everything derived from per-sensor arrays or from another component's state is produced at scrape
time by the collectors in ``daemon.metrics.sensors`` and ``daemon.metrics.status``, so the hot path
does no per-reading Python work for metrics. The whole set is documented in ``docs/metrics.md``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from daemon.ingest.senml import Reason
from daemon.metrics.sensors import SensorCollector
from daemon.notify.channels.registry import CHANNEL_KINDS
from detectors.readings import FLAG_NAMES
from rules.model import PRIORITIES

__all__ = ["NOTIFICATION_CHANNELS", "Metrics", "SensorCollector"]

# Delivery channels the notifier knows; pre-created so every channel's series exists from the start.
NOTIFICATION_CHANNELS = tuple(CHANNEL_KINDS)
VERSION = "0.1.0"


class Metrics:
    """Every instrument the service updates as things happen."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.build_info = Info("hazwatch_build", "The running hazwatch version.", registry=registry)
        self.build_info.info({"version": VERSION})
        self.start_time = Gauge(
            "hazwatch_start_time_seconds", "Unix time the service started (from its clock).", registry=registry
        )
        self.ingest_messages = Counter("hazwatch_ingest_messages_total", "MQTT messages received.", registry=registry)
        self.ingest_urgent = Counter(
            "hazwatch_ingest_urgent_messages_total",
            "Messages judged ahead of the routine backlog (pre-screened urgent, with their device's earlier ones).",
            registry=registry,
        )
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
        self.batch_window = Gauge(
            "hazwatch_ingest_batch_window_seconds",
            "Current batch window: batch_max_delay_s, or longer while readings arrive late (backlog).",
            registry=registry,
        )
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
        # At the spool's bound (daemon/store/spool.py): counted at the start that finds the spool, not silent.
        self.spool_readings_left_out = Counter(
            "hazwatch_spool_readings_left_out",
            "Readings a shutdown left out of the bounded spool (their unacknowledged MQTT messages come again).",
            registry=registry,
        )
        self.spool_rows_lost = Counter(
            "hazwatch_spool_rows_lost",
            "Rows other than readings a shutdown could not keep in the bounded spool: lost.",
            registry=registry,
        )
        self.store_errors = Counter(
            "hazwatch_store_errors_total",
            "Failed database writes (transient ones are retried; refused groups are written row by row).",
            registry=registry,
        )
        self.store_rows_rejected = Counter(
            "hazwatch_store_rows_rejected_total",
            "Rows the database refused even on their own (logged with their content, then dropped).",
            registry=registry,
        )
        self.mqtt_connected = Gauge(
            "hazwatch_mqtt_connected", "1 while connected to the MQTT broker.", registry=registry
        )
        self.mqtt_reconnects = Counter(
            "hazwatch_mqtt_reconnects_total",
            "Connection attempts after a lost or failed connection.",
            registry=registry,
        )
        self.mqtt_acks = Counter(
            "hazwatch_mqtt_acks_total",
            "QoS 1 messages acknowledged to the broker (after the rows they produced committed).",
            registry=registry,
        )
        # The priority lane (mqtt.priority_devices, daemon/ingest/priority_lane.py); stay 0 without one.
        self.priority_lane_messages = Counter(
            "hazwatch_priority_lane_messages_total",
            "Messages of the priority devices judged, by the MQTT session that delivered them first (priority: the "
            "lane was ahead; main: the lane was behind or down).",
            ["first_on"],
            registry=registry,
        )
        for session in ("priority", "main"):
            self.priority_lane_messages.labels(session)
        self.priority_lane_main_behind = Gauge(
            "hazwatch_priority_lane_main_behind_messages",
            "Priority devices' messages the lane delivered that the main session has not delivered yet (how far the "
            "main session's broker queue is behind the lane), as of the last such message.",
            registry=registry,
        )
        self.duplicate_readings = Counter(
            "hazwatch_duplicate_readings_total",
            "Readings dropped because the same sensor and time was already stored (a broker's redelivery).",
            registry=registry,
        )
        self.quarantine_not_stored = Counter(
            "hazwatch_quarantine_not_stored_total",
            "Quarantined messages counted but not stored: the day's quarantine byte budget was spent.",
            registry=registry,
        )
        self.task_restarts = Counter(
            "hazwatch_task_restarts_total",
            "Background tasks that failed and were restarted, by task.",
            ["task"],
            registry=registry,
        )
        self.alarms_raised = Counter(
            "hazwatch_alarms_raised_total", "Alarms raised (annunciated), by priority.", ["priority"], registry=registry
        )
        for priority in PRIORITIES:
            self.alarms_raised.labels(priority)
        self.drill_running = Gauge(
            "hazwatch_drill_running", "1 while this process runs a drill (replay or simulation).", registry=registry
        )
        self.devices_online = Gauge(
            "hazwatch_devices_online", "Devices whose last status message said online.", registry=registry
        )
        self._notification_metrics(registry)

    def _notification_metrics(self, registry: CollectorRegistry) -> None:
        """The notifier's instruments: it increments and sets them, dashboards and alert rules read them."""
        self.notifications_sent = Counter(
            "hazwatch_notifications_sent_total", "Notifications delivered, by channel.", ["channel"], registry=registry
        )
        self.notifications_failed = Counter(
            "hazwatch_notifications_failed_total",
            "Notification delivery attempts that failed, by channel.",
            ["channel"],
            registry=registry,
        )
        self.notification_delivery_seconds = Histogram(
            "hazwatch_notification_delivery_seconds",
            "Time from a notification entering the outbox to its delivery, by channel.",
            ["channel"],
            buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
            registry=registry,
        )
        for channel in NOTIFICATION_CHANNELS:
            self.notifications_sent.labels(channel)
            self.notifications_failed.labels(channel)
            self.notification_delivery_seconds.labels(channel)
        self.notifications_pending = Gauge(
            "hazwatch_notifications_pending", "Notifications waiting in the outbox for delivery.", registry=registry
        )
        self.notifications_unacknowledged = Gauge(
            "hazwatch_notifications_unacknowledged",
            "Delivered notifications nobody has acknowledged yet.",
            registry=registry,
        )
        self.notification_oldest_unacknowledged_age = Gauge(
            "hazwatch_notification_oldest_unacknowledged_age_seconds",
            "Age of the oldest unacknowledged notification (0 when none).",
            registry=registry,
        )
        self.notification_channel_failing = Gauge(
            "hazwatch_notification_channel_failing",
            "1 while a channel's latest delivery attempt failed.",
            ["channel"],
            registry=registry,
        )
        for channel in NOTIFICATION_CHANNELS:
            self.notification_channel_failing.labels(channel)
        self._paging_metrics(registry)

    def _paging_metrics(self, registry: CollectorRegistry) -> None:
        """Whether pages reach people: outcomes per channel, time to first delivery and to acknowledgement."""
        self.notification_deliveries = Counter(
            "hazwatch_notification_deliveries_total",
            "Outcomes of delivery attempts and of rows, by channel and outcome "
            "(delivered, retry, failed, given_up, superseded, acknowledged).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.page_first_delivery_seconds = Histogram(
            "hazwatch_page_first_delivery_seconds",
            "Time from a person's page to its first delivered channel.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
            registry=registry,
        )
        self.page_ack_seconds = Histogram(
            "hazwatch_page_ack_seconds",
            "Time from a page to its acknowledgement.",
            buckets=(5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0),
            registry=registry,
        )
        self.pages_undeliverable = Counter(
            "hazwatch_pages_undeliverable_total",
            "Pages that failed on every channel of every person of a role, by role.",
            ["role"],
            registry=registry,
        )
