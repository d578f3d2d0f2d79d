"""Turns condition transitions into alarm rows: one row per (condition, sensor) episode.

This is the spine's simple mapping (a condition is an alarm); the rule engine and the ISA-18.2
alarm book replace the mapping, keeping this module's store contract.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from daemon.metrics import Metrics
from daemon.store.writer import StoreWriter
from detectors.conditions import ConditionEvents
from rules.sensor_table import SensorTable

DEFAULT_PRIORITY = {"threshold.high": "medium", "threshold.high_high": "high", "threshold.low": "medium"}


@dataclass(slots=True)
class OpenAlarm:
    """An alarm whose condition is still active."""

    id: int
    priority: str


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

    def restore(self, condition: str, sensor: int, alarm_id: int, priority: str) -> None:
        """Take over an alarm left open by a previous run."""
        self.open[(condition, sensor)] = OpenAlarm(alarm_id, priority)

    def active_conditions(self) -> Iterable[tuple[str, int]]:
        """Open (condition, sensor) pairs, for the sensor-state metrics."""
        return list(self.open)

    def alarm_states(self) -> Iterable[tuple[str, str]]:
        """(priority, state) of each open alarm; the spine never acknowledges, so all are active_unack."""
        return [(alarm.priority, "active_unack") for alarm in self.open.values()]

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
        self.open[(condition, sensor)] = OpenAlarm(alarm_id, priority)
        verb = "below" if condition.endswith("low") else "above"
        self._writer.add_alarm(
            {
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
        )
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

    def _clear(self, key: tuple[str, int], time: float, value: float) -> None:
        alarm = self.open.pop(key)
        self._writer.update_alarm(
            alarm.id, {"state": "returned_unacknowledged", "cleared_at": time, "updated_at": time}
        )
        self._writer.add_alarm_event(
            {
                "alarm_id": alarm.id,
                "time": time,
                "from_state": "active_unacknowledged",
                "to_state": "returned_unacknowledged",
                "actor": "system",
                "reason": f"returned to normal at {value:g}",
            }
        )
