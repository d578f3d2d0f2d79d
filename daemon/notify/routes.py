"""Direct alarm routes: until the plan engine pages by role, matching alarms notify configured recipients.

``AlarmNotifier`` listens to the alarm tracker and queues the intents on the store writer, so the outbox rows are
committed in the same transaction as the alarm row that caused them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from daemon.clock import Clock
from daemon.notify.checklists import checklist_for
from daemon.notify.config import PRIORITY_RANK, AlarmRoute, NotifyConfig, Recipient
from daemon.notify.model import TIER_OF_PRIORITY, AlertFacts, NotificationIntent
from detectors.kinds import CANONICAL_UNIT, Kind
from rules.sensor_table import SensorTable


class IntentSink(Protocol):
    """Where intents go: the store writer queues them with the rows of the same change."""

    def add_notification_intent(self, intent: NotificationIntent, now: float) -> None:
        """Queue an intent for the next commit."""
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

    def recipients(self, alarm: Mapping[str, Any], drill: bool, resolved: bool) -> tuple[Recipient, ...]:
        """Everyone a matching route names, once each, in route order."""
        names: dict[str, None] = {}
        for route in self._config.routes:
            if resolved and not route.send_resolved:
                continue
            if _route_matches(route, alarm, drill):
                names.update(dict.fromkeys(route.recipients))
        return tuple(self._config.person(name) for name in names)

    def intent(
        self, alarm: Mapping[str, Any], *, drill: bool, ended_at: float | None = None
    ) -> NotificationIntent | None:
        """The intent for an alarm raised (``ended_at`` None) or returned to normal; None when no route matches."""
        resolved = ended_at is not None
        recipients = self.recipients(alarm, drill, resolved)
        if not recipients:
            return None
        status = "resolved" if resolved else "firing"
        return NotificationIntent(
            key=f"{'drill:' if drill else ''}alarm:{alarm['id']}:{status}",
            event="resolved" if resolved else "alarm",
            facts=self.facts(alarm, status, ended_at, drill),
            recipients=recipients,
        )


class AlarmNotifier:
    """Alarm-flow listener: queues the route intents for every raise and return to normal.

    It remembers the rows of alarms it notified about, so the "resolved" message can repeat their facts; an alarm
    raised before a restart returns to normal without a resolved message (Alertmanager still expires it).
    """

    def __init__(self, router: AlarmRouter, sink: IntentSink, clock: Clock, *, drill: bool = False) -> None:
        self._router = router
        self._sink = sink
        self._clock = clock
        self._drill = drill
        self._notified: dict[int, dict[str, Any]] = {}

    def alarm_raised(self, alarm: Mapping[str, Any]) -> None:
        """Notify the routes matching a new alarm."""
        intent = self._router.intent(alarm, drill=self._drill)
        if intent is not None:
            self._notified[int(alarm["id"])] = dict(alarm)
            self._sink.add_notification_intent(intent, self._clock.now())

    def alarm_cleared(self, alarm_row_id: int, time: float) -> None:
        """Notify the routes that want to hear an alarm returned to normal."""
        alarm = self._notified.get(alarm_row_id)
        if alarm is None:
            return
        intent = self._router.intent(alarm, drill=self._drill, ended_at=time)
        if intent is not None:
            self._sink.add_notification_intent(
                replace(intent, key=f"{intent.key}:{time:.3f}"), self._clock.now()
            )  # each return to normal of the episode is its own event

    def alarm_reactivated(self, alarm_row_id: int, time: float, value: float | None) -> None:
        """A returned alarm fired again before anyone acknowledged it: a new event, notified again."""
        alarm = self._notified.get(alarm_row_id)
        if alarm is None:
            return
        alarm = {**alarm, "raised_at": time, "value": value}
        self._notified[alarm_row_id] = alarm
        intent = self._router.intent(alarm, drill=self._drill)
        if intent is not None:
            self._sink.add_notification_intent(replace(intent, key=f"{intent.key}:{time:.3f}"), self._clock.now())
