"""The drill report as one self-contained HTML page: tables and an inline SVG timeline (no scripts, no network)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

WIDTH, PANEL_HEIGHT, MARGIN = 960, 90, 70
TIER_COLOURS = {"blue": "#1f6feb", "yellow": "#d4a72c", "orange": "#e16f24", "red": "#cf222e"}
PRIORITY_COLOURS = {"low": "#6e7781", "medium": "#d4a72c", "high": "#e16f24", "urgent": "#cf222e"}


def _time(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def timeline_svg(report: dict[str, Any]) -> str:
    """Key sensor signals, alarm raises/clears and tier changes on one time axis."""
    start, end = report["replay"]["sim_start"], report["replay"]["sim_end"]
    span = max(end - start, 1.0)
    signals: dict[str, list[list[float]]] = report.get("signals", {})
    panels = list(signals.items())
    height = 40 + PANEL_HEIGHT * max(len(panels), 1) + 30
    plot_w = WIDTH - MARGIN - 20

    def x(t: float) -> float:
        return float(MARGIN + (t - start) / span * plot_w)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-size="11">']
    for incident in report.get("incidents", []):
        history = incident["tier_history"]
        for i, step in enumerate(history):
            until = history[i + 1]["time"] if i + 1 < len(history) else (incident["closed_at"] or end)
            colour = TIER_COLOURS.get(step["tier"], "#999")
            parts.append(
                f'<rect x="{x(step["time"]):.1f}" y="8" width="{max(x(until) - x(step["time"]), 1):.1f}" height="14" '
                f'fill="{colour}"><title>{_esc(step["tier"])} from {_time(step["time"])}</title></rect>'
            )
    parts.append('<text x="4" y="19">tier</text>')
    for index, (sensor, points) in enumerate(panels):
        top = 40 + index * PANEL_HEIGHT
        bottom = top + PANEL_HEIGHT - 15
        values = [p[1] for p in points] or [0.0]
        low, high = min(values), max(values)
        if high <= low:
            high = low + 1.0

        def y(v: float, top: float = top, bottom: float = bottom, low: float = low, high: float = high) -> float:
            return bottom - (v - low) / (high - low) * (bottom - top)

        parts.append(
            f'<rect x="{MARGIN}" y="{top}" width="{plot_w}" height="{bottom - top}" fill="none" stroke="#ddd"/>'
        )
        parts.append(f'<text x="4" y="{top + 12}">{_esc(sensor)}</text>')
        parts.append(f'<text x="4" y="{bottom}">{low:.3g}..{high:.3g}</text>')
        if points:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="1" points="{path}"/>')
        for alarm in report.get("alarms", []):
            if alarm["sensor"] != sensor:
                continue
            colour = PRIORITY_COLOURS.get(alarm["priority"], "#000")
            parts.append(
                f'<line x1="{x(alarm["raised_at"]):.1f}" x2="{x(alarm["raised_at"]):.1f}" y1="{top}" y2="{bottom}" '
                f'stroke="{colour}" stroke-width="2"><title>{_esc(alarm["rule"])} raised {_time(alarm["raised_at"])}'
                "</title></line>"
            )
            if alarm["cleared_at"] is not None:
                parts.append(
                    f'<line x1="{x(alarm["cleared_at"]):.1f}" x2="{x(alarm["cleared_at"]):.1f}" y1="{top}" '
                    f'y2="{bottom}" stroke="#1a7f37" stroke-dasharray="3,2"><title>cleared {_time(alarm["cleared_at"])}'
                    "</title></line>"
                )
    parts.append(f'<text x="{MARGIN}" y="{height - 8}">{_time(start)} UTC</text>')
    parts.append(f'<text x="{WIDTH - 20}" y="{height - 8}" text-anchor="end">{_time(end)} UTC</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    """The whole report page."""
    truth = report.get("ground_truth") or {}
    score = report.get("score") or {}
    kpis = report["kpis"]
    title = f"DRILL 演练 - {truth.get('scenario') or report['recording'].get('source', 'recording')}"
    sections = [
        f"<h1>{_esc(title)}</h1>",
        '<p class="drill">DRILL / 演练 - not a real event. Drill run '
        f"{report['drill_run']}, simulated time {_time(report['replay']['sim_start'])} to "
        f"{_time(report['replay']['sim_end'])} UTC; highest tier: {_esc(report.get('highest_tier') or 'none')}.</p>",
        "<h2>Timeline</h2>",
        timeline_svg(report),
    ]
    if score:
        sections += [
            "<h2>Events (ground truth)</h2>",
            _table(
                ["event", "type", "real", "start", "detected", "delay s", "detected by", "missed", "tier"],
                [
                    [
                        e["id"],
                        e["type"],
                        e["real"],
                        _time(e["start"]),
                        e["detected"],
                        e["detection_delay_s"],
                        ", ".join(e["detected_sensors"]),
                        ", ".join(e["missed_sensors"]),
                        e["tier_reached"],
                    ]
                    for e in score["events"]
                ],
            ),
            f"<p>False alarms outside any real event: {len(score['false_alarms'])}</p>",
        ]
    sections += [
        "<h2>Alarm-management KPIs</h2>",
        _table(
            ["alarms", "per 10 min", "peak per 10 min", "% periods in flood", "chattering", "stale", "priority %"],
            [
                [
                    kpis["alarms"],
                    kpis["alarms_per_10min"],
                    kpis["peak_alarms_per_10min"],
                    kpis["periods_in_flood_pct"],
                    len(kpis["chattering_alarms"]),
                    len(kpis["stale_alarms"]),
                    kpis["priority_share_pct"],
                ]
            ],
        ),
        "<h2>Alarms</h2>",
        _table(
            ["id", "sensor", "rule", "kind", "priority", "class", "raised", "acknowledged", "cleared"],
            [
                [
                    a["id"],
                    a["sensor"],
                    a["rule"],
                    a["kind"],
                    a["priority"],
                    a["classification"],
                    _time(a["raised_at"]),
                    _time(a["acknowledged_at"]),
                    _time(a["cleared_at"]),
                ]
                for a in report["alarms"]
            ],
        ),
        "<h2>Incidents</h2>",
        _table(
            ["id", "title", "tiers", "confirmed", "opened", "closed", "notifications"],
            [
                [
                    i["id"],
                    i["title"],
                    " > ".join(h["tier"] for h in i["tier_history"]),
                    i["confirmed_level"],
                    _time(i["opened_at"]),
                    _time(i["closed_at"]),
                    len(i["notifications"]),
                ]
                for i in report["incidents"]
            ],
        )
        if report["incidents"]
        else "<p>No incident was opened.</p>",
        "<h2>Notifications</h2>",
        f"<p>{_esc((report.get('delivery') or {}).get('note', ''))}</p>",
        _table(
            ["id", "incident", "alarm", "event", "channel", "recipient", "state", "created", "delivered", "error"],
            [
                [
                    n["id"],
                    n["incident_id"],
                    n["alarm_id"],
                    n["event"],
                    n["channel"],
                    n["recipient"],
                    n["state"],
                    _time(n["created_at"]),
                    _time(n["delivered_at"]),
                    n.get("last_error"),
                ]
                for n in report["notifications"]
            ],
        )
        if report["notifications"]
        else "<p>Nobody was paged.</p>",
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}"
        ".drill{background:#fff8c5;border:2px dashed #d4a72c;padding:.5em;font-weight:bold}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )
