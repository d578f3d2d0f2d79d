"""Who was in the drill: the duty team from the roster, page recipients by name and role, and every human action
with its delay from what triggered it. Recipients are stored as channel addresses (``drill:${HAZWATCH_PHONE_…}``
placeholders, never secrets); the record names the person instead."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.kinds import CANONICAL_UNIT
from plans.roster import Roster
from rules.sensor_table import SensorTable

SYSTEM_ACTORS = frozenset({"system", "", None})
DRILL_PREFIX = "drill:"
WALL_CLOCK_MARGIN_S = 86_400.0  # an action stamped a day past the recording is on the wall clock
# Rules whose level is a value of the sensor's own quantity (thresholds, gas levels and AEGLs, gamma levels).
MEASURED_LEVEL_RULES = ("threshold", "level", "aegl", "stel", "twa", "high")


def duty_team(roster: Roster, at: float) -> list[dict[str, str]]:
    """The people on duty for each role at ``at`` (the drill's start, on its clock), by name and role."""
    team: list[dict[str, str]] = []
    for role in roster.roles:
        for person in roster.on_duty(role.id, at):
            team.append({"person": person.id, "name": person.name, "role": role.id, "role_name": role.name})
    return team


def _addresses(roster: Roster) -> dict[str, str]:
    """Channel address (as stored, placeholders included) -> person id."""
    out: dict[str, str] = {}
    for person in roster.people:
        for channel in person.channels:
            out.setdefault(channel.address, person.id)
        out.setdefault(person.id, person.id)
        out.setdefault(person.name, person.id)
    return out


def name_recipients(notifications: Sequence[dict[str, Any]], roster: Roster) -> None:
    """Give every page its recipient's name and role title (in place); unknown addresses keep the address."""
    by_address = _addresses(roster)
    role_names = {role.id: role.name for role in roster.roles}
    for note in notifications:
        recipient = str(note.get("recipient") or "")
        address = recipient.removeprefix(DRILL_PREFIX)
        person_id = by_address.get(address) or by_address.get(recipient)
        person = roster.person(person_id) if person_id is not None else None
        note["recipient_name"] = person.name if person is not None else address
        note["role_name"] = role_names.get(str(note.get("role")), note.get("role"))


def actor_name(actor: str | None, roster: Roster) -> str:
    """A person's name for an actor id (user name or person id); the actor itself when unknown."""
    if actor in SYSTEM_ACTORS:
        return "system"
    by_address = _addresses(roster)
    person_id = by_address.get(str(actor))
    return roster.person(person_id).name if person_id is not None else str(actor)


def exercise_time(report: dict[str, Any], time: float) -> float:
    """An action's time on the exercise clock.

    The duty console stamps actions with the wall clock, while the drill's rows carry the recording's: an action
    stamped after the replay's recorded span is mapped onto it through the run's wall start and speed.
    """
    replay = report.get("replay", {})
    started, speed = replay.get("wall_started_at"), replay.get("speed")
    if started is None or time <= replay.get("sim_end", math.inf) + WALL_CLOCK_MARGIN_S:
        return time
    try:
        factor = float(speed)
    except (TypeError, ValueError):
        return time  # "max": the drill had no human pace; keep the wall time
    return float(replay["sim_start"]) + (time - float(started)) * factor


def human_actions(report: dict[str, Any], roster: Roster) -> list[dict[str, Any]]:
    """Every action a person took during the drill (on the exercise clock), with its delay from the event that
    called for it."""
    actions: list[dict[str, Any]] = []
    for alarm in report.get("alarms", []):
        for step in alarm.get("transitions", []):
            if step["actor"] in SYSTEM_ACTORS:
                continue
            at = exercise_time(report, step["time"])
            actions.append(
                {
                    "time": at,
                    "actor": step["actor"],
                    "actor_name": actor_name(step["actor"], roster),
                    "what": f"alarm {alarm['rule']} at {alarm['sensor']}: {step['from']} -> {step['to']}",
                    "since": "alarm raised",
                    "delay_s": round(at - alarm["raised_at"], 3),
                }
            )
    for incident in report.get("incidents", []):
        for entry in incident.get("timeline", []):
            if entry["actor"] in SYSTEM_ACTORS or entry["type"] == "notification_ack":  # page acks: below
                continue
            at = exercise_time(report, entry["time"])
            actions.append(
                {
                    "time": at,
                    "actor": entry["actor"],
                    "actor_name": actor_name(entry["actor"], roster),
                    "what": f"{entry['type']}: {entry['detail'].get('text') or _plain(entry['detail'])}",
                    "since": "incident opened",
                    "delay_s": round(at - incident["opened_at"], 3),
                }
            )
    for page in report.get("notifications", []):
        if page.get("acknowledged_at") is None:
            continue
        at = exercise_time(report, page["acknowledged_at"])
        actions.append(
            {
                "time": at,
                "actor": page.get("acknowledged_by"),
                "actor_name": actor_name(page.get("acknowledged_by"), roster),
                "what": f"acknowledged the {page['event']} page to {page.get('recipient_name', page['recipient'])}",
                "since": "page sent",
                "delay_s": round(at - page["created_at"], 3),
            }
        )
    return sorted(actions, key=lambda a: a["time"])


def _plain(detail: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in detail.items())


def sensor_meta(table: SensorTable, sensors: Sequence[str], alarms: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per plotted sensor: kind, unit and the alarm levels to draw (the site's levels and those alarms crossed)."""
    core = table.core_config()
    out: dict[str, Any] = {}
    for sensor_id in sensors:
        index = table.index.get(sensor_id)
        if index is None:
            continue
        spec = table.sensors[index]
        levels: dict[str, float] = {}
        for name, value in (
            ("high", table.thresholds.high[index]),
            ("high-high", table.thresholds.high_high[index]),
            ("level 1 (GB/T 50493)", core.gas_level1[index]),
            ("level 2 (GB/T 50493)", core.gas_level2[index]),
        ):
            if not math.isnan(float(value)):
                levels[name] = float(value)
        for alarm in alarms:
            level = alarm.get("level")
            # Only levels of the measured quantity: a geofence's metres or a heartbeat's seconds are not on this axis.
            measured = any(word in str(alarm["rule"]) for word in MEASURED_LEVEL_RULES)
            if alarm["sensor"] == sensor_id and measured and level is not None and np.isfinite(level):
                levels.setdefault(str(alarm["rule"]), float(level))
        out[sensor_id] = {
            "kind": spec.kind.value,
            "unit": CANONICAL_UNIT[spec.kind],
            "levels": [{"name": k, "value": v} for k, v in sorted(levels.items(), key=lambda kv: kv[1])],
        }
    return out
