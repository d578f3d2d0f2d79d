"""Direct alarm routes: matching alarms notify configured system targets (webhooks, Alertmanager, robots, e-mail).

People are paged by the plan engine from the roster; routes are for systems. ``AlarmNotifier`` listens to the
alarm recorder and queues the same intent type the plan engine emits (``plans.incident.NotificationIntent``, with
``targets``) and the alarm's facts on the outbox, so the outbox rows commit in the same transaction as the alarm row
that caused them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from daemon.notify.config import AlarmRoute, NotifyConfig
from daemon.notify.model import TIER_OF_PRIORITY, AlertFacts, ChecklistLine
from detectors.kinds import CANONICAL_UNIT, Kind
from plans.incident import NotificationIntent, NotificationKind
from rules.model import PRIORITY_RANK
from rules.sensor_table import SensorTable

# Default first steps per measurement kind, shown under "what to do" until the plan's checklist takes over.
_COMMON_END = ChecklistLine("在值班台确认报警并记录处置情况", "Acknowledge in the duty console and log what you do")

CHECKLISTS: dict[str, tuple[ChecklistLine, ...]] = {
    "gas": (
        ChecklistLine("核对相邻传感器和风向，判断是否为真实泄漏", "Check neighbours and wind: is it a real release?"),
        ChecklistLine("电话联系涉事企业值班室核实", "Call the plant's control room to confirm"),
        ChecklistLine("必要时通知下风向人员避险", "If confirmed, warn people downwind to shelter"),
        _COMMON_END,
    ),
    "gamma_dose_rate": (
        ChecklistLine("核对降雨情况和相邻站点是否同步升高", "Check rain and whether neighbouring stations rose too"),
        ChecklistLine("联系辐射安全专家研判", "Call the radiation safety expert"),
        _COMMON_END,
    ),
    "source_dose_rate": (
        ChecklistLine("联系持源单位核实放射源位置和状态", "Call the source's owner: where is it, is it shielded?"),
        ChecklistLine("联系辐射安全专家研判", "Call the radiation safety expert"),
        _COMMON_END,
    ),
    "tamper": (
        ChecklistLine("立即联系持源单位和属地公安核实", "Call the source's owner and local police at once"),
        _COMMON_END,
    ),
}
DEFAULT_CHECKLIST: tuple[ChecklistLine, ...] = (
    ChecklistLine("核实设备状态和读数是否可信", "Check the device's state and whether the reading is plausible"),
    _COMMON_END,
)


def checklist_for(kind: str) -> tuple[ChecklistLine, ...]:
    """The default checklist for a sensor kind."""
    return CHECKLISTS.get(kind, DEFAULT_CHECKLIST)


class IntentSink(Protocol):
    """Where intents go: the outbox queues their rows on the store writer with the rows of the same change."""

    def add_intent(self, intent: NotificationIntent, facts: AlertFacts) -> object:
        """Queue an intent's rows for the next commit."""
        ...


def _route_matches(route: AlarmRoute, alarm: Mapping[str, Any], drill: bool) -> bool:
    if route.drill != drill:
        return False
    if PRIORITY_RANK.get(str(alarm["priority"]), 0) < PRIORITY_RANK[route.min_priority]:
        return False
    if route.kinds and alarm["kind"] not in route.kinds:
        return False
    return not (route.zones and alarm["zone"] not in route.zones)


def _finite(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]  # alarm rows carry floats or None
    return None if math.isnan(number) else number


class AlarmRouter:
    """Turns an alarm row into the notification intent its matching routes ask for."""

    def __init__(self, config: NotifyConfig, table: SensorTable) -> None:
        self._config = config
        self._table = table

    def facts(self, alarm: Mapping[str, Any], status: str, ended_at: float | None, drill: bool) -> AlertFacts:
        """The facts of an alarm, completed from the site (units, position, names)."""
        table = self._table
        sensor = table.index.get(str(alarm["sensor_id"]))
        lat = lon = None
        unit = ""
        if sensor is not None:
            lat, lon = float(table.lat[sensor]), float(table.lon[sensor])
            unit = CANONICAL_UNIT[table.sensors[sensor].kind]
        elif alarm["kind"] in Kind.__members__.values():
            unit = CANONICAL_UNIT[Kind(alarm["kind"])]
        priority = str(alarm["priority"])
        return AlertFacts(
            rule=str(alarm["rule"]),
            status=status,
            tier=TIER_OF_PRIORITY.get(priority, "blue"),
            priority=priority,
            site=str(alarm["site"]),
            site_name=table.site.name,
            zone=str(alarm["zone"]),
            sensor_id=str(alarm["sensor_id"]),
            device_id=str(alarm["device_id"]),
            kind=str(alarm["kind"]),
            unit=unit,
            lat=lat,
            lon=lon,
            value=_finite(alarm.get("value")),
            level=_finite(alarm.get("level")),
            since=float(alarm["raised_at"]),
            ended_at=ended_at,
            summary=str(alarm.get("message") or alarm["rule"]),
            console_url=f"{self._config.console_url.rstrip('/')}/#alarm-{alarm['id']}",
            alarm_id=int(alarm["id"]),
            incident_id=None if alarm.get("incident_id") is None else int(alarm["incident_id"]),
            drill=drill,
            checklist=checklist_for(str(alarm["kind"])),
        )

    def targets(self, alarm: Mapping[str, Any], drill: bool, resolved: bool) -> tuple[str, ...]:
        """Every target a matching route names, once each, in route order."""
        names: dict[str, None] = {}
        for route in self._config.routes:
            if resolved and not route.send_resolved:
                continue
            if _route_matches(route, alarm, drill):
                names.update(dict.fromkeys(route.recipients))
        return tuple(names)

    def intent(
        self, alarm: Mapping[str, Any], now: float, *, drill: bool, ended_at: float | None = None
    ) -> tuple[NotificationIntent, AlertFacts] | None:
        """The intent and facts for an alarm raised (``ended_at`` None) or returned to normal; None: no route."""
        resolved = ended_at is not None
        targets = self.targets(alarm, drill, resolved)
        if not targets:
            return None
        status = "resolved" if resolved else "firing"
        facts = self.facts(alarm, status, ended_at, drill)
        intent = NotificationIntent(
            notification_id=f"{'drill:' if drill else ''}alarm:{alarm['id']}:{status}",
            kind=NotificationKind.ALARM_RESOLVED if resolved else NotificationKind.ALARM,
            time=now,
            incident_id=None,
            tier=None,
            roles=(),
            recipients=(),
            subject=facts.summary,
            body="",
            ack_deadline=None,
            alarm_ids=(str(alarm["alarm_key"]),) if alarm.get("alarm_key") else (),
            drill=drill,
            targets=targets,
        )
        return intent, facts


class AlarmNotifier:
    """Alarm-flow listener: queues the route intents for every raise and return to normal.

    It remembers the rows of alarms it notified about, so the "resolved" message can repeat their facts; an alarm
    raised before a restart returns to normal without a resolved message (Alertmanager still expires it).
    """

    def __init__(self, router: AlarmRouter, sink: IntentSink, *, drill: bool = False) -> None:
        self._router = router
        self._sink = sink
        self._drill = drill
        self._notified: dict[int, dict[str, Any]] = {}

    def alarm_raised(self, alarm: Mapping[str, Any], now: float) -> None:
        """Notify the routes matching a new alarm."""
        routed = self._router.intent(alarm, now, drill=self._drill)
        if routed is not None:
            self._notified[int(alarm["id"])] = dict(alarm)
            self._sink.add_intent(*routed)

    def alarm_cleared(self, alarm_row_id: int, time: float, now: float) -> None:
        """Notify the routes that want to hear an alarm returned to normal."""
        alarm = self._notified.get(alarm_row_id)
        if alarm is None:
            return
        routed = self._router.intent(alarm, now, drill=self._drill, ended_at=time)
        if routed is not None:
            intent, facts = routed
            # each return to normal of the episode is its own event
            self._sink.add_intent(replace(intent, notification_id=f"{intent.notification_id}:{time:.3f}"), facts)

    def alarm_reactivated(self, alarm_row_id: int, time: float, value: float | None, now: float) -> None:
        """A returned alarm fired again before anyone acknowledged it: a new event, notified again."""
        alarm = self._notified.get(alarm_row_id)
        if alarm is None:
            return
        alarm = {**alarm, "raised_at": time, "value": value}
        self._notified[alarm_row_id] = alarm
        routed = self._router.intent(alarm, now, drill=self._drill)
        if routed is not None:
            intent, facts = routed
            self._sink.add_intent(replace(intent, notification_id=f"{intent.notification_id}:{time:.3f}"), facts)
