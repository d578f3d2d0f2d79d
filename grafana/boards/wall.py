"""The wall overview dashboard."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    ACTIVE_STATES,
    PRIORITY_COLOURS,
    STATE_CODE_EXPR,
    STATE_CODES,
    TIER_COLOURS,
    Panel,
    bargauge,
    capture_ratio_config,
    colour_overrides,
    dashboard,
    field_config,
    panel,
    stat,
    target,
    thresholds,
    value_text,
)

TIER_MAPPING = [
    (0, "NO INCIDENT", "green"),
    (1, "BLUE · IV", "blue"),
    (2, "YELLOW · III", "yellow"),
    (3, "ORANGE · II", "orange"),
    (4, "RED · I", "red"),
]


def _incidents_and_alarms() -> list[Panel]:
    """Incident tier; Open incidents by tier; Active alarms by priority."""
    return [
        stat(
            "Incident tier",
            (0, 0, 6, 5),
            [target("max(hazwatch_incident_highest_tier)", "tier", instant=True)],
            field_config(
                mappings=value_text(TIER_MAPPING),
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "green"), (1, "blue"), (2, "yellow"), (3, "orange"), (4, "red")),
            ),
            text_mode="value",
        ),
        stat(
            "Open incidents by tier",
            (6, 0, 8, 5),
            [target("sum by (tier) (hazwatch_incidents_open)", "{{tier}}", instant=True)],
            {
                "defaults": {"unit": "none", "color": {"mode": "fixed", "fixedColor": "#333333"}},
                "overrides": colour_overrides(TIER_COLOURS),
            },
        ),
        stat(
            "Active alarms by priority",
            (14, 0, 6, 5),
            [target(f'sum by (priority) (hazwatch_alarms{{state=~"{ACTIVE_STATES}"}})', "{{priority}}", instant=True)],
            {
                "defaults": {"unit": "none", "color": {"mode": "fixed", "fixedColor": "#333333"}},
                "overrides": colour_overrides(PRIORITY_COLOURS),
            },
        ),
    ]


def _mode() -> list[Panel]:
    """Mode."""
    return [
        stat(
            "Mode",
            (20, 0, 4, 5),
            [target("max(hazwatch_drill_running)", "mode", instant=True)],
            field_config(
                mappings=value_text([(0, "LIVE", "green"), (1, "DRILL", "orange")]),
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "green"), (1, "orange")),
            ),
            text_mode="value",
            description="DRILL while a replay writes into this service's database (a drill run with a heartbeat in "
            "the last 30 s), or while a replay process scraped by Prometheus runs. The counts and map here stay the "
            "live service's own; the drill's alarms and incidents show on the duty console, marked DRILL.",
        ),
    ]


def _sensor_map(center: tuple[float, float], zoom: float) -> list[Panel]:
    """Sensors by state; Unacknowledged pages; Oldest unacknowledged."""
    return [
        panel(
            "geomap",
            "Sensors by state",
            (0, 5, 16, 17),
            [
                target(
                    f"{STATE_CODE_EXPR}\n* on (sensor) group_left (lat, lon) hazwatch_sensor_info",
                    instant=True,
                    table=True,
                )
            ],
            fieldConfig=field_config(
                "none",
                color={"mode": "thresholds"},
                thresholds=thresholds(*((None if v == 0 else v, c) for v, _, c in STATE_CODES)),
                mappings=value_text(STATE_CODES),
            ),
            transformations=[
                {
                    "id": "convertFieldType",
                    "options": {
                        "fields": {},
                        "conversions": [
                            {"targetField": "lat", "destinationType": "number"},
                            {"targetField": "lon", "destinationType": "number"},
                        ],
                    },
                }
            ],
            options={
                "view": {"id": "coords", "lat": center[0], "lon": center[1], "zoom": zoom, "allLayers": True},
                "controls": {"showZoom": False, "mouseWheelZoom": False, "showAttribution": True},
                "basemap": {"type": "default", "name": "Basemap", "config": {}},
                "layers": [
                    {
                        "type": "markers",
                        "name": "Sensors",
                        "tooltip": True,
                        "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                        "config": {
                            "showLegend": True,
                            "style": {
                                "size": {"fixed": 12},
                                "color": {"field": "Value"},
                                "opacity": 0.9,
                                "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                            },
                        },
                    }
                ],
                "tooltip": {"mode": "details"},
            },
        ),
        stat(
            "Unacknowledged pages",
            (16, 5, 4, 5),
            [target("sum(hazwatch_notifications_unacknowledged)", "pages", instant=True)],
            field_config("none", color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (1, "red"))),
            text_mode="value",
        ),
        stat(
            "Oldest unacknowledged",
            (20, 5, 4, 5),
            [target("max(hazwatch_notification_oldest_unacknowledged_age_seconds)", "age", instant=True)],
            field_config(
                "s", color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (1, "orange"), (600, "red"))
            ),
            text_mode="value",
        ),
    ]


def _pages_and_states() -> list[Panel]:
    """Sensors by state."""
    return [
        bargauge(
            "Sensors by state",
            (16, 10, 8, 7),
            [target("sum by (state) (hazwatch_sensor_state)", "{{state}}", instant=True)],
            {
                "defaults": {"unit": "none", "min": 0, "color": {"mode": "fixed", "fixedColor": "green"}},
                "overrides": colour_overrides(
                    {
                        "normal": "green",
                        "alarm": "red",
                        "fault": "purple",
                        "offline": "#8e8e8e",
                        "out_of_service": "blue",
                    }
                ),
            },
        ),
    ]


def _data_capture() -> list[Panel]:
    """Data capture (24 h)."""
    return [
        bargauge(
            "Data capture (24 h)",
            (16, 17, 8, 5),
            [target("min by (network) (hazwatch_network_data_capture_ratio)", "{{network}}", instant=True)],
            capture_ratio_config(noValue="unknown"),
        ),
    ]


def _service_health() -> list[Panel]:
    """MQTT broker; Readings per second; Sensors offline."""
    return [
        stat(
            "MQTT broker",
            (0, 22, 4, 5),
            [target("min(hazwatch_mqtt_connected)", "broker", instant=True)],
            field_config(
                mappings=value_text([(0, "DISCONNECTED", "red"), (1, "CONNECTED", "green")]),
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "red"), (1, "green")),
            ),
            text_mode="value",
        ),
        stat(
            "Readings per second",
            (4, 22, 5, 5),
            [target("sum(rate(hazwatch_ingest_readings_total[$__rate_interval]))", "readings/s")],
            field_config("cps", decimals=1, color={"mode": "fixed", "fixedColor": "text"}),
            colour_mode="value",
            text_mode="value",
        ),
        stat(
            "Sensors offline",
            (9, 22, 5, 5),
            [target('sum(hazwatch_sensor_state{state="offline"})', "offline", instant=True)],
            field_config("none", color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (1, "orange"))),
            text_mode="value",
        ),
    ]


def _sensor_counts() -> list[Panel]:
    """Sensors in alarm; Quarantined (1 h)."""
    return [
        stat(
            "Sensors in alarm",
            (14, 22, 5, 5),
            [target('sum(hazwatch_sensor_state{state="alarm"})', "alarm", instant=True)],
            field_config("none", color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (1, "red"))),
            text_mode="value",
        ),
        stat(
            "Quarantined (1 h)",
            (19, 22, 5, 5),
            [target("sum(increase(hazwatch_quarantined_messages_total[1h]))", "quarantined", instant=True)],
            field_config(
                "none", decimals=0, color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (1, "orange"))
            ),
            text_mode="value",
        ),
    ]


def wall_overview(center: tuple[float, float], zoom: float) -> dict[str, Any]:
    """The wall: site map by sensor state, incident tier, alarms, unacknowledged pages, data capture."""
    panels = (
        _incidents_and_alarms()
        + _mode()
        + _sensor_map(center, zoom)
        + _pages_and_states()
        + _data_capture()
        + _service_health()
        + _sensor_counts()
    )
    return dashboard(
        "hazwatch-wall",
        "hazwatch · Wall overview",
        panels,
        [],
        time={"from": "now-1h", "to": "now"},
        refresh="10s",
    )
