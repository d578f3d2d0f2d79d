"""Writes the Grafana dashboards in grafana/dashboards/ (run: python grafana/build_dashboards.py).

The JSON files are what Grafana loads; this script is their source, so layout rules (24 columns,
no overlap, the wall fitting 1920x1080) and the data-source variable are applied in one place.
A test checks that the committed JSON equals this script's output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "dashboards"
DEMO_SITE = HERE.parent / "daemon" / "sites" / "demo-park.yaml"

DS = {"type": "prometheus", "uid": "${datasource}"}
Panel = dict[str, Any]

# Colours a duty officer reads from five metres: tier colours are the plan's, state colours are ISA-101-like.
TIER_COLOURS = {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"}
PRIORITY_COLOURS = {"urgent": "purple", "high": "red", "medium": "orange", "low": "yellow"}
STATE_CODES = [  # value of the wall's state query -> text, colour
    (0, "NORMAL", "green"),
    (1, "OUT OF SERVICE", "blue"),
    (2, "OFFLINE", "#8e8e8e"),
    (3, "FAULT", "purple"),
    (4, "ALARM", "red"),
]
ACTIVE_STATES = "active_unack|active_acked|latched_unack|latched_acked"

# One state code per sensor: the highest wins (alarm 4 > fault 3 > offline 2 > out of service 1 > normal 0).
STATE_CODE_EXPR = (
    "max by (site, zone, device, sensor, kind) (\n"
    '    hazwatch_sensor_state{state="out_of_service"}\n'
    '  or hazwatch_sensor_state{state="offline"} * 2\n'
    '  or hazwatch_sensor_state{state="fault"} * 3\n'
    '  or hazwatch_sensor_state{state="alarm"} * 4\n'
    ")"
)


def target(
    expr: str, legend: str = "", *, instant: bool = False, table: bool = False, ref: str = "A"
) -> dict[str, Any]:
    """One Prometheus query of a panel."""
    return {
        "datasource": DS,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "instant": instant,
        "range": not instant,
        "format": "table" if table else "time_series",
    }


def panel(kind: str, title: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]], **extra: Any) -> Panel:
    """A panel at (x, y, w, h) on the 24-column grid; ids are assigned when the dashboard is assembled."""
    x, y, w, h = grid
    for index, t in enumerate(targets):
        t["refId"] = chr(ord("A") + index)
    result: Panel = {
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
    }
    result.update(extra)
    return result


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    """Absolute threshold steps, the first from minus infinity."""
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def field_config(unit: str = "short", **defaults: Any) -> dict[str, Any]:
    """Field defaults with a unit; overrides are added by the caller when needed."""
    return {"defaults": {"unit": unit, **defaults}, "overrides": []}


def colour_overrides(colours: dict[str, str]) -> list[dict[str, Any]]:
    """Fixed colour per series name (tier, priority)."""
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for name, colour in colours.items()
    ]


def value_text(mapping: list[tuple[float, str, str]]) -> list[dict[str, Any]]:
    """Value mappings number -> text and colour."""
    return [
        {
            "type": "value",
            "options": {str(int(value)): {"text": text, "color": colour, "index": i}},
        }
        for i, (value, text, colour) in enumerate(mapping)
    ]


def stat(
    title: str,
    grid: tuple[int, int, int, int],
    targets: list[dict[str, Any]],
    config: dict[str, Any],
    *,
    colour_mode: str = "background",
    text_mode: str = "value_and_name",
    orientation: str = "auto",
    description: str | None = None,
) -> Panel:
    """A big number (or word) readable across the room; ``description`` is the panel's (i) tooltip."""
    extra: dict[str, Any] = {} if description is None else {"description": description}
    return panel(
        "stat",
        title,
        grid,
        targets,
        fieldConfig=config,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": colour_mode,
            "graphMode": "none",
            "justifyMode": "center",
            "textMode": text_mode,
            "orientation": orientation,
        },
        **extra,
    )


def timeseries(
    title: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]], unit: str, **extra: Any
) -> Panel:
    """Lines over time with the legend as a table on the right."""
    config = field_config(unit, custom={"lineWidth": 2, "fillOpacity": 0, "spanNulls": True})
    config["overrides"] = extra.pop("overrides", [])
    return panel(
        "timeseries",
        title,
        grid,
        targets,
        fieldConfig=config,
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        **extra,
    )


def level_lines(pattern: str) -> dict[str, Any]:
    """Draw series whose name matches ``pattern`` as dashed threshold lines."""
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.lineWidth", "value": 1},
        ],
    }


def bargauge(
    title: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]], config: dict[str, Any]
) -> Panel:
    """Horizontal bars, one per series, coloured by thresholds."""
    return panel(
        "bargauge",
        title,
        grid,
        targets,
        fieldConfig=config,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "basic",
            "showUnfilled": True,
        },
    )


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    """A template variable filled from ``label_values(...)``; "All" means every value (regex .*)."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "multi": multi,
        "includeAll": multi,
        "allValue": ".*" if multi else None,
        "current": {},
        "sort": 1,
        "hide": 0,
    }


def dashboard(
    uid: str, title: str, panels: list[Panel], variables: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """Assemble a dashboard: data-source variable first, ids in reading order."""
    for number, p in enumerate(sorted(panels, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])), start=1):
        p["id"] = number
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "includeAll": False,
        "multi": False,
    }
    result: dict[str, Any] = {
        "uid": uid,
        "title": title,
        "tags": ["hazwatch"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 38,
        "version": 1,
        "style": "dark",
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "links": [
            {"type": "dashboards", "tags": ["hazwatch"], "asDropdown": True, "title": "hazwatch", "includeVars": False}
        ],
        "templating": {"list": [datasource, *variables]},
        "annotations": {"list": []},
        "panels": sorted(panels, key=lambda p: p["id"]),
    }
    result.update(extra)
    return result


def wall_overview(center: tuple[float, float], zoom: float) -> dict[str, Any]:
    """The wall: site map by sensor state, incident tier, alarms, unacknowledged pages, data capture."""
    tier_mapping = [
        (0, "NO INCIDENT", "green"),
        (1, "BLUE · IV", "blue"),
        (2, "YELLOW · III", "yellow"),
        (3, "ORANGE · II", "orange"),
        (4, "RED · I", "red"),
    ]
    panels = [
        stat(
            "Incident tier",
            (0, 0, 6, 5),
            [target("max(hazwatch_incident_highest_tier)", "tier", instant=True)],
            field_config(
                mappings=value_text(tier_mapping),
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
        bargauge(
            "Data capture (24 h)",
            (16, 17, 8, 5),
            [target("min by (network) (hazwatch_network_data_capture_ratio)", "{{network}}", instant=True)],
            field_config(
                "percentunit",
                min=0,
                max=1,
                decimals=1,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "red"), (0.95, "green")),
                noValue="unknown",
            ),
        ),
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
    return dashboard(
        "hazwatch-wall",
        "hazwatch · Wall overview",
        panels,
        [],
        time={"from": "now-1h", "to": "now"},
        refresh="10s",
    )


def radiation() -> dict[str, Any]:
    """Gamma stations against background and levels, rain beside them; sealed-source status board."""
    station = 'kind="gamma_dose_rate", sensor=~"$station"'
    background = f"quantile_over_time(0.5, hazwatch_sensor_value{{{station}}}[24h])"
    status_cols = {
        "in_container": [(0, "NO", "red"), (1, "YES", "green")],
        **{
            name: [(0, "no", "green"), (1, "YES", "red")]
            for name in ("missing", "outside_geofence", "tamper", "offline", "mains_lost", "low_battery")
        },
    }
    status_overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [
                {"id": "mappings", "value": value_text(mapping)},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            ],
        }
        for name, mapping in status_cols.items()
    ]
    panels = [
        timeseries(
            "Gamma dose rate, background and levels",
            (0, 0, 16, 10),
            [
                target(f"hazwatch_sensor_value{{{station}}}", "{{sensor}}"),
                target(background, "{{sensor}} background (24 h median)"),
                target(
                    f'max by (level) (hazwatch_sensor_level{{{station}, level=~"high|high_high"}})', "level {{level}}"
                ),
            ],
            "suffix: nSv/h",
            overrides=[level_lines("level .*"), level_lines(".* background .*")],
        ),
        bargauge(
            "Dose rate / background now",
            (16, 0, 8, 10),
            [target(f"sort_desc(hazwatch_sensor_value{{{station}}} / {background})", "{{sensor}}", instant=True)],
            field_config(
                "none",
                decimals=2,
                min=0,
                max=3,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "green"), (1.5, "orange"), (2, "red")),
            ),
        ),
        timeseries(
            "Rain at the weather stations (washout raises gamma)",
            (0, 10, 16, 6),
            [target('hazwatch_sensor_value{kind="rain_rate"}', "{{device}}")],
            "suffix: mm/h",
        ),
        bargauge(
            "Sealed-source container dose / commissioning baseline",
            (16, 10, 8, 6),
            [
                target(
                    'hazwatch_sensor_value{kind="source_dose_rate"}'
                    ' / on (sensor) hazwatch_sensor_level{kind="source_dose_rate", level="baseline"}',
                    "{{device}}",
                    instant=True,
                )
            ],
            field_config(
                "percentunit",
                min=0,
                max=1.5,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "red"), (0.2, "orange"), (0.5, "green"), (1.3, "red")),
            ),
        ),
        panel(
            "table",
            "Sealed-source status board",
            (0, 16, 16, 9),
            [target("hazwatch_source_status", instant=True, table=True)],
            fieldConfig={"defaults": {"custom": {"align": "center"}}, "overrides": status_overrides},
            transformations=[
                {
                    "id": "groupingToMatrix",
                    "options": {"columnField": "status", "rowField": "device", "valueField": "Value"},
                },
                {"id": "organize", "options": {"renameByName": {"device\\status": "device"}}},
            ],
            options={"showHeader": True, "cellHeight": "md"},
        ),
        timeseries(
            "Source monitor battery",
            (16, 16, 8, 9),
            [
                target(
                    'hazwatch_sensor_value{kind="battery_voltage"}'
                    ' and on (device) hazwatch_source_status{status="in_container"}',
                    "{{device}}",
                ),
                target(
                    'min(hazwatch_sensor_level{kind="battery_voltage", level="low"}'
                    ' and on (device) hazwatch_source_status{status="in_container"})',
                    "level low",
                ),
            ],
            "volt",
            overrides=[level_lines("level .*")],
        ),
    ]
    variables = [
        query_variable("station", "Gamma station", 'label_values(hazwatch_sensor_info{kind="gamma_dose_rate"}, sensor)')
    ]
    return dashboard("hazwatch-radiation", "hazwatch · Radiation", panels, variables)


def toxic_gas() -> dict[str, Any]:
    """Each gas against its AEGL and detector levels, wind, boundary sensors by zone."""
    gas_of = (
        'on (sensor) group_left (substance) hazwatch_sensor_info{kind="gas", substance=~"$substance", zone=~"$zone"}'
    )
    panels = [
        timeseries(
            "$substance against detector and AEGL levels",
            (0, 0, 12, 9),
            [
                target(f'hazwatch_sensor_value{{kind="gas"}} * {gas_of}', "{{sensor}}"),
                target(
                    'max by (level) (hazwatch_sensor_level{kind="gas", '
                    'level=~"high|high_high|aegl1_60min|aegl2_60min|aegl3_60min"} * '
                    f"{gas_of})",
                    "level {{level}}",
                ),
            ],
            "ppm",
            overrides=[level_lines("level .*")],
            repeat="substance",
            repeatDirection="h",
            maxPerRow=2,
        ),
        bargauge(
            "60-min mean / AEGL-2 (60 min), highest first",
            (12, 0, 12, 9),
            [
                target(
                    'topk(15, avg_over_time(hazwatch_sensor_value{kind="gas", zone=~"$zone"}[60m])'
                    ' / on (sensor) hazwatch_sensor_level{kind="gas", level="aegl2_60min"})',
                    "{{sensor}}",
                    instant=True,
                )
            ],
            field_config(
                "percentunit",
                min=0,
                max=1,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "green"), (0.1, "yellow"), (0.5, "orange"), (1, "red")),
            ),
        ),
        panel(
            "gauge",
            "Wind direction (from)",
            (0, 9, 8, 7),
            [target('hazwatch_sensor_value{kind="wind_direction"}', "{{device}}", instant=True)],
            fieldConfig=field_config("degree", min=0, max=360, color={"mode": "fixed", "fixedColor": "blue"}),
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showThresholdMarkers": False,
            },
        ),
        stat(
            "Wind speed",
            (8, 9, 4, 7),
            [target('hazwatch_sensor_value{kind="wind_speed"}', "{{device}}", instant=True)],
            field_config(
                "velocityms",
                decimals=1,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "orange"), (1.5, "green")),  # plume model unreliable below 1.5 m/s
            ),
            colour_mode="value",
            orientation="horizontal",
        ),
        timeseries(
            "Wind speed and direction",
            (12, 9, 12, 7),
            [
                target('hazwatch_sensor_value{kind="wind_speed"}', "{{device}} speed"),
                target('hazwatch_sensor_value{kind="wind_direction"}', "{{device}} direction"),
            ],
            "velocityms",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": ".* direction"},
                    "properties": [
                        {"id": "unit", "value": "degree"},
                        {"id": "custom.axisPlacement", "value": "right"},
                        {"id": "custom.drawStyle", "value": "points"},
                        {"id": "min", "value": 0},
                        {"id": "max", "value": 360},
                    ],
                }
            ],
        ),
        bargauge(
            "Boundary zones: highest gas reading / its high level",
            (0, 16, 12, 9),
            [
                target(
                    'max by (zone) (hazwatch_sensor_value{kind="gas"}'
                    ' / on (sensor) hazwatch_sensor_level{kind="gas", level="high"}'
                    ' * on (sensor) group_left () hazwatch_sensor_info{zone_type="boundary"})',
                    "{{zone}}",
                    instant=True,
                )
            ],
            field_config(
                "percentunit",
                min=0,
                max=2,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "green"), (0.5, "yellow"), (1, "red")),
            ),
        ),
        panel(
            "state-timeline",
            "Boundary gas sensors by zone",
            (12, 16, 12, 9),
            [
                target(
                    f"{STATE_CODE_EXPR}\n"
                    '* on (sensor) group_left () hazwatch_sensor_info{kind="gas", zone_type="boundary", zone=~"$zone"}',
                    "{{zone}} {{sensor}}",
                )
            ],
            fieldConfig=field_config(
                "none",
                color={"mode": "thresholds"},
                thresholds=thresholds(*((None if v == 0 else v, c) for v, _, c in STATE_CODES)),
                mappings=value_text(STATE_CODES),
            ),
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "legend": {"showLegend": False}},
        ),
    ]
    variables = [
        query_variable("substance", "Gas", 'label_values(hazwatch_sensor_info{kind="gas"}, substance)'),
        query_variable("zone", "Zone", 'label_values(hazwatch_sensor_info{kind="gas"}, zone)'),
    ]
    return dashboard("hazwatch-toxic-gas", "hazwatch · Toxic gas", panels, variables)


def data_quality() -> dict[str, Any]:
    """Capture and valid ratios, quarantine, ingest, latency, broker, notification delivery."""
    ratio_config = field_config(
        "percentunit",
        min=0,
        max=1,
        decimals=1,
        color={"mode": "thresholds"},
        thresholds=thresholds((None, "red"), (0.95, "green")),
        custom={"cellOptions": {"type": "color-background"}},
    )
    panels = [
        panel(
            "table",
            "Capture and valid ratio per sensor, 24 h (worst first)",
            (0, 0, 12, 12),
            [
                target('sort(hazwatch_sensor_data_capture_ratio{zone=~"$zone"})', instant=True, table=True),
                target('sort(hazwatch_sensor_valid_data_ratio{zone=~"$zone"})', instant=True, table=True),
            ],
            fieldConfig=ratio_config,
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
            field_config(
                "percentunit",
                min=0,
                max=1,
                decimals=1,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "red"), (0.95, "green")),
                noValue="unknown",
            ),
        ),
        timeseries(
            "Quarantined input by reason",
            (12, 6, 12, 6),
            [target("sum by (reason) (rate(hazwatch_quarantined_messages_total[$__rate_interval]))", "{{reason}}")],
            "cps",
        ),
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
        stat(
            "Outbox pending",
            (20, 19, 4, 4),
            [target("sum(hazwatch_notifications_pending)", "pending", instant=True)],
            field_config("none", color={"mode": "thresholds"}, thresholds=thresholds((None, "green"), (10, "orange"))),
            text_mode="value",
        ),
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
    variables = [query_variable("zone", "Zone", "label_values(hazwatch_sensor_info, zone)")]
    return dashboard("hazwatch-data-quality", "hazwatch · Data quality", panels, variables)


def build(site_file: Path = DEMO_SITE) -> dict[str, dict[str, Any]]:
    """Every dashboard by file name; the wall map takes its centre and zoom from the site file."""
    site = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    center = (float(site["center"]["lat"]), float(site["center"]["lon"]))
    zoom = float(site.get("zoom", 14))  # rules/site.py's default
    return {
        "wall-overview.json": wall_overview(center, zoom),
        "radiation.json": radiation(),
        "toxic-gas.json": toxic_gas(),
        "data-quality.json": data_quality(),
    }


def render(board: dict[str, Any]) -> str:
    """The exact text written to disk."""
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the dashboards (``--site FILE``: centre the wall map on another site; default the demo park)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", type=Path, default=DEMO_SITE, help="site file whose centre and zoom the map uses")
    args = parser.parse_args()
    DASHBOARDS.mkdir(exist_ok=True)
    for name, board in build(args.site).items():
        (DASHBOARDS / name).write_text(render(board), encoding="utf-8")


if __name__ == "__main__":
    main()
