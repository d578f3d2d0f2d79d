"""The map snapshot of a drill record: the site, its sensors coloured by the worst alarm they raised, and the
threat zones of the release estimate the report judges, drawn as inline SVG in site metres (no tiles, no network).

The layers are taken when the replay ends (``map_layers``: plain data, so the report stays JSON); the drawing
(``map_svg``) colours the sensors from the report's alarms. Positions are metres east and north of the site centre
on the equirectangular projection the assessment uses (``detectors.plume.local_metres``), so zones and sensors
line up exactly as they do on the console's map.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from daemon.assessment.runner import Assessment, AssessmentRunner
from daemon.assessment.summary import REPORT_AFTER_S
from daemon.assessment.threat_zones import as_multipolygon
from detectors.plume import local_metres
from rules.model import PRIORITY_RANK
from rules.site import Site

# The report's colour of each alarm priority (its plot, its table and its map use the same).
PRIORITY_COLOURS = {"low": "#6e7781", "medium": "#9a6700", "high": "#e16f24", "urgent": "#cf222e"}

SIZE = 560  # drawing width and height, px (square: the site's metres are not distorted)
MARGIN = 24
# ALOHA's threat-zone colours (red AEGL-3, orange AEGL-2, yellow AEGL-1), as the console draws them.
ZONE_COLOURS = {"AEGL-3": "#cf222e", "AEGL-2": "#e16f24", "AEGL-1": "#d4a72c"}
LAYER_STYLE = {
    "plant": 'fill="#f6f8fa" stroke="#8c959f" stroke-width="1"',
    "zone": 'fill="none" stroke="#8c959f" stroke-width="0.8" stroke-dasharray="4 3"',
    "residential": 'fill="#ddf4ff" stroke="#54aeff" stroke-width="0.8"',
    "road": 'fill="none" stroke="#afb8c1" stroke-width="2"',
    "river": 'fill="none" stroke="#54aeff" stroke-width="2"',
}
LAYER_STYLE["nursing_home"] = LAYER_STYLE["workplace"] = LAYER_STYLE["residential"]  # populated, like homes


def _metres(site: Site, lat: list[float], lon: list[float]) -> list[list[float]]:
    east, north = local_metres(lat, lon, site.center.lat, site.center.lon)
    return [
        [round(float(e), 1), round(float(n), 1)] for e, n in zip(np.atleast_1d(east), np.atleast_1d(north), strict=True)
    ]


def _rings(shape: BaseGeometry) -> list[list[list[float]]]:
    """Exterior rings of an area (holes are left out: a snapshot shows where the zone reaches)."""
    return [
        [[round(x, 1), round(y, 1)] for x, y in polygon.exterior.coords] for polygon in as_multipolygon(shape).geoms
    ]


def _drawn(history: list[Assessment]) -> Assessment:
    """The assessment the map draws: the one the report judges (10 minutes after the first, as
    ``summary.estimates_of``), or when that one had no zone yet, the next that had, else the last that had."""
    first = history[0].time_s
    judged = next((a for a in history if a.time_s >= first + REPORT_AFTER_S), history[-1])
    zoned = [a for a in history if any(not z.is_empty for z in a.expected.values())]
    if not zoned or judged in zoned:
        return judged
    return next((a for a in zoned if a.time_s >= judged.time_s), zoned[-1])


def map_layers(site: Site, runner: AssessmentRunner | None) -> dict[str, Any]:
    """Site outlines, devices and, per gas the assessment estimated, its threat zones and source estimate."""
    outlines = [
        {
            "layer": f.layer.value,
            "name": f.name,
            "points": _metres(site, [p.lat for p in f.points], [p.lon for p in f.points]),
        }
        for f in site.features
    ]
    outlines += [  # populated places: the receptors the assessment counts people in, drawn by their type
        {
            "layer": r.type.value,
            "name": r.name,
            "points": _metres(site, [p.lat for p in r.polygon], [p.lon for p in r.polygon]),
        }
        for r in site.receptors
    ]
    devices = [
        {
            "id": d.id,
            "name": d.name or d.id,
            "sensors": [s.id for s in d.sensors],
            "at": _metres(site, [d.position.lat], [d.position.lon])[0],
        }
        for d in site.devices
    ]
    threat: list[dict[str, Any]] = []
    for substance, history in sorted((runner.history if runner is not None else {}).items()):
        if not history:
            continue
        judged = _drawn(list(history))
        e = judged.estimate
        zones = [
            {"level": level.name, "certainty": certainty, "rings": _rings(zones[level.name])}
            for level in judged.levels
            for certainty, zones in (("possible", judged.possible), ("expected", judged.expected))
            if not zones[level.name].is_empty
        ]
        source = (
            [round(e.east_m, 1), round(e.north_m, 1)] if math.isfinite(e.east_m) and math.isfinite(e.north_m) else None
        )
        threat.append({"gas": substance, "time": judged.time_s, "zones": zones, "source": source})
    return {"outlines": outlines, "devices": devices, "threat": threat}


def _worst_priority(report: dict[str, Any]) -> dict[str, str]:
    """Per sensor id, the highest priority of the alarms it raised in the drill."""
    worst: dict[str, str] = {}
    for alarm in report.get("alarms", []):
        sensor, priority = alarm.get("sensor"), alarm.get("priority")
        if (
            sensor
            and priority in PRIORITY_RANK
            and PRIORITY_RANK[priority] >= PRIORITY_RANK.get(worst.get(sensor, ""), -1)
        ):
            worst[sensor] = priority
    return worst


def _true_sources(report: dict[str, Any]) -> list[tuple[str, float, float]]:
    out = []
    for event in (report.get("ground_truth") or {}).get("events", []):
        where = event.get("location") or {}
        if "east_m" in where and "north_m" in where:
            out.append((str(event.get("id")), float(where["east_m"]), float(where["north_m"])))
    return out


class _Frame:
    """Site metres to SVG pixels: one scale for both axes, north up."""

    def __init__(self, points: list[list[float]]) -> None:
        xs = [p[0] for p in points] or [0.0]
        ys = [p[1] for p in points] or [0.0]
        self.x0, self.y1 = min(xs), max(ys)
        span = max(max(xs) - self.x0, self.y1 - min(ys), 100.0)
        self.scale = (SIZE - 2 * MARGIN) / span
        self.span = span

    def xy(self, point: list[float] | tuple[float, float]) -> str:
        return f"{MARGIN + (point[0] - self.x0) * self.scale:.1f},{MARGIN + (self.y1 - point[1]) * self.scale:.1f}"

    def path(self, points: list[list[float]], closed: bool) -> str:
        return "M" + " L".join(self.xy(p) for p in points) + (" Z" if closed else "")


def _scale_bar(frame: _Frame) -> str:
    metres = 10 ** math.floor(math.log10(frame.span / 4))
    for step in (5, 2):
        if step * metres <= frame.span / 4:
            metres *= step
            break
    width = metres * frame.scale
    x, y = MARGIN, SIZE - 8
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    return (
        f'<path d="M{x},{y - 4} L{x},{y} L{x + width:.1f},{y} L{x + width:.1f},{y - 4}" stroke="#1f2328" fill="none"/>'
        f'<text x="{x + width + 4:.1f}" y="{y}" font-size="9">{label}</text>'
        f'<text x="{SIZE - MARGIN}" y="{MARGIN - 6}" font-size="11" text-anchor="end">N ↑</text>'
    )


def map_svg(report: dict[str, Any]) -> str:
    """The snapshot as an inline SVG with its legend, or a sentence when the report holds no map."""
    layers = report.get("map")
    if not layers or not layers.get("devices"):
        return "<p>No map: the report holds no site layout.</p>"
    worst = _worst_priority(report)
    truth = _true_sources(report)
    points = [d["at"] for d in layers["devices"]]
    points += [p for o in layers["outlines"] for p in o["points"]]
    points += [p for t in layers["threat"] for z in t["zones"] for ring in z["rings"] for p in ring]
    points += [[e, n] for _, e, n in truth]
    frame = _Frame(points)
    parts = [f'<svg viewBox="0 0 {SIZE} {SIZE}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="drill map">']
    parts.append(f'<rect x="0" y="0" width="{SIZE}" height="{SIZE}" fill="#ffffff" stroke="#bbb"/>')
    for outline in layers["outlines"]:
        layer = outline["layer"]
        if layer in ("school", "hospital"):
            points = outline["points"]
            centre = [sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)]
            parts.append(f'<path d="{frame.path(points, True)}" {LAYER_STYLE["residential"]}/>')
            x, y = (float(v) for v in frame.xy(centre).split(","))
            parts.append(
                f'<rect x="{x - 4}" y="{y - 4}" width="8" height="8" fill="#8250df">'
                f"<title>{html.escape(outline['name'])} ({layer})</title></rect>"
            )
            continue
        closed = layer not in ("road", "river")
        style = LAYER_STYLE.get(layer, LAYER_STYLE["zone"])
        parts.append(f'<path d="{frame.path(outline["points"], closed)}" {style}/>')
    for threat in layers["threat"]:
        # Wider (possible, lower-level) zones first, so the nested expected AEGL-3 zone stays on top.
        for zone in sorted(threat["zones"], key=lambda z: (z["certainty"] == "expected", z["level"])):
            colour = ZONE_COLOURS.get(zone["level"], "#8250df")
            style = (
                f'fill="{colour}" fill-opacity="0.28" stroke="{colour}" stroke-width="1.2"'
                if zone["certainty"] == "expected"
                else f'fill="none" stroke="{colour}" stroke-width="1.2" stroke-dasharray="5 3"'
            )
            for ring in zone["rings"]:
                title = f"{threat['gas']} {zone['level']} ({zone['certainty']})"
                parts.append(f'<path d="{frame.path(ring, True)}" {style}><title>{html.escape(title)}</title></path>')
        if threat["source"] is not None:
            x, y = (float(v) for v in frame.xy(threat["source"]).split(","))
            parts.append(
                f'<path d="M{x - 5},{y - 5} L{x + 5},{y + 5} M{x - 5},{y + 5} L{x + 5},{y - 5}" stroke="#1f2328" '
                f'stroke-width="2"><title>{html.escape(threat["gas"])} source estimate</title></path>'
            )
    for event_id, east, north in truth:
        x, y = (float(v) for v in frame.xy((east, north)).split(","))
        parts.append(
            f'<rect x="{x - 4}" y="{y - 4}" width="8" height="8" fill="none" stroke="#1f2328" stroke-width="1.5" '
            f'transform="rotate(45 {x} {y})"><title>true release {html.escape(event_id)}</title></rect>'
        )
    for device in layers["devices"]:
        priorities = [worst[s] for s in device["sensors"] if s in worst]
        top = max(priorities, key=PRIORITY_RANK.__getitem__) if priorities else None
        colour = PRIORITY_COLOURS[top] if top else "#ffffff"
        x, y = (float(v) for v in frame.xy(device["at"]).split(","))
        radius = 5 if top else 3.5
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="{radius}" fill="{colour}" stroke="#1f2328" stroke-width="1">'
            f"<title>{html.escape(device['name'])}{f' - {top}' if top else ''}</title></circle>"
        )
        if top:
            parts.append(f'<text x="{x + 7}" y="{y + 3}" font-size="9">{html.escape(device["name"])}</text>')
    parts.append(_scale_bar(frame))
    parts.append("</svg>")
    return "".join(parts) + _legend(layers, report)


def _hhmm(at: float, report: dict[str, Any]) -> str:
    start = float((report.get("replay") or {}).get("sim_start") or at)
    return f"T+{(at - start) / 60:.0f} min"


def _legend(layers: dict[str, Any], report: dict[str, Any]) -> str:
    items = [
        f'<span style="color:{PRIORITY_COLOURS[p]}">●</span> sensor with a {p} alarm'
        for p in ("urgent", "high", "medium", "low")
    ]
    items.append("○ sensor without alarm")
    if layers["threat"]:
        items += [
            f'<span style="color:{colour}">■</span> {level} expected (dashed: possible, 95 %)'
            for level, colour in ZONE_COLOURS.items()
        ]
        items.append("&#215; source estimate")
    items.append('<span style="color:#8250df">■</span> school / hospital')
    items.append("◇ true release (scenario)")
    when = ", ".join(f"{t['gas']} as estimated at {_hhmm(t['time'], report)}" for t in layers["threat"])
    zones = f"Threat zones for the next hour ({when})." if when else "No threat zone was estimated in this drill."
    return f'<p class="muted">{" · ".join(items)}<br>{zones}</p>'
