"""The pure alarm chain: condition transitions → rules → ISA-18.2 alarm book → emergency-plan incidents.

Each step takes its input and returns one ``ChangeSet`` (defined here: what a step changed, read from the engines
when the step ended, so the recorder never looks into an engine); it queues no rows and reads no clock (time is
passed in). ``daemon.chain.recorder`` turns the change sets into rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from daemon.chain.flow_state import FlowState
from detectors.conditions import ConditionEvents
from detectors.hysteresis import SortedBatch
from detectors.readings import ReadingBatch
from plans.incident import Incident, IncidentChanges, IncidentStatus, NotificationIntent, TimelineEntry
from plans.model import Plan
from plans.roster import Roster
from rules.alarm import AlarmState, AlarmTransition
from rules.model import Rule
from rules.sensor_table import SensorTable


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


class AlarmChain:
    """Feeds the engines held in ``state`` and returns what each step changed."""

    def __init__(self, table: SensorTable, state: FlowState) -> None:
        self.table = table
        self.state = state
        # Condition transitions seen so far: the service checkpoints the state with the rows of a batch that changed
        # one (a pending on-delay must survive a crash as much as a raised alarm).
        self.condition_changes = 0

    # ---- steps

    def on_batch(
        self,
        now: float,
        conditions: Sequence[ConditionEvents],
        batch: ReadingBatch,
        valid: NDArray[np.bool_],
        sorted_batch: SortedBatch | None,
    ) -> ChangeSet:
        """One pipeline batch: rules see the condition transitions and run their own level comparisons."""
        self._note(conditions)
        events = self.state.rules.process(now, conditions, batch=batch, valid=valid, sorted_batch=sorted_batch)
        return self.transitions(self.state.book.on_condition(events, now), now)

    def on_conditions(self, now: float, conditions: Sequence[ConditionEvents]) -> ChangeSet:
        """Condition transitions that come without readings (time-driven detectors, device status, reloads)."""
        if not conditions:
            return ChangeSet(now, self.state.incidents.drill)
        self._note(conditions)
        return self.transitions(self.state.book.on_condition(self.state.rules.process(now, conditions), now), now)

    def tick(self, now: float) -> ChangeSet:
        """Time passing: delayed rule events, shelf expiry, re-alarm, escalation and report reminders."""
        events = self.state.rules.process(now)
        transitions = self.state.book.on_condition(events, now) if events else []
        transitions += self.state.book.tick(now)
        incident_changes = [self.state.incidents.on_transitions(transitions, now)] if transitions else []
        incident_changes.append(self.state.incidents.tick(now))
        return self._change_set(now, transitions, incident_changes)

    def transitions(self, transitions: list[AlarmTransition], now: float) -> ChangeSet:
        """Alarm transitions (from the book, or a person's acknowledge or shelve) and what the plan makes of them."""
        if not transitions:
            return ChangeSet(now, self.state.incidents.drill)
        return self._change_set(now, transitions, [self.state.incidents.on_transitions(transitions, now)])

    def incident_changes(self, changes: IncidentChanges, now: float) -> ChangeSet:
        """Incident changes a person caused (confirm level, comment, close, ...) through the incident engine."""
        return self._change_set(now, [], [changes])

    # ---- reloads

    def reload(self, rules: Sequence[Rule], plan: Plan, roster: Roster) -> list[str]:
        """Put new rules, plan and roster in force; returns the alarms that ended because their rule is gone.

        Alarms whose rule still exists keep their state; open incidents continue under the new plan.
        """
        state = self.state
        state.rules = state.rules.with_rules(rules)
        state.book, dropped = state.book.with_rules(rules)
        state.incidents.use_plan(plan, roster)
        return dropped

    def active_conditions(self, now: float) -> list[ConditionEvents]:
        """Every condition the detectors hold on right now, as "on" events at ``now`` (so a new rule sees it)."""
        by_name: dict[str, list[tuple[int, float]]] = {}
        for (name, sensor), value in self.state.conditions_on.items():
            by_name.setdefault(name, []).append((sensor, value))
        out: list[ConditionEvents] = []
        for name, items in sorted(by_name.items()):
            sensors = np.array([sensor for sensor, _ in items], np.int32)
            out.append(
                ConditionEvents(
                    name,
                    sensors,
                    np.full(sensors.shape[0], now),
                    np.ones(sensors.shape[0], np.bool_),
                    np.array([value for _, value in items], np.float64),
                    np.full(sensors.shape[0], np.nan),
                )
            )
        return out

    # ---- the change set

    def _note(self, conditions: Sequence[ConditionEvents]) -> None:
        """Remember which conditions are on, so rules added by a reload can see them at once."""
        on, levels = self.state.conditions_on, self.state.levels_on
        for events in conditions:
            self.condition_changes += len(events.sensor)
            for sensor, active, value, level in zip(
                events.sensor.tolist(),
                events.active.tolist(),
                events.value.tolist(),
                events.level.tolist(),
                strict=True,
            ):
                key = (events.condition, sensor)
                if active:
                    on[key] = value
                    levels[key] = level
                else:
                    on.pop(key, None)
                    levels.pop(key, None)

    def _change_set(
        self, now: float, transitions: list[AlarmTransition], incident_changes: list[IncidentChanges]
    ) -> ChangeSet:
        book = self.state.book
        alarms = []
        for tr in transitions:
            alarm = book.alarms.get(tr.alarm_id)
            shelved = book.get(tr.alarm_id).shelved_until if tr.to_state is AlarmState.SHELVED else None
            alarms.append(AlarmChange(tr, self._level_of(tr), shelved, bool(alarm and alarm.latching)))
        timeline: list[TimelineEntry] = []
        details: dict[int, dict[str, object]] = {}
        pages: list[NotificationIntent] = []
        for changes in incident_changes:
            details.update({len(timeline) + position: detail for position, detail in changes.details.items()})
            timeline.extend(changes.timeline)
            pages.extend(changes.notifications)
        touched = dict.fromkeys(entry.incident_id for entry in timeline)
        return ChangeSet(
            now,
            self.state.incidents.drill,
            tuple(alarms),
            tuple(timeline),
            details,
            tuple(self._record(key) for key in touched),
            tuple(pages),
        )

    def _level_of(self, tr: AlarmTransition) -> float | None:
        """The level the alarm's value crossed: from its condition, or its rule's ``level`` parameters."""
        level = self.state.levels_on.get((tr.condition, tr.sensor))
        if level is None or not math.isfinite(level):
            rule = self.state.book.rules.get(tr.rule_id)
            params = rule.condition.params if rule is not None else None
            level = None if params is None else params.above if params.above is not None else params.below
        return None if level is None or not math.isfinite(level) else float(level)

    def _record(self, key: str) -> IncidentRecord:
        engine = self.state.incidents
        incident = engine.incident(key)
        sensors = [self.table.index[s] for s in _alarm_sensors(incident) if s in self.table.index]
        zones = sorted({self.table.zone[sensor] for sensor in sensors})
        kinds = sorted({self.table.sensors[sensor].kind.value for sensor in sensors})
        page = engine.pending_page(key) if incident.status is not IncidentStatus.CLOSED else None
        detail = {
            "alarm_ids": list(incident.alarm_ids),
            "trigger_ids": list(incident.trigger_ids),
            "triggers": [engine.trigger_description(t) for t in incident.trigger_ids],
            "zones": zones,
            "kinds": kinds,
            # the open page: nobody acknowledged it yet; at due_at it escalates to next_role (None: chain ends)
            "escalation": None if page is None else {"due_at": page[0], "next_role": page[1]},
            "reports": [
                {
                    "id": r.report_id,
                    "name": r.name,
                    "to": r.to,
                    "role": r.role,
                    "due_at": r.due_at,
                    "sent_at": r.sent_at,
                    "sent_by": r.sent_by,
                }
                for r in incident.reports.values()
            ],
        }
        return IncidentRecord(
            key=key,
            site=incident.site,
            title=self._title(incident),
            proposed_tier=incident.proposed_tier.value if incident.proposed_tier else "none",
            confirmed_level=incident.confirmed_tier.response_level if incident.confirmed_tier else None,
            status=incident.status.value,
            opened_at=incident.opened_at,
            closed_at=incident.closed_at,
            closed_by=incident.closed_by or None,
            zone=zones[0] if len(zones) == 1 else None,
            detail=detail,
            actions=tuple(
                ActionRecord(a.action_id, a.tier.value, a.text, a.done_at, a.done_by) for a in incident.actions.values()
            ),
        )

    def _title(self, incident: Incident) -> str:
        """A readable title: what the plan says its latest trigger means, or that an alarm flood opened it."""
        if not incident.trigger_ids:
            return f"报警泛滥 / alarm flood · {self.table.site.name}"
        return self.state.incidents.trigger_description(incident.trigger_ids[-1])


def _alarm_sensors(incident: Incident) -> list[str]:
    """The sensor ids of an incident's alarms (alarm keys are ``rule@sensor``)."""
    return [alarm_id.split("@", 1)[1] for alarm_id in incident.alarm_ids if "@" in alarm_id]
