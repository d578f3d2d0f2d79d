"""The short texts a page becomes on a phone (SMS and text-to-speech) and the fields provider templates fill in.

An SMS must fit on a lock screen and a call must be understood once: what, where, tier, and how to acknowledge.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

from daemon.notify.channels.base import Delivery, expand
from daemon.notify.render import DRILL_LINE, TIER_NAME, local_time

_FIELD = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
Encoding = Literal["json", "form", "raw"]


def page_fields(delivery: Delivery, utc_offset_h: float, environ: Mapping[str, str]) -> dict[str, str]:
    """Every field a template may use: ``{{text}}``, ``{{voice}}``, ``{{to}}``, ``{{link}}``, ``{{code}}``, ..."""
    facts = delivery.facts
    zh = delivery.language == "zh"
    tier = TIER_NAME["zh" if zh else "en"].get(facts.tier, facts.tier)
    link = str(delivery.extra.get("ack_url") or facts.console_url)
    code = str(delivery.extra.get("ack_code") or "")
    where = facts.site_name or facts.site
    incident = "" if facts.incident_id is None else str(facts.incident_id)
    drill = f"[{DRILL_LINE}] " if facts.drill else ""
    grouped = int(delivery.extra.get("grouped") or 1)
    if grouped > 1:  # a page storm in one message (daemon/notify/storms.py)
        summary = f"{grouped} 条新告警 / {grouped} new pages" + (f", 事件 incident {incident}" if incident else "")
        facts = dataclasses.replace(facts, summary=f"{summary}: {facts.summary}")
    # The release assessment (source, people in the zones, advice) when one exists, labelled as advice.
    assessment = " / ".join(line for line in facts.assessment.splitlines() if line.strip())
    if zh:
        reply = f"回复 {code} 确认" if code else "请登录值班台确认"
        advice = f"研判(建议, 非指令): {assessment}。" if assessment else ""
        text = f"{drill}【{tier}预警】{where} {facts.summary}。{advice}确认: {link} {reply}"
        voice = f"{drill}{tier}预警。{where}、{facts.summary}。{advice}请查看短信链接确认或回复短信 {code}。"
    else:
        reply = f"reply {code} to acknowledge" if code else "acknowledge on the console"
        advice = f" Assessment (advice, not an order): {assessment}." if assessment else ""
        text = f"{drill}[{tier}] {where}: {facts.summary}.{advice} Ack: {link} or {reply}"
        voice = (
            f"{drill}{tier} warning. {where}. {facts.summary}.{advice} "
            f"Acknowledge from the text message link or {reply}."
        )
    return {
        "text": text,
        "voice": voice,
        "to": expand(delivery.target.address or delivery.target.url or "", environ),
        "tier": tier,
        "site": where,
        "zone": facts.zone,
        "summary": facts.summary,
        "assessment": assessment,
        "incident": incident,
        "link": link,
        "code": code,
        "time": local_time(facts.since, utc_offset_h),
        "key": delivery.idempotency_key,
        "drill": "1" if facts.drill else "0",
    }


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut in the middle: a voice text ends with how to acknowledge (the
    reply code), which a call must still read out."""
    if len(text) <= limit:
        return text
    tail = min(40, limit // 3)
    return f"{text[: limit - tail - 1]}…{text[-tail:]}"


def fill(template: str, fields: Mapping[str, str], encoding: Encoding = "raw") -> str:
    """Replace ``{{name}}`` with the field, escaped for a JSON string, a form value or not at all."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            raise KeyError(f"unknown template field {{{{{name}}}}}; known: {', '.join(sorted(fields))}")
        raw = fields[name]
        if encoding == "json":
            return json.dumps(raw, ensure_ascii=False)[1:-1]
        if encoding == "form":
            return urllib.parse.quote(raw, safe="")
        return raw

    return _FIELD.sub(value, template)


def template_names(template: str) -> set[str]:
    """The field names a template uses (for checking a config)."""
    return {match.group(1) for match in _FIELD.finditer(template)}


def json_path(document: Any, path: str) -> Any:
    """The value at a dotted path with ``[n]`` indexes (``Response.SendStatusSet[0].Code``); None when absent."""
    node = document
    for name, index in _PATH_STEP.findall(path):
        if name:
            if not isinstance(node, dict) or name not in node:
                return None
            node = node[name]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return None
            node = node[int(index)]
    return node
