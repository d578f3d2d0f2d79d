"""Condition transitions → rules → ISA-18.2 alarm book → emergency-plan incidents, with every change stored.

The engines in ``rules/`` and ``plans/`` are pure and in memory; this module is where their output
becomes rows: one alarm row per episode (raise to normal), a journal row per transition, incident
rows with their timeline and checklist, and outbox rows for every page, all queued on the same
writer so they commit together.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from daemon.metrics.instruments import Metrics
from daemon.notify.config import NotifyConfig
from daemon.notify.person_pages import PersonPages
from daemon.store.row_ids import RowIds
from daemon.store.writer import StoreWriter
from detectors.conditions import ConditionEvents
from detectors.hysteresis import SortedBatch
from detectors.readings import ReadingBatch
from plans.engine import IncidentEngine
from plans.incident import IncidentChanges, NotificationIntent
from rules.alarm import AlarmState, AlarmTransition
from rules.book import AlarmBook
from rules.engine import RuleEngine
from rules.sensor_table import SensorTable

log = logging.getLogger(__name__)

ACKED_STATES = frozenset({AlarmState.ACTIVE_ACKED, AlarmState.LATCHED_ACKED})


class AlarmListener(Protocol):
    """Told about every stored raise and return to normal (direct notification routes)."""

    def alarm_raised(self, alarm: dict[str, Any]) -> None:
        """A new alarm row was queued, annunciated (active, unacknowledged)."""
        ...

    def alarm_cleared(self, alarm_row_id: int, time: float) -> None:
        """The alarm's process condition returned to normal at ``time``."""
        ...

    def alarm_reactivated(self, alarm_row_id: int, time: float, value: float | None) -> None:
        """The condition came back before the episode ended (returned, not yet acknowledged)."""
        ...


@dataclass(frozen=True, slots=True)
class QueuedPage:
    """A plan page as queued: the engine's intent, the rows it belongs to and the sensors of its alarms."""

    page: NotificationIntent
    incident_row: int | None
    alarm_row: int | None
    sensors: tuple[int, ...]  # table indices, for routes that filter by kind or zone


class PageListener(Protocol):
    """Told about every plan page after its outbox rows were queued (drill pages → drill routes)."""

    def page_queued(self, queued: QueuedPage) -> None:
        """The page's rows are queued on the writer; queue more with them if needed."""
        ...


@dataclass(frozen=True, slots=True)
class FlowRowIds:
    """Where the flow numbers the rows it creates (the live range, or its drill run's: ``daemon.store.row_ids``)."""

    alarms: RowIds
    incidents: RowIds
    checklist_items: RowIds


@dataclass
class Episode:
    """The stored row of an alarm between its raise and its return to normal."""

    row_id: int
    priority: str
    cleared: bool = False


@dataclass
class FlowState:
    """Everything that must survive a restart besides the detectors: it is checkpointed as one unit."""

    rules: RuleEngine
    book: AlarmBook
    incidents: IncidentEngine
    episodes: dict[str, Episode] = field(default_factory=dict)
    conditions_on: dict[tuple[str, int], float] = field(default_factory=dict)  # (condition, sensor) -> value
    levels_on: dict[tuple[str, int], float] = field(default_factory=dict)  # (condition, sensor) -> level crossed
    incident_rows: dict[str, int] = field(default_factory=dict)
    checklist_rows: dict[tuple[str, str], int] = field(default_factory=dict)


class AlarmFlow:
    """Feeds the engines and turns what they return into queued writes and metrics."""

    def __init__(
        self,
        table: SensorTable,
        state: FlowState,
        writer: StoreWriter,
        metrics: Metrics,
        *,
        row_ids: FlowRowIds,
        page_key_prefix: str = "",
    ) -> None:
        self.table = table
        self.state = state
        self._writer = writer
        self._metrics = metrics
        self._ids = row_ids
        # Plan page ids repeat from run to run (a replay of the same file pages the same way): a drill's outbox keys
        # carry its run, or a second drill into the same database would find its pages "already queued".
        self._page_key_prefix = page_key_prefix
        self.page_listeners: list[PageListener] = []
        self.listeners: list[AlarmListener] = []
        # Pages become per-person channel chains; the service replaces this with its configured one.
        self.person_pages = PersonPages(NotifyConfig(), secrets.token_bytes(32))
        self._service_alarms: dict[tuple[str, str], int] = {}
        # Condition transitions seen so far: the service checkpoints the state with the rows of a batch that changed
        # one (a pending on-delay must survive a crash as much as a raised alarm).
        self.condition_changes = 0

    @property
    def row_ids(self) -> FlowRowIds:
        """Where new rows are numbered (an HA takeover moves it past the ids the old leader stored)."""
        return self._ids

    # ---- input

    def on_batch(
        self,
        now: float,
        conditions: Sequence[ConditionEvents],
        batch: ReadingBatch,
        valid: NDArray[np.bool_],
        sorted_batch: SortedBatch | None,
    ) -> None:
        """One pipeline batch: rules see the condition transitions and run their own level comparisons."""
        self._note(conditions)
        events = self.state.rules.process(now, conditions, batch=batch, valid=valid, sorted_batch=sorted_batch)
        self._after_book(self.state.book.on_condition(events, now), now)

    def on_conditions(self, now: float, conditions: Sequence[ConditionEvents]) -> None:
        """Condition transitions that come without readings (time-driven detectors, device status, reloads)."""
        if conditions:
            self._note(conditions)
            self._after_book(self.state.book.on_condition(self.state.rules.process(now, conditions), now), now)

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

    def _level_of(self, tr: AlarmTransition) -> float | None:
        """The level the alarm's value crossed: from its condition, or its rule's ``level`` parameters."""
        level = self.state.levels_on.get((tr.condition, tr.sensor))
        if level is None or not math.isfinite(level):
            rule = self.state.book.rules.get(tr.rule_id)
            params = rule.condition.params if rule is not None else None
            level = None if params is None else params.above if params.above is not None else params.below
        return None if level is None else _finite(level)

    def tick(self, now: float) -> None:
        """Time passing: delayed rule events, shelf expiry, re-alarm, escalation and report reminders."""
        events = self.state.rules.process(now)
        transitions = self.state.book.on_condition(events, now) if events else []
        transitions += self.state.book.tick(now)
        self._after_book(transitions, now)
        self._store_incident_changes(self.state.incidents.tick(now), now)

    def apply_transitions(self, transitions: list[AlarmTransition], now: float) -> None:
        """Store transitions caused by a person (acknowledge, shelve, ...) and let the plan see them."""
        self._after_book(transitions, now)

    def apply_incident_changes(self, changes: IncidentChanges, now: float) -> None:
        """Store incident changes caused by a person (confirm level, comment, close, ...)."""
        self._store_incident_changes(changes, now)

    def _after_book(self, transitions: list[AlarmTransition], now: float) -> None:
        if not transitions:
            return
        for transition in transitions:
            self._store_transition(transition)
        self._store_incident_changes(self.state.incidents.on_transitions(transitions, now), now)

    # ---- alarms

    def _store_transition(self, tr: AlarmTransition) -> None:
        episodes = self.state.episodes
        episode = episodes.get(tr.alarm_id)
        if episode is None:
            if tr.to_state is AlarmState.NORMAL:
                return  # nothing was ever shown for it
            episode = Episode(self._ids.alarms.take(), tr.priority.value)
            episodes[tr.alarm_id] = episode
            self._insert_alarm(episode.row_id, tr)
            if tr.to_state is AlarmState.ACTIVE_UNACK:
                self._metrics.alarms_raised.labels(tr.priority.value).inc()
            log.info(
                "alarm %d raised: %s %s on %s (%s), value %s%s",
                episode.row_id, tr.priority.value, tr.rule_id, tr.sensor_id, tr.to_state.value,
                _finite(tr.value), _drill_tag(self.state.incidents.drill),
            )  # fmt: skip
        else:
            changes: dict[str, object] = {"state": tr.to_state.value, "updated_at": tr.time, "value": _finite(tr.value)}
            if not tr.process_active and not episode.cleared:
                episode.cleared = True
                changes["cleared_at"] = tr.time
                log.info(
                    "alarm %d cleared: %s on %s returned to normal (%s)%s",
                    episode.row_id, tr.rule_id, tr.sensor_id, tr.to_state.value, _drill_tag(self.state.incidents.drill),
                )  # fmt: skip
                for listener in self.listeners:
                    listener.alarm_cleared(episode.row_id, tr.time)
            elif tr.process_active and episode.cleared:
                episode.cleared = False
                changes["cleared_at"] = None
                for listener in self.listeners:
                    listener.alarm_reactivated(episode.row_id, tr.time, _finite(tr.value))
            if tr.to_state in ACKED_STATES and tr.from_state not in ACKED_STATES:
                changes["acknowledged_at"] = tr.time
                changes["acknowledged_by"] = tr.actor
            if tr.to_state is AlarmState.SHELVED:
                changes["shelved_until"] = self.state.book.get(tr.alarm_id).shelved_until
            elif tr.from_state is AlarmState.SHELVED:
                changes["shelved_until"] = None
            changes["latched"] = tr.to_state in (AlarmState.LATCHED_UNACK, AlarmState.LATCHED_ACKED)
            self._writer.update_alarm(episode.row_id, changes)
        self._writer.add_alarm_event(
            {
                "alarm_id": episode.row_id,
                "time": tr.time,
                "from_state": tr.from_state.value,
                "to_state": tr.to_state.value,
                "actor": tr.actor,
                "reason": tr.reason,
            }
        )
        if tr.to_state is AlarmState.NORMAL:
            del episodes[tr.alarm_id]

    def end_episode(self, alarm_id: str, now: float, reason: str) -> None:
        """Close the stored episode of an alarm that no longer exists (its rule was removed)."""
        episode = self.state.episodes.pop(alarm_id, None)
        if episode is None:
            return
        self._writer.update_alarm(episode.row_id, {"state": AlarmState.NORMAL.value, "updated_at": now})
        self._writer.add_alarm_event(
            {"alarm_id": episode.row_id, "time": now, "from_state": None, "to_state": AlarmState.NORMAL.value,
             "actor": "system", "reason": reason}
        )  # fmt: skip

    def _insert_alarm(self, row_id: int, tr: AlarmTransition) -> None:
        table = self.table
        spec = table.sensors[tr.sensor]
        device = table.devices[int(table.device_of[tr.sensor])]
        alarm = self.state.book.alarms.get(tr.alarm_id)
        row: dict[str, Any] = {
            "id": row_id,
            "alarm_key": tr.alarm_id,
            "rule": tr.rule_id,
            "sensor_id": tr.sensor_id,
            "device_id": device.id,
            "site": table.site.site,
            "zone": device.zone,
            "kind": spec.kind.value,
            "priority": tr.priority.value,
            "state": tr.to_state.value,
            "classification": tr.classification.value,
            "message": tr.message_en,
            "message_zh": tr.message_zh,
            "value": _finite(tr.value),
            "level": self._level_of(tr),
            "raised_at": tr.time,
            "cleared_at": None if tr.process_active else tr.time,
            "updated_at": tr.time,
            "latched": bool(alarm and alarm.latching and not tr.process_active),
        }
        self._writer.add_alarm(row)
        if tr.to_state is AlarmState.ACTIVE_UNACK:
            for listener in self.listeners:
                listener.alarm_raised(row)

    def raise_service_alarm(
        self, rule: str, subject: str, message: str, now: float, *, notify_routes: bool = False
    ) -> None:
        """An alarm about the service itself (e.g. a failing notification channel), once until cleared.

        With ``notify_routes`` the alarm routes hear it too (a page that reached nobody goes to every system route).
        """
        if (rule, subject) in self._service_alarms:
            return
        row_id = self._ids.alarms.take()
        self._service_alarms[(rule, subject)] = row_id
        row = {"id": row_id, "alarm_key": f"{rule}/{subject}", "rule": rule, "sensor_id": subject,
             "device_id": "hazwatch", "site": self.table.site.site, "zone": "hazwatch", "kind": "service",
             "priority": "high", "state": AlarmState.ACTIVE_UNACK.value, "classification": "service",
             "message": message, "message_zh": message, "value": None, "level": None, "raised_at": now,
             "cleared_at": None, "updated_at": now, "latched": False}  # fmt: skip
        self._writer.add_alarm(row)
        self._writer.add_alarm_event(
            {"alarm_id": row_id, "time": now, "from_state": None, "to_state": AlarmState.ACTIVE_UNACK.value,
             "actor": "system", "reason": message}
        )  # fmt: skip
        if notify_routes:
            for listener in self.listeners:
                listener.alarm_raised(row)
        self._metrics.alarms_raised.labels("high").inc()

    def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
        """Clear a service alarm raised by ``raise_service_alarm``."""
        row_id = self._service_alarms.pop((rule, subject), None)
        if row_id is None:
            return
        self._writer.update_alarm(row_id, {"state": AlarmState.NORMAL.value, "cleared_at": now, "updated_at": now})
        self._writer.add_alarm_event(
            {"alarm_id": row_id, "time": now, "from_state": AlarmState.ACTIVE_UNACK.value,
             "to_state": AlarmState.NORMAL.value, "actor": "system", "reason": "service recovered"}
        )  # fmt: skip

    def _store_incident_changes(self, changes: IncidentChanges, now: float) -> None:
        if not changes:
            return
        touched: list[str] = []
        for position, entry in enumerate(changes.timeline):
            row_id = self._incident_row(entry.incident_id, entry.time)
            if entry.incident_id not in touched:
                touched.append(entry.incident_id)
            detail: dict[str, object] = {"text": entry.text, **changes.details.get(position, {})}
            if entry.kind in _LOGGED_INCIDENT_EVENTS:
                log.info("incident %d %s: %s%s", row_id, entry.kind, entry.text, _drill_tag(self.state.incidents.drill))
            self._writer.add_incident_event(
                {
                    "incident_id": row_id,
                    "time": entry.time,
                    "type": entry.kind,
                    "actor": entry.actor,
                    "detail": json.dumps(detail, ensure_ascii=False),
                    "ref": entry.ref,
                }
            )
        for key in touched:
            self._sync_incident(key, now)
        for note in changes.notifications:
            self._enqueue(note)

    def _incident_row(self, key: str, time: float) -> int:
        rows = self.state.incident_rows
        if key not in rows:
            incident = self.state.incidents.incident(key)
            rows[key] = self._ids.incidents.take()
            self._writer.add_incident(
                {
                    "id": rows[key],
                    "key": key,
                    "site": incident.site,
                    "zone": None,
                    "title": self._incident_title(incident.trigger_ids),
                    "proposed_tier": incident.proposed_tier.value if incident.proposed_tier else "none",
                    "confirmed_level": None,
                    "state": incident.status.value,
                    "opened_at": incident.opened_at,
                    "updated_at": time,
                    "detail": "{}",
                }
            )
        return rows[key]

    def _sync_incident(self, key: str, now: float) -> None:
        incident = self.state.incidents.incident(key)
        row_id = self.state.incident_rows[key]
        zones = sorted(
            {
                self.table.zone[self.table.index[a.split("@", 1)[1]]]
                for a in incident.alarm_ids
                if a.split("@", 1)[-1] in self.table.index
            }
        )
        kinds = sorted(
            {
                self.table.sensors[self.table.index[a.split("@", 1)[1]]].kind.value
                for a in incident.alarm_ids
                if a.split("@", 1)[-1] in self.table.index
            }
        )
        page = self.state.incidents.pending_page(key) if incident.status.value != "closed" else None
        detail = {
            "alarm_ids": incident.alarm_ids,
            "trigger_ids": incident.trigger_ids,
            "triggers": [self.state.incidents.trigger_description(t) for t in incident.trigger_ids],
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
        self._writer.update_incident(
            row_id,
            {
                "title": self._incident_title(incident.trigger_ids),
                "proposed_tier": incident.proposed_tier.value if incident.proposed_tier else "none",
                "confirmed_level": incident.confirmed_tier.response_level if incident.confirmed_tier else None,
                "state": incident.status.value,
                "zone": zones[0] if len(zones) == 1 else None,
                "closed_at": incident.closed_at,
                "closed_by": incident.closed_by or None,
                "updated_at": now,
                "detail": json.dumps(detail, ensure_ascii=False),
            },
        )
        for position, action in enumerate(incident.actions.values()):
            item = (key, action.action_id)
            if item not in self.state.checklist_rows:
                self.state.checklist_rows[item] = self._ids.checklist_items.take()
                self._writer.add_checklist_item(
                    {
                        "id": self.state.checklist_rows[item],
                        "incident_id": row_id,
                        "tier": action.tier.value,
                        "position": position,
                        "text": action.text,
                        "due_at": None,
                        "done_at": action.done_at,
                        "done_by": action.done_by or None,
                    }
                )
            elif action.done_at is not None:
                self._writer.update_checklist_item(
                    self.state.checklist_rows[item], {"done_at": action.done_at, "done_by": action.done_by}
                )

    def _incident_title(self, trigger_ids: Sequence[str]) -> str:
        """A readable title: what the plan says its latest trigger means, or that an alarm flood opened it."""
        if not trigger_ids:
            return f"报警泛滥 / alarm flood · {self.table.site.name}"
        return self.state.incidents.trigger_description(trigger_ids[-1])

    def _enqueue(self, note: NotificationIntent) -> None:
        incident_row = self.state.incident_rows.get(note.incident_id) if note.incident_id else None
        alarm_row = None
        if note.alarm_ids and note.incident_id is None:
            episode = self.state.episodes.get(note.alarm_ids[0])
            alarm_row = episode.row_id if episode else None
        self.person_pages.site = (self.table.site.site, self.table.site.name)
        page = self.person_pages.rows(
            note, incident_row=incident_row, alarm_row=alarm_row, key_prefix=self._page_key_prefix
        )
        for link in page.links:
            self._writer.add_page_link(link)
        for row in page.notifications:
            self._writer.add_notification(row)
        if self.page_listeners:
            queued = QueuedPage(note, incident_row, alarm_row, self._page_sensors(note))
            for listener in self.page_listeners:
                listener.page_queued(queued)

    def _page_sensors(self, note: NotificationIntent) -> tuple[int, ...]:
        """The sensors of the alarms a page is about (alarm keys are ``rule@sensor``)."""
        index = self.table.index
        sensors = (key.split("@", 1)[-1] for key in note.alarm_ids)
        return tuple(dict.fromkeys(index[s] for s in sensors if s in index))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _drill_tag(drill: bool) -> str:
    return " [drill]" if drill else ""


# Incident events a log shipper should see: the story of the incident, not every grouped alarm.
_LOGGED_INCIDENT_EVENTS = frozenset(
    {"opened", "tier_raised", "escalated", "escalation_exhausted", "level_confirmed", "closed", "reopened", "all_clear"}
)
