"""Message text per language: plain text, markdown (robots) and HTML (e-mail). Pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

from daemon.notify.model import TIER_COLOUR, AlertFacts

DRILL_LINE = "DRILL / 演练"
TIER_NAME = {
    "zh": {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
    "en": {"blue": "BLUE", "yellow": "YELLOW", "orange": "ORANGE", "red": "RED"},
}
LABELS = {
    "zh": {
        "firing": "报警",
        "resolved": "已恢复",
        "where": "地点",
        "zone": "区域",
        "sensor": "传感器",
        "position": "位置",
        "value": "测量值",
        "level": "报警值",
        "since": "开始时间",
        "ended": "恢复时间",
        "todo": "处置要点",
        "console": "值班台",
        "tier": "预警",
        "assessment": "研判(建议, 非指令)",
    },
    "en": {
        "firing": "ALARM",
        "resolved": "RESOLVED",
        "where": "Site",
        "zone": "Zone",
        "sensor": "Sensor",
        "position": "Position",
        "value": "Measured",
        "level": "level",
        "since": "Since",
        "ended": "Ended",
        "todo": "What to do",
        "console": "Console",
        "tier": "warning",
        "assessment": "Assessment (advice, not an order)",
    },
}
# WeCom markdown knows three font colours; map tiers onto the closest.
WECOM_COLOUR = {"blue": "info", "yellow": "warning", "orange": "warning", "red": "warning"}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One message in one language, in each form a channel may need."""

    title: str
    lines: tuple[str, ...]
    colour: str

    @property
    def text(self) -> str:
        """Plain text: title line(s) then details."""
        return "\n".join(self.lines)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def local_time(when: float, utc_offset_h: float) -> str:
    """``YYYY-MM-DD HH:MM:SS (UTC+8)`` for a unix time."""
    zone = dt.timezone(dt.timedelta(hours=utc_offset_h))
    stamp = dt.datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} (UTC{utc_offset_h:+g})"


def render(facts: AlertFacts, language: str, utc_offset_h: float = 8.0) -> RenderedMessage:
    """The message for ``facts`` in ``language`` (zh or en; anything else falls back to zh)."""
    lang = language if language in LABELS else "zh"
    label = LABELS[lang]
    tier = TIER_NAME[lang].get(facts.tier, facts.tier)
    status = label.get(facts.status, facts.status)
    lines: list[str] = []
    if facts.drill:
        lines.append(DRILL_LINE)
    if lang == "zh":
        title = f"【{tier}{label['tier']}】{status}：{facts.summary}"
    else:
        title = f"[{tier} {label['tier']}] {status}: {facts.summary}"
    lines.append(title)
    lines.extend(line for line in facts.body.splitlines() if line.strip())
    lines.extend(f"{label['assessment']}: {line}" for line in facts.assessment.splitlines() if line.strip())
    if facts.site:
        lines.append(f"{label['where']}: {facts.site_name} ({facts.site}) · {label['zone']}: {facts.zone}")
    if facts.sensor_id:
        lines.append(f"{label['sensor']}: {facts.sensor_id} ({facts.device_id}, {facts.kind})")
    if facts.lat is not None and facts.lon is not None:
        lines.append(f"{label['position']}: {facts.lat:.5f}, {facts.lon:.5f}")
    if facts.value is not None:
        lines.append(
            f"{label['value']}: {_number(facts.value)} {facts.unit} "
            f"({label['level']} {_number(facts.level)} {facts.unit})"
        )
    lines.append(f"{label['since']}: {local_time(facts.since, utc_offset_h)}")
    if facts.ended_at is not None:
        lines.append(f"{label['ended']}: {local_time(facts.ended_at, utc_offset_h)}")
    if facts.checklist and facts.status == "firing":
        lines.append(f"{label['todo']}:")
        lines.extend(f"{n}. {getattr(item, lang)}" for n, item in enumerate(facts.checklist, start=1))
    lines.append(f"{label['console']}: {facts.console_url}")
    return RenderedMessage(title=title if not facts.drill else f"{DRILL_LINE} {title}", lines=tuple(lines), colour=tier)


def markdown(facts: AlertFacts, message: RenderedMessage, flavour: str) -> str:
    """Markdown for group robots: ``wecom`` uses its <font color> tags, ``dingtalk`` HTML colour fonts."""
    body = list(message.lines)
    head = 1 if facts.drill else 0
    if flavour == "wecom":
        colour = WECOM_COLOUR.get(facts.tier, "warning")
        body[head] = f'## <font color="{colour}">{body[head]}</font>'
        if facts.drill:
            body[0] = f'**<font color="comment">{body[0]}</font>**'
    else:
        body[head] = f'## <font color="{TIER_COLOUR.get(facts.tier, "#000000")}">{body[head]}</font>'
        if facts.drill:
            body[0] = f"**{body[0]}**"
    link = body[-1].split(": ", 1)
    if len(link) == 2:
        body[-1] = f"[{link[0]}]({link[1]})"
    return "\n\n".join(body) if flavour == "dingtalk" else "\n".join(body)


def html_body(facts: AlertFacts, message: RenderedMessage) -> str:
    """An HTML e-mail body with a tier-coloured header bar."""
    colour = TIER_COLOUR.get(facts.tier, "#555555")
    lines = [html.escape(line) for line in message.lines]
    head = 1 if facts.drill else 0
    parts = ['<html><body style="font-family:sans-serif">']
    if facts.drill:
        parts.append(f'<p style="font-weight:bold;color:#6a1b9a">{lines[0]}</p>')
    parts.append(f'<h2 style="background:{colour};color:#fff;padding:8px">{lines[head]}</h2><ul>')
    parts.extend(f"<li>{line}</li>" for line in lines[head + 1 : -1])
    url = html.escape(facts.console_url, quote=True)
    parts.append(f'</ul><p><a href="{url}">{lines[-1]}</a></p></body></html>')
    return "".join(parts)
