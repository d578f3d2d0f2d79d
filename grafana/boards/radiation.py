"""The radiation dashboard."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    Panel,
    bargauge,
    dashboard,
    field_config,
    level_lines,
    panel,
    query_variable,
    target,
    thresholds,
    timeseries,
    value_text,
)

STATION = 'kind="gamma_dose_rate", sensor=~"$station"'

BACKGROUND = f"quantile_over_time(0.5, hazwatch_sensor_value{{{STATION}}}[24h])"

STATUS_COLS = {
    "in_container": [(0, "NO", "red"), (1, "YES", "green")],
    **{
        name: [(0, "no", "green"), (1, "YES", "red")]
        for name in ("missing", "outside_geofence", "tamper", "offline", "mains_lost", "low_battery")
    },
}

STATUS_OVERRIDES = [
    {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "mappings", "value": value_text(mapping)},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }
    for name, mapping in STATUS_COLS.items()
]


def _gamma_stations() -> list[Panel]:
    """Gamma dose rate, background and levels; Dose rate / background now."""
    return [
        timeseries(
            "Gamma dose rate, background and levels",
            (0, 0, 16, 10),
            [
                target(f"hazwatch_sensor_value{{{STATION}}}", "{{sensor}}"),
                target(BACKGROUND, "{{sensor}} background (24 h median)"),
                target(
                    f'max by (level) (hazwatch_sensor_level{{{STATION}, level=~"high|high_high"}})', "level {{level}}"
                ),
            ],
            "suffix: nSv/h",
            overrides=[level_lines("level .*"), level_lines(".* background .*")],
        ),
        bargauge(
            "Dose rate / background now",
            (16, 0, 8, 10),
            [target(f"sort_desc(hazwatch_sensor_value{{{STATION}}} / {BACKGROUND})", "{{sensor}}", instant=True)],
            field_config(
                "none",
                decimals=2,
                min=0,
                max=3,
                color={"mode": "thresholds"},
                thresholds=thresholds((None, "green"), (1.5, "orange"), (2, "red")),
            ),
        ),
    ]


def _rain_and_source_baselines() -> list[Panel]:
    """Rain at the weather stations (washout raises gamma); Sealed-source container dose / commissioning baseline."""
    return [
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
    ]


def _source_board() -> list[Panel]:
    """Sealed-source status board; Source monitor battery."""
    return [
        panel(
            "table",
            "Sealed-source status board",
            (0, 16, 16, 9),
            [target("hazwatch_source_status", instant=True, table=True)],
            fieldConfig={"defaults": {"custom": {"align": "center"}}, "overrides": STATUS_OVERRIDES},
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


def radiation() -> dict[str, Any]:
    """Gamma stations against background and levels, rain beside them; sealed-source status board."""
    panels = _gamma_stations() + _rain_and_source_baselines() + _source_board()
    variables = [
        query_variable("station", "Gamma station", 'label_values(hazwatch_sensor_info{kind="gamma_dose_rate"}, sensor)')
    ]
    return dashboard("hazwatch-radiation", "hazwatch · Radiation", panels, variables)
