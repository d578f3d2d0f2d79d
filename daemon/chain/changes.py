"""What one step of the alarm chain changed: the value the chain returns and the recorder stores.

Everything the recorder needs to write rows is in here, read from the engines when the step ended, so the recorder
never looks into an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from plans.incident import NotificationIntent, TimelineEntry
from rules.alarm import AlarmTransition


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """One alarm transition with the alarm book's facts about it at that moment."""

    transition: AlarmTransition
    level: float | None  # the level the value crossed (from its condition or its rule); None if unknown
    shelved_until: float | None  # set when the transition enters SHELVED
    latching: bool


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A checklist item of an incident as it stands."""

    action_id: str
    tier: str
    text: str
    done_at: float | None
    done_by: str


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident touched by the step, as it stands after it: what its stored row says."""

    key: str
    site: str
    title: str
    proposed_tier: str  # blue/yellow/orange/red, or "none" for an alarm-flood grouping
    confirmed_level: str | None  # IV/III/II/I once a person confirmed a tier
    status: str
    opened_at: float
    closed_at: float | None
    closed_by: str | None
    zone: str | None  # the one zone of its alarms, None for none or several
    detail: Mapping[str, object]  # JSON-ready: alarms, triggers, zones, kinds, open escalation, reports
    actions: tuple[ActionRecord, ...]


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything one chain step (a batch, a tick, a person's action) changed, in the order it happened.

    ``details`` holds structured facts of some timeline lines by their position in ``timeline``;
    ``incidents`` holds every incident the timeline touched, in the order it was first touched.
    """

    time: float
    drill: bool
    alarms: tuple[AlarmChange, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    details: Mapping[int, Mapping[str, object]] = field(default_factory=dict)
    incidents: tuple[IncidentRecord, ...] = ()
    pages: tuple[NotificationIntent, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.alarms or self.timeline or self.pages)
