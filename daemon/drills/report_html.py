"""The drill report as the exercise record: one self-contained HTML page that prints on A4 (no scripts, no network).

Order follows what a centre files: title block, verdict, who did what and when, plots, the events, KPIs, alarms,
incidents, sign-off lines. Times are in the site's local time zone with the date. Headings are bilingual.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from daemon.drills.report_fonts import font_faces
from daemon.drills.report_map import PRIORITY_COLOURS, map_svg

WIDTH, PANEL_HEIGHT, LEFT, RIGHT = 720, 150, 64, 12
TIER_COLOURS = {"blue": "#1f6feb", "yellow": "#d4a72c", "orange": "#e16f24", "red": "#cf222e"}
LEVEL_COLOURS = ("#9a6700", "#cf222e", "#8250df", "#bc4c00")
PLACEHOLDER = re.compile(r"\$\{[A-Z0-9_]+\}")
STYLE = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
body { font-family: "Noto Sans", "Noto Sans SC", "Noto Sans CJK SC", "DejaVu Sans", sans-serif; font-size: 10pt;
       margin: 0 auto; max-width: 186mm; color: #1f2328; }
h1 { font-size: 16pt; margin: 0 0 4pt; }
h2 { font-size: 12pt; margin: 14pt 0 4pt; border-bottom: 1px solid #888; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 8pt 0 2pt; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
thead { display: table-header-group; }
tr, .panel, .signoff, .titleblock, .verdict { break-inside: avoid; }
td, th { border: 1px solid #bbb; padding: 1.5pt 4pt; font-size: 8.5pt; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f0f0f0; }
td.num { text-align: right; white-space: nowrap; }
.drill { background: #fff8c5; border: 2px dashed #d4a72c; padding: 3pt 6pt; font-weight: bold; }
.titleblock td { font-size: 9.5pt; }
.verdict { font-size: 14pt; font-weight: bold; padding: 4pt 8pt; margin: 4pt 0; border: 2px solid; }
.PASS { color: #1a7f37; border-color: #1a7f37; } .FAIL { color: #cf222e; border-color: #cf222e; }
.NONE { color: #57606a; border-color: #57606a; }
td.PASS, td.FAIL { font-weight: bold; white-space: nowrap; overflow-wrap: normal; }
svg { width: 100%; height: auto; display: block; }
.signoff td { height: 22pt; }
.muted { color: #57606a; }
@media print { a { color: inherit; text-decoration: none; } }
"""


@dataclass(frozen=True)
class ReportMeta:
    """The title block and the time zone of the record (all optional: the report fills what it knows)."""

    exercise: str | None = None
    organiser: str | None = None
    participants: list[str] = field(default_factory=list)
    timezone: str | None = None  # IANA name (Asia/Shanghai); default: the roster's UTC offset


def _zone(report: dict[str, Any], meta: ReportMeta) -> tzinfo:
    if meta.timezone:
        return ZoneInfo(meta.timezone)
    offset = float(report.get("utc_offset_h", 0.0))
    return timezone(timedelta(hours=offset))


def _zone_label(zone: tzinfo, at: float) -> str:
    moment = datetime.fromtimestamp(at, zone)
    offset = moment.utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    label = f"UTC{hours:+03d}:{abs(rest) // 60:02d}"
    return f"{zone.key} ({label})" if isinstance(zone, ZoneInfo) else label


class _Clock:
    """Formats times in the record's zone."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def full(self, value: float | None) -> str:
        if value is None:
            return ""
        return datetime.fromtimestamp(value, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def short(self, value: float | None) -> str:
        if value is None:
            return ""
        return datetime.fromtimestamp(value, self.zone).strftime("%H:%M:%S")

    def date(self, value: float) -> str:
        return datetime.fromtimestamp(value, self.zone).strftime("%Y-%m-%d")


def _esc(value: object) -> str:
    text = "" if value is None else str(value)
    return html.escape(PLACEHOLDER.sub("(address from the environment)", text))


def _num(value: object, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = float(seconds)
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _table(headers: list[str], rows: list[list[object]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_esc(c)}</td>' if i in numeric else f"<td>{_esc(c)}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    span = high - low
    if span <= 0 or not math.isfinite(span):
        return [low]
    raw = span / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _time_ticks(start: float, end: float, zone: tzinfo) -> list[float]:
    span = max(end - start, 1.0)
    step = next(s for s in (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400) if span / s <= 8)
    offset = (datetime.fromtimestamp(start, zone).utcoffset() or timedelta(0)).total_seconds()
    first = math.ceil((start + offset) / step) * step - offset
    return [first + i * step for i in range(int((end - first) / step) + 1)]


def sensor_panel(report: dict[str, Any], sensor: str, points: list[list[float]], clock: _Clock) -> str:
    """One sensor's value with its unit, alarm levels as lines, alarm periods shaded, the incident tier band, a
    legend and a local-time axis with the date."""
    start, end = float(report["replay"]["sim_start"]), float(report["replay"]["sim_end"])
    span = max(end - start, 1.0)
    meta = (report.get("signal_meta") or {}).get(sensor, {})
    unit = meta.get("unit", "")
    levels: list[dict[str, Any]] = meta.get("levels", [])
    plot_w = WIDTH - LEFT - RIGHT
    band_top, top, bottom = 18, 34, PANEL_HEIGHT - 34
    values = [p[1] for p in points]
    shown_levels = [lv["value"] for lv in levels]
    low = float(min([*values, *shown_levels], default=0.0))
    high = float(max([*values, *shown_levels], default=1.0))
    if 0.0 < low < 0.3 * high:
        low = 0.0  # a dose rate or concentration reads best from zero
    if high <= low:
        high = low + 1.0
    high += (high - low) * 0.05

    def x(t: float) -> float:
        return LEFT + min(max((t - start) / span, 0.0), 1.0) * plot_w

    def y(v: float) -> float:
        return bottom - (v - low) / (high - low) * (bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {PANEL_HEIGHT}" font-size="10" '
        f'role="img" aria-label="{_esc(sensor)}">',
        f'<text x="{LEFT}" y="11" font-weight="bold">{_esc(sensor)} '
        f"({_esc(meta.get('kind', ''))}, {_esc(unit)})</text>",
    ]
    # incident tier band
    parts.append(f'<text x="{LEFT - 4}" y="{band_top + 9}" text-anchor="end">tier</text>')
    for incident in report.get("incidents", []):
        history = incident["tier_history"]
        for i, step in enumerate(history):
            until = history[i + 1]["time"] if i + 1 < len(history) else (incident["closed_at"] or end)
            colour = TIER_COLOURS.get(step["tier"], "#999")
            parts.append(
                f'<rect x="{x(step["time"]):.1f}" y="{band_top}" width="{max(x(until) - x(step["time"]), 1):.1f}" '
                f'height="10" fill="{colour}"><title>{_esc(step["tier"])} from {clock.full(step["time"])}'
                "</title></rect>"
            )
    # alarm periods shaded
    for alarm in report.get("alarms", []):
        if alarm["sensor"] != sensor:
            continue
        until = alarm["cleared_at"] if alarm["cleared_at"] is not None else end
        colour = PRIORITY_COLOURS.get(alarm["priority"], "#888")
        parts.append(
            f'<rect x="{x(alarm["raised_at"]):.1f}" y="{top}" width="{max(x(until) - x(alarm["raised_at"]), 1.5):.1f}" '
            f'height="{bottom - top}" fill="{colour}" fill-opacity="0.15"><title>{_esc(alarm["rule"])} '
            f"{clock.full(alarm['raised_at'])} - {clock.full(alarm['cleared_at'])}</title></rect>"
        )
    parts.append(f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{bottom - top}" fill="none" stroke="#999"/>')
    for tick in _nice_ticks(low, high):
        parts.append(
            f'<line x1="{LEFT - 3}" x2="{LEFT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#555"/>'
            f'<text x="{LEFT - 5}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text x="12" y="{(top + bottom) / 2:.0f}" transform="rotate(-90 12 {(top + bottom) / 2:.0f})" '
        f'text-anchor="middle">{_esc(unit)}</text>'
    )
    for i, level in enumerate(levels):
        colour = LEVEL_COLOURS[i % len(LEVEL_COLOURS)]
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(level["value"]):.1f}" y2="{y(level["value"]):.1f}" '
            f'stroke="{colour}" stroke-dasharray="5,3"><title>{_esc(level["name"])} {level["value"]:g} {_esc(unit)}'
            "</title></line>"
        )
    if points:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="1.2" points="{path}"/>')
    for tick in _time_ticks(start, end, clock.zone):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{bottom}" y2="{bottom + 3}" stroke="#555"/>'
            f'<text x="{x(tick):.1f}" y="{bottom + 13}" text-anchor="middle">'
            f"{datetime.fromtimestamp(tick, clock.zone).strftime('%H:%M')}</text>"
        )
    legend_y = PANEL_HEIGHT - 6
    legend = [
        f'<line x1="{LEFT}" x2="{LEFT + 18}" y1="{legend_y - 3}" y2="{legend_y - 3}" stroke="#0969da" '
        'stroke-width="1.5"/>'
        f'<text x="{LEFT + 22}" y="{legend_y}">value ({_esc(unit)})</text>'
    ]
    lx = LEFT + 110.0
    for i, level in enumerate(levels[:3]):
        colour = LEVEL_COLOURS[i % len(LEVEL_COLOURS)]
        label = f"{level['name']} {level['value']:g}"
        legend.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{legend_y - 3}" y2="{legend_y - 3}" stroke="{colour}" '
            f'stroke-dasharray="5,3"/><text x="{lx + 22}" y="{legend_y}">{_esc(label)}</text>'
        )
        lx += 30 + 5.5 * len(label)
    legend.append(
        f'<rect x="{lx}" y="{legend_y - 8}" width="14" height="8" fill="#e16f24" fill-opacity="0.15" stroke="#bbb"/>'
        f'<text x="{lx + 18}" y="{legend_y}">alarm active</text>'
    )
    parts.append("".join(legend))
    parts.append(
        # On the title line: on the axis line it ran into the last time tick's label.
        f'<text x="{WIDTH - RIGHT}" y="11" text-anchor="end" class="muted">'
        f"{clock.date(start)} {_esc(_zone_label(clock.zone, start))}</text>"
    )
    parts.append("</svg>")
    return f'<div class="panel">{"".join(parts)}</div>'


def _tier_legend() -> str:
    cells = "".join(
        f'<span style="display:inline-block;width:10pt;height:8pt;background:{c};margin:0 2pt 0 8pt"></span>{t}'
        for t, c in TIER_COLOURS.items()
    )
    return f'<p class="muted">Tier band 预警级别: {cells}</p>'


def _title_block(report: dict[str, Any], meta: ReportMeta, clock: _Clock, name: str) -> str:
    truth = report.get("ground_truth") or {}
    team = report.get("duty_team") or []
    participants = meta.participants or sorted({f"{p['name']} ({p['role_name']})" for p in team})
    start, end = report["replay"]["sim_start"], report["replay"]["sim_end"]
    rows = [
        ["演练名称 / Exercise", name],
        ["说明 / Description", truth.get("description") or ""],
        ["日期 / Date", f"{clock.full(start)} - {clock.short(end)} {_zone_label(clock.zone, start)} (exercise clock)"],
        ["组织单位 / Organiser", meta.organiser or ""],
        ["参演人员 / Participants", "; ".join(participants)],
        ["演练编号 / Drill run", f"{report['drill_run']} - recording {report['recording'].get('source', '')}"],
    ]
    body = "".join(f"<tr><th>{k}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="titleblock">{body}</table>'


def _verdict(report: dict[str, Any]) -> str:
    verdict = report.get("verdict") or {"overall": "NONE", "points": []}
    overall = verdict["overall"]
    words = {"PASS": "通过 PASS", "FAIL": "未通过 FAIL", "NONE": "无预期 - no expectation stated"}
    rows = [
        [p["expectation"], _plain(p["expected"]), _plain(p["actual"]), p["result"], p.get("note", "")]
        for p in verdict["points"]
    ]
    table = _table(["要求 / Expectation", "expected", "actual", "result", "note"], rows)
    table = table.replace("<td>PASS</td>", '<td class="PASS">PASS</td>').replace(
        "<td>FAIL</td>", '<td class="FAIL">FAIL</td>'
    )
    return f'<div class="verdict {overall}">演练结论 Verdict: {words[overall]}</div>{table if rows else ""}'


def _plain(value: object) -> str:
    """A value as text for a table cell: mappings as ``key: value`` pairs, lists joined, never Python reprs."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _people(report: dict[str, Any], clock: _Clock) -> str:
    team = report.get("duty_team") or []
    out = ["<h3>值班人员 / On duty</h3>"]
    out.append(
        _table(["name 姓名", "role 职责"], [[p["name"], p["role_name"]] for p in team])
        if team
        else '<p class="muted">No roster given.</p>'
    )
    pages = report.get("notifications", [])
    out.append("<h3>通知 / Pages</h3>")
    out.append(
        _table(
            ["time", "event", "recipient 接收人", "role", "channel", "state", "acknowledged"],
            [
                [
                    clock.short(n["created_at"]),
                    n["event"],
                    n.get("recipient_name") or n["recipient"],
                    n.get("role_name") or n.get("role") or "",
                    n["channel"],
                    n["state"],
                    f"{clock.short(n['acknowledged_at'])} ({_duration(n['acknowledged_at'] - n['created_at'])})"
                    if n.get("acknowledged_at") is not None
                    else "not acknowledged",
                ]
                for n in pages
            ],
        )
        if pages
        else "<p>Nobody was paged.</p>"
    )
    actions = report.get("human_actions")
    out.append("<h3>人员操作 / Human actions</h3>")
    if actions:
        out.append(
            _table(
                ["time", "who 操作人", "what", "delay", "since"],
                [
                    [clock.short(a["time"]), a["actor_name"], a["what"], _duration(a["delay_s"]), a["since"]]
                    for a in actions
                ],
            )
        )
    else:
        out.append('<p class="muted">No human action was recorded in this run (nobody was in the loop).</p>')
    escalations = [(i, e) for i in report.get("incidents", []) for e in i.get("escalations", [])]
    out.append("<h3>升级 / Escalations</h3>")
    out.append(
        _table(
            ["time", "incident", "to role", "why"],
            [
                [clock.short(e["time"]), i["id"], e.get("role") or "(chain ended)", e.get("why") or ""]
                for i, e in escalations
            ],
        )
        if escalations
        else "<p>No escalation fired.</p>"
    )
    return "".join(out)


def _kpis(report: dict[str, Any]) -> str:
    kpis = report["kpis"]
    rows: list[list[object]] = [
        ["alarms 报警数", kpis["alarms"]],
        ["alarms per 10 min (mean)", kpis["alarms_per_10min"]],
        ["alarms per 10 min (peak)", kpis["peak_alarms_per_10min"]],
        ["10-min periods in flood (%)", kpis["periods_in_flood_pct"]],
        ["chattering alarms", len(kpis["chattering_alarms"])],
        ["stale alarms (> 24 h)", len(kpis["stale_alarms"])],
    ]
    rows += [[f"priority share: {k} (%)", v] for k, v in kpis["priority_share_pct"].items()]
    return _table(["KPI (ISA-18.2 / EEMUA 191)", "value"], rows, numeric=frozenset({1}))


def _events(report: dict[str, Any], clock: _Clock) -> str:
    score = report.get("score")
    if not score:
        return '<p class="muted">The recording has no ground truth.</p>'
    return (
        _table(
            ["event", "type", "real", "start", "detected", "delay", "detected by", "missed", "tier"],
            [
                [
                    e["id"],
                    e["type"],
                    "yes" if e["real"] else "no",
                    clock.short(e["start"]),
                    "yes" if e["detected"] else "no",
                    _duration(e["detection_delay_s"]),
                    ", ".join(e["detected_sensors"]),
                    ", ".join(e["missed_sensors"]),
                    e["tier_reached"] or "",
                ]
                for e in score["events"]
            ],
        )
        + f"<p>False alarms outside any real event 误报: {len(score['false_alarms'])}</p>"
    )


def _incidents(report: dict[str, Any], clock: _Clock) -> str:
    if not report["incidents"]:
        return "<p>No incident was opened.</p>"
    out = []
    for incident in report["incidents"]:
        out.append(f"<h3>{_esc(incident['title'])} (#{incident['id']})</h3>")
        out.append(
            _table(
                ["time", "tier", "from", "kind", "by", "why"],
                [
                    [clock.short(h["time"]), h["to"], h["from"] or "-", h["kind"], h["by"], h["why"]]
                    for h in incident["tier_history"]
                ],
            )
        )
        reports = incident.get("reports") or []
        if reports:
            out.append(
                _table(
                    ["report 报告", "to", "due", "sent"],
                    [
                        [r["name"], r["to"], clock.short(r["due_at"]), clock.short(r.get("sent_at")) or "not sent"]
                        for r in reports
                    ],
                )
            )
    return "".join(out)


def _alarms(report: dict[str, Any], clock: _Clock) -> str:
    return _table(
        ["sensor", "rule", "priority", "class", "value", "raised", "acknowledged", "cleared"],
        [
            [
                a["sensor"],
                a["rule"],
                a["priority"],
                a["classification"],
                _num(a["value"]),
                clock.short(a["raised_at"]),
                clock.short(a["acknowledged_at"]) or "-",
                clock.short(a["cleared_at"]) or "active",
            ]
            for a in report["alarms"]
        ],
    )


def _signoff() -> str:
    rows = "".join(
        f"<tr><th>{role}</th><td></td><td></td><td></td></tr>"
        for role in ("编制 / Prepared by", "审核 / Reviewed by", "批准 (中心主任) / Approved (centre director)")
    )
    return (
        '<table class="signoff"><thead><tr><th></th><th>name 姓名</th><th>signature 签字</th><th>date 日期</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def render_html(report: dict[str, Any], meta: ReportMeta | None = None) -> str:
    """The whole record as one page."""
    meta = meta or ReportMeta()
    clock = _Clock(_zone(report, meta))
    truth = report.get("ground_truth") or {}
    name = meta.exercise or truth.get("scenario") or report["recording"].get("source", "recording")
    title = f"演练记录 Drill record - {name}"
    panels = [sensor_panel(report, sensor, points, clock) for sensor, points in (report.get("signals") or {}).items()]
    sections = [
        f"<h1>{_esc(title)}</h1>",
        '<p class="drill">演练 DRILL - not a real event. Every alarm, incident and page below belongs to drill run '
        f"{report['drill_run']}.</p>",
        _title_block(report, meta, clock, str(name)),
        "<h2>演练结论 / Verdict</h2>",
        _verdict(report),
        "<h2>人员与响应 / Who did what, when</h2>",
        _people(report, clock),
        "<h2>监测曲线 / Measurements</h2>",
        _tier_legend(),
        "".join(panels) or "<p>No sensor raised an alarm: nothing to plot.</p>",
        "<h2>态势图 / Map snapshot</h2>",
        map_svg(report),
        "<h2>事件与检出 / Events and detection</h2>",
        _events(report, clock),
        "<h2>事件响应 / Incidents and tiers</h2>",
        _incidents(report, clock),
        "<h2>报警管理指标 / Alarm-management KPIs</h2>",
        _kpis(report),
        "<h2>报警清单 / Alarms</h2>",
        _alarms(report, clock) if report["alarms"] else "<p>No alarm.</p>",
        "<h2>签字 / Sign-off</h2>",
        _signoff(),
        '<p class="muted">Generated by hazwatch from the drill database; times are on the exercise clock.</p>',
    ]
    body = "".join(sections)
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{font_faces(title + body)}\n{STYLE}</style></head><body>{body}</body></html>\n"
    )
