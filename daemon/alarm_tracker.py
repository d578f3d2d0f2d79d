"""Turns condition transitions into alarm rows: one row per (condition, sensor) episode.

This is the spine's simple mapping (a condition is an alarm); the rule engine and the ISA-18.2
alarm book replace the mapping, keeping this module's store contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import case

from daemon.metrics import Metrics
from daemon.store.schema import alarms
from daemon.store.writer import StoreWriter
from detectors.conditions import ConditionEvents
from rules.sensor_table import SensorTable

DEFAULT_PRIORITY = {"threshold.high": "medium", "threshold.high_high": "high", "threshold.low": "medium"}


SERVICE_SITE_DEVICE = "hazwatch"


class AlarmListener(Protocol):
    """Told about every raise and return to normal (notifier routes, the console's event bus)."""

    def alarm_raised(self, alarm: Mapping[str, Any]) -> None:
        """A new alarm row was queued for the store."""
        ...

    def alarm_cleared(self, alarm: Mapping[str, Any], time: float) -> None:
        """The alarm's condition returned to normal at ``time``."""
        ...


@dataclass(slots=True)
class OpenAlarm:
    """An alarm whose condition is still active."""

    id: int
    priority: str
    row: dict[str, Any] = field(default_factory=dict)


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


class AlarmTracker:
    """Keeps the open alarm per (condition, sensor) and writes every raise and clear."""

    def __init__(self, table: SensorTable, writer: StoreWriter, metrics: Metrics, next_id: int = 1) -> None:
        self._table = table
        self._writer = writer
        self._metrics = metrics
        self._next_id = next_id
        self.open: dict[tuple[str, int], OpenAlarm] = {}
        self.service_open: dict[tuple[str, str], OpenAlarm] = {}
        self.listeners: list[AlarmListener] = []

    def restore(
        self, condition: str, sensor: int, alarm_id: int, priority: str, row: dict[str, Any] | None = None
    ) -> None:
        """Take over an alarm left open by a previous run."""
        self.open[(condition, sensor)] = OpenAlarm(alarm_id, priority, dict(row or {}))
        self._metrics.alarms_active.labels(priority).inc()

    def restore_service(self, rule: str, subject: str, alarm_id: int, priority: str) -> None:
        """Take over a service alarm (e.g. a failing notification channel) left open by a previous run."""
        self.service_open[(rule, subject)] = OpenAlarm(alarm_id, priority)
        self._metrics.alarms_active.labels(priority).inc()

    def raise_service_alarm(self, rule: str, subject: str, message: str, now: float) -> None:
        """Raise an alarm about the service itself, once per (rule, subject) until cleared."""
        if (rule, subject) in self.service_open:
            return
        priority = "high"
        alarm_id = self._next_id
        self._next_id += 1
        row = {
            "id": alarm_id,
            "rule": rule,
            "sensor_id": subject,
            "device_id": SERVICE_SITE_DEVICE,
            "site": self._table.site.site,
            "zone": SERVICE_SITE_DEVICE,
            "kind": "service",
            "priority": priority,
            "state": "active_unacknowledged",
            "classification": "service",
            "message": message,
            "value": None,
            "level": None,
            "raised_at": now,
            "cleared_at": None,
            "updated_at": now,
        }
        self.service_open[(rule, subject)] = OpenAlarm(alarm_id, priority, row)
        self._writer.add_alarm(row)
        self._writer.add_alarm_event(
            {
                "alarm_id": alarm_id,
                "time": now,
                "from_state": None,
                "to_state": "active_unacknowledged",
                "actor": "system",
                "reason": message,
            }
        )
        self._metrics.alarms_raised.labels(priority).inc()
        self._metrics.alarms_active.labels(priority).inc()

    def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
        """Clear a service alarm raised by ``raise_service_alarm``."""
        alarm = self.service_open.pop((rule, subject), None)
        if alarm is not None:
            self._close(alarm, now, "service recovered")

    def apply(self, events: ConditionEvents) -> None:
        """Record every transition of one condition, in time order."""
        for sensor, time, active, value, level in zip(
            events.sensor.tolist(),
            events.time.tolist(),
            events.active.tolist(),
            events.value.tolist(),
            events.level.tolist(),
            strict=True,
        ):
            key = (events.condition, sensor)
            if active and key not in self.open:
                self._raise(events.condition, sensor, time, value, level)
            elif not active and key in self.open:
                self._clear(key, time, value)

    def _raise(self, condition: str, sensor: int, time: float, value: float, level: float) -> None:
        table = self._table
        spec = table.sensors[sensor]
        device = table.devices[int(table.device_of[sensor])]
        priority = DEFAULT_PRIORITY.get(condition, "medium")
        alarm_id = self._next_id
        self._next_id += 1
        verb = "below" if condition.endswith("low") else "above"
        row: dict[str, Any] = {
            "id": alarm_id,
            "rule": condition,
            "sensor_id": spec.id,
            "device_id": device.id,
            "site": table.site.site,
            "zone": device.zone,
            "kind": spec.kind.value,
            "priority": priority,
            "state": "active_unacknowledged",
            "classification": None,
            "message": f"{spec.id}: {value:g} {verb} {condition} level {level:g}",
            "value": _finite_or_none(value),
            "level": _finite_or_none(level),
            "raised_at": time,
            "cleared_at": None,
            "updated_at": time,
        }
        self.open[(condition, sensor)] = OpenAlarm(alarm_id, priority, row)
        self._writer.add_alarm(row)
        self._writer.add_alarm_event(
            {
                "alarm_id": alarm_id,
                "time": time,
                "from_state": None,
                "to_state": "active_unacknowledged",
                "actor": "system",
                "reason": f"{condition} at {value:g}",
            }
        )
        self._metrics.alarms_raised.labels(priority).inc()
        self._metrics.alarms_active.labels(priority).inc()
        for listener in self.listeners:
            listener.alarm_raised(row)

    def _clear(self, key: tuple[str, int], time: float, value: float) -> None:
        self._close(self.open.pop(key), time, f"returned to normal at {value:g}")

    def _close(self, alarm: OpenAlarm, time: float, reason: str) -> None:
        # An alarm a person already acknowledged goes back to normal; otherwise it waits for an acknowledgement.
        state = case((alarms.c.acknowledged_at.is_not(None), "normal"), else_="returned_unacknowledged")
        self._writer.update_alarm(alarm.id, {"state": state, "cleared_at": time, "updated_at": time})
        self._writer.add_alarm_event(
            {
                "alarm_id": alarm.id,
                "time": time,
                "from_state": "active_unacknowledged",
                "to_state": "returned_unacknowledged",
                "actor": "system",
                "reason": reason,
            }
        )
        self._metrics.alarms_active.labels(alarm.priority).dec()
        if alarm.row:
            for listener in self.listeners:
                listener.alarm_cleared(alarm.row, time)
