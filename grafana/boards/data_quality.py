"""The data quality dashboard."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    Panel,
    bargauge,
    capture_ratio_config,
    dashboard,
    field_config,
    panel,
    query_variable,
    stat,
    target,
    thresholds,
    timeseries,
    value_text,
)

RATIO_CONFIG = capture_ratio_config(custom={"cellOptions": {"type": "color-background"}})


def _capture_and_valid_ratios() -> list[Panel]:
    """Capture and valid ratio per sensor, 24 h (worst first); Network capture and valid ratio, 24 h."""
    return [
        panel(
            "table",
            "Capture and valid ratio per sensor, 24 h (worst first)",
            (0, 0, 12, 12),
            [
                target('sort(hazwatch_sensor_data_capture_ratio{zone=~"$zone"})', instant=True, table=True),
                target('sort(hazwatch_sensor_valid_data_ratio{zone=~"$zone"})', instant=True, table=True),
            ],
            fieldConfig=RATIO_CONFIG,
            transformations=[
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True, "site": True},
                        "renameByName": {"Value #A": "capture", "Value #B": "valid"},
                    },
                },
                {"id": "sortBy", "options": {"sort": [{"field": "capture", "desc": False}]}},
            ],
            options={"showHeader": True, "sortBy": [{"displayName": "capture", "desc": False}]},
        ),
        bargauge(
            "Network capture and valid ratio, 24 h",
            (12, 0, 12, 6),
            [
                target("hazwatch_network_data_capture_ratio", "{{network}} capture", instant=True),
                target("hazwatch_network_valid_data_ratio", "{{network}} valid", instant=True),
            ],
            capture_ratio_config(noValue="unknown"),
        ),
    ]


def _quarantine() -> list[Panel]:
    """Quarantined input by reason."""
    return [
        timeseries(
            "Quarantined input by reason",
            (12, 6, 12, 6),
            [target("sum by (reason) (rate(hazwatch_quarantined_messages_total[$__rate_interval]))", "{{reason}}")],
            "cps",
        ),
    ]


def _ingest() -> list[Panel]:
    """Ingest rate; Pipeline batch latency; Database writes."""
    return [
        timeseries(
            "Ingest rate",
            (0, 12, 8, 7),
            [
                target("sum(rate(hazwatch_ingest_messages_total[$__rate_interval]))", "messages/s"),
                target("sum(rate(hazwatch_ingest_readings_total[$__rate_interval]))", "readings/s"),
                target("sum by (flag) (rate(hazwatch_readings_flagged_total[$__rate_interval]))", "flagged {{flag}}/s"),
            ],
            "cps",
        ),
        timeseries(
            "Pipeline batch latency",
            (8, 12, 8, 7),
            [
                target(
                    f"histogram_quantile({q}, sum by (le) (rate(hazwatch_pipeline_batch_duration_seconds_bucket"
                    "[$__rate_interval])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            "s",
        ),
        timeseries(
            "Database writes",
            (16, 12, 8, 7),
            [
                target(
                    "histogram_quantile(0.95, sum by (le) (rate(hazwatch_store_write_duration_seconds_bucket"
                    "[$__rate_interval])))",
                    "p95 commit",
                ),
                target("sum(hazwatch_store_backlog_items)", "backlog"),
                target("sum(increase(hazwatch_store_errors_total[$__rate_interval]))", "errors"),
            ],
            "s",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "backlog|errors"},
                    "properties": [{"id": "unit", "value": "none"}, {"id": "custom.axisPlacement", "value": "right"}],
                }
            ],
        ),
    ]


def _broker() -> list[Panel]:
    """MQTT broker connection; Reconnects in range; Devices online."""
    return [
        panel(
            "state-timeline",
            "MQTT broker connection",
            (0, 19, 12, 4),
            [target("min(hazwatch_mqtt_connected)", "broker")],
            fieldConfig=field_config(
                "none",
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "red"), (1, "green")),
                mappings=value_text([(0, "DISCONNECTED", "red"), (1, "CONNECTED", "green")]),
            ),
            options={"showValue": "never", "mergeValues": True, "legend": {"showLegend": False}},
        ),
        stat(
            "Reconnects in range",
            (12, 19, 4, 4),
            [target("sum(increase(hazwatch_mqtt_reconnects_total[$__range]))", "reconnects", instant=True)],
            field_config(
                "none", decimals=0, color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (1, "orange"))
            ),
            text_mode="value",
        ),
        stat(
            "Devices online",
            (16, 19, 4, 4),
            [target("sum(hazwatch_devices_online)", "online", instant=True)],
            field_config("none", color={"mode": "fixed", "fixedColor": "green"}),
            text_mode="value",
        ),
    ]


def _outbox() -> list[Panel]:
    """Outbox pending."""
    return [
        stat(
            "Outbox pending",
            (20, 19, 4, 4),
            [target("sum(hazwatch_notifications_pending)", "pending", instant=True)],
            field_config("none", color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (10, "orange"))),
            text_mode="value",
        ),
    ]


def _deliveries() -> list[Panel]:
    """Notifications delivered and failed by channel; Notification delivery time (p95) and unacknowledged."""
    return [
        timeseries(
            "Notifications delivered and failed by channel",
            (0, 23, 12, 7),
            [
                target(
                    "sum by (channel) (rate(hazwatch_notifications_sent_total[$__rate_interval]))", "{{channel}} sent"
                ),
                target(
                    "sum by (channel) (rate(hazwatch_notifications_failed_total[$__rate_interval]))",
                    "{{channel}} failed",
                ),
            ],
            "cps",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": ".* failed"},
                    "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}],
                }
            ],
        ),
        timeseries(
            "Notification delivery time (p95) and unacknowledged",
            (12, 23, 12, 7),
            [
                target(
                    "histogram_quantile(0.95, sum by (le, channel) "
                    "(rate(hazwatch_notification_delivery_seconds_bucket[$__rate_interval])))",
                    "{{channel}} p95 delivery",
                ),
                target("max(hazwatch_notification_oldest_unacknowledged_age_seconds)", "oldest unacknowledged"),
                target("sum(hazwatch_notifications_unacknowledged)", "unacknowledged"),
            ],
            "s",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "unacknowledged"},
                    "properties": [{"id": "unit", "value": "none"}, {"id": "custom.axisPlacement", "value": "right"}],
                }
            ],
        ),
    ]


def data_quality() -> dict[str, Any]:
    """Capture and valid ratios, quarantine, ingest, latency, broker, notification delivery."""
    panels = _capture_and_valid_ratios() + _quarantine() + _ingest() + _broker() + _outbox() + _deliveries()
    variables = [query_variable("zone", "Zone", "label_values(hazwatch_sensor_info, zone)")]
    return dashboard("hazwatch-data-quality", "hazwatch · Data quality", panels, variables)
