"""Adapters that let the rule engine's alarm book and the plan's incident engine feed the metric collectors.

Wire them once both run in the service:
``sources.alarms = sources.conditions = AlarmBookMetrics(book)``,
``sources.service_status = AlarmBookMetrics(book)``, ``sources.incidents = IncidentEngineMetrics(engine)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from plans.engine import IncidentEngine
from plans.incident import IncidentStatus
from rules.book import AlarmBook


class AlarmBookMetrics:
    """Alarm states, open conditions and out-of-service sensors, read from an ``AlarmBook``."""

    def __init__(self, book: AlarmBook) -> None:
        self._book = book

    def alarm_states(self) -> Iterable[tuple[str, str]]:
        """(priority, state) of every alarm not in the normal state."""
        return [(alarm.priority.value, alarm.state.value) for alarm in self._book.standing()]

    def active_conditions(self) -> Iterable[tuple[str, int]]:
        """(condition, sensor) of every alarm whose condition is active now, whatever its acknowledgement."""
        return [(alarm.condition, alarm.sensor) for alarm in self._book.alarms.values() if alarm.process_active]

    def out_of_service_sensors(self) -> Iterable[int]:
        """Sensors a person put out of service."""
        return list(self._book.out_of_service_sensors)


class IncidentEngineMetrics:
    """Tiers of the open incidents, read from an ``IncidentEngine``."""

    def __init__(self, engine: IncidentEngine) -> None:
        self._engine = engine

    def open_incident_tiers(self) -> Iterable[str]:
        """The confirmed tier of each incident not closed, else the proposed one; flood groupings have none."""
        tiers: list[str] = []
        for incident in self._engine.incidents.values():
            if incident.status is IncidentStatus.CLOSED:
                continue
            tier = incident.confirmed_tier or incident.proposed_tier
            if tier is not None:
                tiers.append(tier.value)
        return tiers
