"""The toxic gas dashboard."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    STATE_CODE_EXPR,
    STATE_CODES,
    Panel,
    bargauge,
    dashboard,
    field_config,
    level_lines,
    panel,
    query_variable,
    stat,
    target,
    thresholds,
    timeseries,
    value_text,
)

GAS_OF = 'on (sensor) group_left (substance) hazwatch_sensor_info{kind="gas", substance=~"$substance", zone=~"$zone"}'


def _gas_levels() -> list[Panel]:
    """$substance against detector and AEGL levels; 60-min mean / AEGL-2 (60 min), highest first."""
    return [
        timeseries(
            "$substance against detector and AEGL levels",
            (0, 0, 12, 9),
            [
                target(f'hazwatch_sensor_value{{kind="gas"}} * {GAS_OF}', "{{sensor}}"),
                target(
                    'max by (level) (hazwatch_sensor_level{kind="gas", '
                    'level=~"high|high_high|aegl1_60min|aegl2_60min|aegl3_60min"} * '
                    f"{GAS_OF})",
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
    ]


def _wind() -> list[Panel]:
    """Wind direction (from); Wind speed; Wind speed and direction."""
    return [
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
    ]


def _boundary_zones() -> list[Panel]:
    """Boundary zones: highest gas reading / its high level; Boundary gas sensors by zone."""
    return [
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


def toxic_gas() -> dict[str, Any]:
    """Each gas against its AEGL and detector levels, wind, boundary sensors by zone."""
    panels = _gas_levels() + _wind() + _boundary_zones()
    variables = [
        query_variable("substance", "Gas", 'label_values(hazwatch_sensor_info{kind="gas"}, substance)'),
        query_variable("zone", "Zone", 'label_values(hazwatch_sensor_info{kind="gas"}, zone)'),
    ]
    return dashboard("hazwatch-toxic-gas", "hazwatch · Toxic gas", panels, variables)
