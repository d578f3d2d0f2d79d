"""The drill report: every alarm and incident of one drill run, alarm-management KPIs, and the score per event.

Read from the store after the replay (alarms, alarm_events, incidents, incident_events, notifications), so it
shows what the duty console showed. KPIs come from ``rules.kpi``; scoring compares alarms with the ground truth
in the recording's header.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.assessment.summary import against_truth
from daemon.drills.replay import ReplayResult
from daemon.drills.report_people import duty_team, human_actions, name_recipients, sensor_meta
from daemon.drills.verdict import verdict
from daemon.store.reading_chunks import read_readings
from daemon.store.schema import alarm_events, alarms, drill_runs, incident_events, incidents, notifications
from plans.model import Tier
from plans.roster import Roster
from rules.alarm import AlarmState, AlarmTransition
from rules.kpi import alarm_kpis
from rules.model import Classification, Priority
from rules.sensor_table import SensorTable

TIERS = tuple(tier.value for tier in Tier)  # lowest first
# An event counts as detected by alarms raised up to this long after it ends (plumes drift, averages lag).
DETECTION_GRACE_S = 1800.0
# The spine's alarm tracker stores these state names; the alarm book uses rules.alarm.AlarmState values.
STATE_ALIASES = {
    "active_unacknowledged": AlarmState.ACTIVE_UNACK,
    "active_acknowledged": AlarmState.ACTIVE_ACKED,
    "returned_unacknowledged": AlarmState.RETURNED_UNACK,
    "cleared": AlarmState.NORMAL,
}
# Classification by measured kind, for alarms stored without one (the spine's tracker does not classify).
KIND_CLASSIFICATION = {
    "gas": Classification.HAZARD,
    "gamma_dose_rate": Classification.HAZARD,
    "source_dose_rate": Classification.SECURITY,
    "tamper": Classification.SECURITY,
    "latitude": Classification.SECURITY,
    "longitude": Classification.SECURITY,
    "battery_voltage": Classification.EQUIPMENT,
    "mains_power": Classification.EQUIPMENT,
}
NOT_HAZARD = frozenset({Classification.QUALITY, Classification.EQUIPMENT, Classification.NATURAL})
SIGNAL_POINTS = 400  # per sensor in the report's timeline
SIGNAL_MARGIN_S = 600.0  # device times may lead or trail the receive times that bound the run


def _state(value: str | None) -> AlarmState:
    if value is None:
        return AlarmState.NORMAL
    if value in STATE_ALIASES:
        return STATE_ALIASES[value]
    try:
        return AlarmState(value)
    except ValueError:
        return AlarmState.NORMAL


def classification_of(row: dict[str, Any]) -> Classification:
    """The stored classification, or one inferred from the rule and kind when none was stored."""
    stored = row.get("classification")
    if stored:
        try:
            return Classification(stored)
        except ValueError:
            pass
    rule = str(row.get("rule", ""))
    if rule.startswith(("quality", "data.")) or "stuck" in rule or "flatline" in rule:
        return Classification.QUALITY
    return KIND_CLASSIFICATION.get(str(row.get("kind")), Classification.QUALITY)


def _priority(value: str) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        return Priority.MEDIUM


async def _rows(engine: AsyncEngine, query: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings().all()]


async def _children(engine: AsyncEngine, table: Table, parent: Column[Any], ids: list[int]) -> list[dict[str, Any]]:
    """The rows of ``table`` that belong to the given parents, in time order."""
    if not ids:
        return []
    return await _rows(engine, select(table).where(parent.in_(ids)).order_by(table.c.time, table.c.id))


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What the record needs besides the database: the roster (names, roles) and the sensor table (units,
    levels)."""

    roster: Roster
    table: SensorTable


async def build_report(
    engine: AsyncEngine,
    result: ReplayResult,
    sensor_kinds: dict[str, str],
    context: ReportContext | None = None,
) -> dict[str, Any]:
    """Everything the drill planner needs, as plain JSON-ready data; with ``context``, also the duty team, names
    of recipients and actors, every human action, and the units and levels of the plotted sensors."""
    run = result.run_id
    alarm_rows = await _rows(
        engine, select(alarms).where(alarms.c.drill_run_id == run).order_by(alarms.c.raised_at, alarms.c.id)
    )
    ids = [row["id"] for row in alarm_rows]
    event_rows = await _children(engine, alarm_events, alarm_events.c.alarm_id, ids)
    incident_rows = await _rows(
        engine, select(incidents).where(incidents.c.drill_run_id == run).order_by(incidents.c.id)
    )
    incident_ids = [row["id"] for row in incident_rows]
    timeline_rows = await _children(engine, incident_events, incident_events.c.incident_id, incident_ids)
    notification_rows = await _rows(
        engine,
        select(notifications)
        .where(notifications.c.drill_run_id == run)
        .order_by(notifications.c.created_at, notifications.c.id),
    )
    by_id = {row["id"]: row for row in alarm_rows}
    transitions = [
        AlarmTransition(
            alarm_id=str(ev["alarm_id"]),
            rule_id=by_id[ev["alarm_id"]]["rule"],
            sensor=-1,
            sensor_id=by_id[ev["alarm_id"]]["sensor_id"],
            condition=by_id[ev["alarm_id"]]["rule"],
            priority=_priority(by_id[ev["alarm_id"]]["priority"]),
            classification=classification_of(by_id[ev["alarm_id"]]),
            time=ev["time"],
            from_state=_state(ev["from_state"]),
            to_state=_state(ev["to_state"]),
            process_active=_state(ev["to_state"]) is AlarmState.ACTIVE_UNACK,
            actor=ev["actor"],
            reason=ev["reason"],
            value=math.nan,
            message_zh="",
            message_en="",
        )
        for ev in event_rows
    ]
    start, end = result.sim_start, max(result.sim_end, result.sim_start + 1.0)
    kpis = alarm_kpis(transitions, start, end)
    alarm_list = [_alarm_entry(row, event_rows) for row in alarm_rows]
    incident_list = [_incident_entry(row, timeline_rows, notification_rows) for row in incident_rows]
    truth = result.header.get("ground_truth")
    report: dict[str, Any] = {
        "drill_run": result.run_id,
        "recording": {k: v for k, v in result.header.items() if k != "ground_truth"},
        "replay": {
            "messages": result.messages,
            "readings": result.readings,
            "sim_start": result.sim_start,
            "sim_end": result.sim_end,
            "wall_seconds": round(result.wall_seconds, 3),
        },
        "alarms": alarm_list,
        "incidents": incident_list,
        "notifications": [_notification_entry(row) for row in notification_rows],
        "delivery": {
            "drill_routes": list(result.drill_routes),
            "note": (
                "pages were delivered to the drill routes; created_at and delivered_at are on the recording's clock"
                if result.drill_routes
                else "no drill route configured: pages were recorded on the console only, never sent"
            ),
        },
        "highest_tier": _highest_tier(incident_list),
        "kpis": {
            "alarms": kpis.alarms,
            "alarms_per_10min": round(kpis.alarms_per_10min, 3),
            "peak_alarms_per_10min": kpis.peak_alarms_per_10min,
            "periods_in_flood_pct": round(kpis.periods_in_flood_pct, 2),
            "chattering_alarms": list(kpis.chattering_alarms),
            "stale_alarms": list(kpis.stale_alarms),
            "priority_share_pct": {str(k): round(v, 2) for k, v in kpis.priority_share_pct.items()},
        },
        "ground_truth": truth,
        "score": score(truth, alarm_list, incident_list) if truth else None,
        "map": result.map_layers,
        "assessment": {"estimates": result.assessments, "against_truth": against_truth(result.assessments, truth)},
    }
    report["signals"] = await _signals(engine, result, _key_sensors(report, sensor_kinds))
    if context is not None:
        run_row = (await _rows(engine, select(drill_runs).where(drill_runs.c.id == run)))[0]
        report["replay"]["wall_started_at"] = run_row["started_at"]
        report["replay"]["speed"] = run_row["speed"]
        name_recipients(report["notifications"], context.roster)
        for incident in incident_list:
            name_recipients(incident["notifications"], context.roster)
        report["duty_team"] = duty_team(context.roster, result.sim_start)
        report["human_actions"] = human_actions(report, context.roster)
        report["signal_meta"] = sensor_meta(context.table, list(report["signals"]), alarm_list)
        report["utc_offset_h"] = context.roster.utc_offset_h
    report["verdict"] = verdict((truth or {}).get("expect"), report)
    return report


def _alarm_entry(row: dict[str, Any], events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "rule": row["rule"],
        "sensor": row["sensor_id"],
        "device": row["device_id"],
        "zone": row["zone"],
        "kind": row["kind"],
        "priority": row["priority"],
        "classification": str(classification_of(row)),
        "state": row["state"],
        "raised_at": row["raised_at"],
        "acknowledged_at": row["acknowledged_at"],
        "cleared_at": row["cleared_at"],
        "value": row["value"],
        "level": row["level"],
        "message": row["message"],
        "transitions": [
            {"time": ev["time"], "from": ev["from_state"], "to": ev["to_state"], "actor": ev["actor"]}
            for ev in events
            if ev["alarm_id"] == row["id"]
        ],
    }


def _incident_entry(
    row: dict[str, Any], timeline: Sequence[dict[str, Any]], sent: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    own = [ev for ev in timeline if ev["incident_id"] == row["id"]]
    tiers = tier_history(own)
    return {
        "id": row["id"],
        "title": row["title"],
        "zone": row["zone"],
        "state": row["state"],
        "opened_at": row["opened_at"],
        "closed_at": row["closed_at"],
        "proposed_tier": row["proposed_tier"],
        "confirmed_level": row["confirmed_level"],
        "tier_history": tiers,
        "escalations": [
            {"time": ev["time"], "type": ev["type"], **(_json(ev["detail"]).get("escalation") or {})}
            for ev in own
            if "escalat" in str(ev["type"])
        ],
        "timeline": [
            {"time": ev["time"], "type": ev["type"], "actor": ev["actor"], "detail": _json(ev["detail"])} for ev in own
        ],
        "notifications": [_notification_entry(n) for n in sent if n["incident_id"] == row["id"]],
        "reports": _json(row["detail"]).get("reports", []),
    }


def tier_history(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tier change of one incident, from the structured ``tier_change`` of its timeline rows, in time order.

    ``tier`` is the tier in force after the change: the confirmed response level once a person confirmed one,
    else the proposed tier; ``proposed`` and ``confirmed`` say which is which at that moment.
    """
    out: list[dict[str, Any]] = []
    proposed: str | None = None
    confirmed: str | None = None
    for ev in events:
        change = _json(ev["detail"]).get("tier_change")
        if not isinstance(change, dict):
            continue
        if change.get("kind") == "confirmed":
            confirmed = change.get("to")
        else:
            proposed = change.get("to")
        out.append(
            {
                "time": ev["time"],
                "tier": confirmed or proposed,
                "from": change.get("from"),
                "to": change.get("to"),
                "kind": change.get("kind"),
                "proposed": proposed,
                "confirmed": confirmed,
                "by": change.get("by"),
                "why": change.get("why"),
                "type": ev["type"],
            }
        )
    return out


def _notification_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "incident_id": row["incident_id"],
        "alarm_id": row["alarm_id"],
        "event": row["event"],
        "channel": row["channel"],
        "recipient": row["recipient"],
        "role": row["role"],
        "state": row["state"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "acknowledged_at": row["acknowledged_at"],
        "acknowledged_by": row.get("acknowledged_by"),
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "drill": row["drill"],
    }


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def _highest_tier(incident_list: Sequence[dict[str, Any]]) -> str | None:
    reached = [h["tier"] for i in incident_list for h in i["tier_history"] if h["tier"] in TIERS]
    return max(reached, key=TIERS.index) if reached else None


def score(
    truth: dict[str, Any], alarm_list: Sequence[dict[str, Any]], incident_list: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Per event: detected or missed, delay, tier reached; plus the hazard alarms no real event explains."""
    explained: set[int] = set()
    events: list[dict[str, Any]] = []
    for event in truth.get("events", []):
        start, end = float(event["start"]), float(event["end"]) + DETECTION_GRACE_S
        expected = {d["sensor"] for d in event.get("expected_detections", [])}
        device = event.get("device")
        matching = [
            a
            for a in alarm_list
            if start <= a["raised_at"] <= end
            and (
                a["sensor"] in expected
                or (not expected and device is not None and a["device"] == device)
                or a["sensor"] == event.get("sensor")
            )
        ]
        if event.get("real"):
            explained.update(a["id"] for a in matching)
        else:
            explained.update(a["id"] for a in matching if a["classification"] in {str(c) for c in NOT_HAZARD})
        tiers = [
            h["tier"]
            for i in incident_list
            for h in i["tier_history"]
            if start <= h["time"] <= end and h["tier"] in TIERS
        ]
        first = min((a["raised_at"] for a in matching), default=None)
        events.append(
            {
                "id": event["id"],
                "type": event["type"],
                "real": event.get("real", False),
                "start": event["start"],
                "expected_sensors": sorted(expected),
                "detected": first is not None,
                "detection_delay_s": None if first is None else round(first - float(event["start"]), 3),
                "alarms": [a["id"] for a in matching],
                "detected_sensors": sorted({a["sensor"] for a in matching}),
                "missed_sensors": sorted(expected - {a["sensor"] for a in matching}),
                "tier_reached": max(tiers, key=TIERS.index) if tiers else None,
            }
        )
    explained |= _explained_as_natural(alarm_list)
    false_alarms = [
        {
            "id": a["id"],
            "sensor": a["sensor"],
            "rule": a["rule"],
            "priority": a["priority"],
            "raised_at": a["raised_at"],
        }
        for a in alarm_list
        if a["id"] not in explained and a["classification"] not in {str(c) for c in NOT_HAZARD}
    ]
    real = [e for e in events if e["real"]]
    return {
        "events": events,
        "real_events": len(real),
        "real_events_detected": sum(e["detected"] for e in real),
        "false_alarms": false_alarms,
        "expected_tier": (truth.get("expect") or {}).get("tier"),
    }


def _key_sensors(report: dict[str, Any], sensor_kinds: dict[str, str]) -> list[str]:
    chosen: list[str] = []
    score_part = report.get("score") or {}
    for event in score_part.get("events", []):
        for sensor in event["expected_sensors"] + event["detected_sensors"]:
            if sensor not in chosen and sensor in sensor_kinds:
                chosen.append(sensor)
    for alarm in report["alarms"]:
        if alarm["sensor"] not in chosen:
            chosen.append(alarm["sensor"])
    return chosen[:6]


async def _signals(engine: AsyncEngine, result: ReplayResult, sensors: list[str]) -> dict[str, list[list[float]]]:
    """Stored readings of the key sensors for the timeline plot, thinned to at most ``SIGNAL_POINTS`` each."""
    async with engine.connect() as connection:
        # Another drill (perhaps of the same recording) writes drill readings too: only this run's chunks.
        stored = await read_readings(
            connection,
            since=result.sim_start - SIGNAL_MARGIN_S,
            until=result.sim_end + SIGNAL_MARGIN_S,
            drill=True,
            sensor_ids=sensors,
            drill_run_id=result.run_id,
        )
    signals: dict[str, list[list[float]]] = {}
    for sensor in sensors:
        mine = stored.take(stored.sensor_id == sensor)
        step = max(1, len(mine) // SIGNAL_POINTS)
        signals[sensor] = [[t, v] for t, v in zip(mine.time[::step].tolist(), mine.value[::step].tolist(), strict=True)]
    return signals


# The core classes a rise natural up to this long after the rise began (it waits for rain and neighbours).
NATURAL_LOOKBACK_S = 3600.0


def _explained_as_natural(alarms: Sequence[dict[str, Any]]) -> set[int]:
    """Alarms at a sensor while the core classed its rise as natural (rain washout): the early, unclassified
    rise alarm of that sensor is explained by it, not a false alarm."""
    natural = [a for a in alarms if a["classification"] == "natural"]
    out: set[int] = set()
    for alarm in alarms:
        for cause in natural:
            if cause["sensor"] != alarm["sensor"]:
                continue
            end = cause["cleared_at"] if cause["cleared_at"] is not None else float("inf")
            if cause["raised_at"] - NATURAL_LOOKBACK_S <= alarm["raised_at"] <= end:
                out.add(alarm["id"])
    return out
