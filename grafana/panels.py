"""The panel vocabulary every dashboard is written in: queries, panels, thresholds, mappings, variables.

Layout rules (24 columns, ids in reading order) and the data-source variable are applied here, in one place; the
dashboards in ``grafana/boards/`` are short functions over this vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


# City monitoring target for automatic stations: data acquisition and valid-data rate >= 95 %.
CAPTURE_TARGET = 0.95


def capture_ratio_config(**extra: Any) -> dict[str, Any]:
    """A 0-1 capture or valid ratio, red below the 95 % target; ``extra`` adds field defaults after it."""
    return field_config(
        "percentunit",
        min=0,
        max=1,
        decimals=1,
        color={"mode": "thresholds"},
        thresholds=thresholds((None, "red"), (CAPTURE_TARGET, "green")),
        **extra,
    )


def colour_overrides(colours: dict[str, str]) -> list[dict[str, Any]]:
    """Fixed colour per series name (tier, priority)."""
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for name, colour in colours.items()
    ]


def value_text(mapping: Sequence[tuple[float, str, str]]) -> list[dict[str, Any]]:
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
