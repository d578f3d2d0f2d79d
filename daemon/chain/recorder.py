"""Turns the alarm chain's change sets into typed rows on the store writer, and tells the listeners.

One alarm row per episode (raise to normal), a journal row per transition, incident rows with their timeline and
checklist, and the outbox rows of every page, all queued on the same writer so they commit together.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Protocol

from daemon.chain.alarm_chain import AlarmChange, ChangeSet, IncidentRecord
from daemon.chain.flow_state import Episode, FlowState
from daemon.metrics.instruments import Metrics
from daemon.notify.config import NotifyConfig
from daemon.notify.outbox import Outbox, OutboxSink
from daemon.store.row_ids import RowIds
from daemon.store.rows import AlarmEventRow, AlarmRow, AlarmUpdate, IncidentUpdate
from daemon.store.writer import StoreWriter
from plans.incident import NotificationIntent
from rules.alarm import AlarmState
from rules.sensor_table import SensorTable

log = logging.getLogger(__name__)

ACKED_STATES = frozenset({AlarmState.ACTIVE_ACKED, AlarmState.LATCHED_ACKED})
LATCHED_STATES = frozenset({AlarmState.LATCHED_UNACK, AlarmState.LATCHED_ACKED})


class AlarmListener(Protocol):
    """Told about every stored raise and return to normal (direct notification routes).

    ``now`` is the time of the chain step that made the change, read once where the batch (or tick, or action)
    entered: a listener reads no clock of its own.
    """

    def alarm_raised(self, alarm: AlarmRow, now: float) -> None:
        """A new alarm row was queued, annunciated (active, unacknowledged)."""
        ...

    def alarm_cleared(self, alarm_row_id: int, time: float, now: float) -> None:
        """The alarm's process condition returned to normal at ``time``."""
        ...

    def alarm_reactivated(self, alarm_row_id: int, time: float, value: float | None, now: float) -> None:
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
    """Where the recorder numbers the rows it creates (the live range, or its drill run's: ``daemon.store.row_ids``)."""

    alarms: RowIds
    incidents: RowIds
    checklist_items: RowIds


class ChangeRecorder:
    """Stores change sets: which row an episode or incident is lives in ``state``, checkpointed with the engines."""

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
        self.row_ids = row_ids
        # Plan page ids repeat from run to run (a replay of the same file pages the same way): a drill's outbox keys
        # carry its run, or a second drill into the same database would find its pages "already queued".
        self._page_key_prefix = page_key_prefix
        self.page_listeners: list[PageListener] = []
        self.listeners: list[AlarmListener] = []
        # Pages become per-person channel chains; the service replaces this with its configured one.
        self.outbox = Outbox(NotifyConfig(), secrets.token_bytes(32))
        self._service_alarms: dict[tuple[str, str], int] = {}

    def record(self, changes: ChangeSet) -> None:
        """Queue the rows of one change set: alarms first, then the incidents and pages they caused."""
        for change in changes.alarms:
            self._alarm(change, changes.drill, changes.time)
        self._incidents(changes)
        for page in changes.pages:
            self._page(page)

    # ---- alarms

    def _alarm(self, change: AlarmChange, drill: bool, now: float) -> None:
        tr = change.transition
        episodes = self.state.episodes
        episode = episodes.get(tr.alarm_id)
        if episode is None:
            if tr.to_state is AlarmState.NORMAL:
                return  # nothing was ever shown for it
            episode = Episode(self.row_ids.alarms.take(), tr.priority.value)
            episodes[tr.alarm_id] = episode
            self._insert_alarm(episode.row_id, change, now)
            if tr.to_state is AlarmState.ACTIVE_UNACK:
                self._metrics.alarms_raised.labels(tr.priority.value).inc()
            log.info(
                "alarm %d raised: %s %s on %s (%s), value %s%s",
                episode.row_id, tr.priority.value, tr.rule_id, tr.sensor_id, tr.to_state.value,
                _finite(tr.value), _drill_tag(drill),
            )  # fmt: skip
        else:
            update: AlarmUpdate = {"state": tr.to_state.value, "updated_at": tr.time, "value": _finite(tr.value)}
            if not tr.process_active and not episode.cleared:
                episode.cleared = True
                update["cleared_at"] = tr.time
                log.info(
                    "alarm %d cleared: %s on %s returned to normal (%s)%s",
                    episode.row_id, tr.rule_id, tr.sensor_id, tr.to_state.value, _drill_tag(drill),
                )  # fmt: skip
                for listener in self.listeners:
                    listener.alarm_cleared(episode.row_id, tr.time, now)
            elif tr.process_active and episode.cleared:
                episode.cleared = False
                update["cleared_at"] = None
                for listener in self.listeners:
                    listener.alarm_reactivated(episode.row_id, tr.time, _finite(tr.value), now)
            if tr.to_state in ACKED_STATES and tr.from_state not in ACKED_STATES:
                update["acknowledged_at"] = tr.time
                update["acknowledged_by"] = tr.actor
            if tr.to_state is AlarmState.SHELVED:
                update["shelved_until"] = change.shelved_until
            elif tr.from_state is AlarmState.SHELVED:
                update["shelved_until"] = None
            update["latched"] = tr.to_state in LATCHED_STATES
            self._writer.update_alarm(episode.row_id, update)
        self._writer.add_alarm_event(
            AlarmEventRow(
                alarm_id=episode.row_id,
                time=tr.time,
                from_state=tr.from_state.value,
                to_state=tr.to_state.value,
                actor=tr.actor,
                reason=tr.reason,
            )
        )
        if tr.to_state is AlarmState.NORMAL:
            del episodes[tr.alarm_id]

    def _insert_alarm(self, row_id: int, change: AlarmChange, now: float) -> None:
        tr = change.transition
        table = self.table
        spec = table.sensors[tr.sensor]
        device = table.devices[int(table.device_of[tr.sensor])]
        row = AlarmRow(
            id=row_id,
            alarm_key=tr.alarm_id,
            rule=tr.rule_id,
            sensor_id=tr.sensor_id,
            device_id=device.id,
            site=table.site.site,
            zone=device.zone,
            kind=spec.kind.value,
            priority=tr.priority.value,
            state=tr.to_state.value,
            classification=tr.classification.value,
            message=tr.message_en,
            message_zh=tr.message_zh,
            value=_finite(tr.value),
            level=change.level,
            raised_at=tr.time,
            cleared_at=None if tr.process_active else tr.time,
            updated_at=tr.time,
            latched=change.latching and not tr.process_active,
        )
        self._writer.add_alarm(row)
        if tr.to_state is AlarmState.ACTIVE_UNACK:
            for listener in self.listeners:
                listener.alarm_raised(row, now)

    def end_episode(self, alarm_id: str, now: float, reason: str) -> None:
        """Close the stored episode of an alarm that no longer exists (its rule was removed)."""
        episode = self.state.episodes.pop(alarm_id, None)
        if episode is None:
            return
        self._writer.update_alarm(episode.row_id, {"state": AlarmState.NORMAL.value, "updated_at": now})
        self._writer.add_alarm_event(
            AlarmEventRow(alarm_id=episode.row_id, time=now, from_state=None, to_state=AlarmState.NORMAL.value,
                          actor="system", reason=reason)
        )  # fmt: skip

    def raise_service_alarm(
        self, rule: str, subject: str, message: str, now: float, *, notify_routes: bool = False
    ) -> None:
        """An alarm about the service itself (e.g. a failing notification channel), once until cleared.

        With ``notify_routes`` the alarm routes hear it too (a page that reached nobody goes to every system route).
        """
        if (rule, subject) in self._service_alarms:
            return
        row_id = self.row_ids.alarms.take()
        self._service_alarms[(rule, subject)] = row_id
        row = AlarmRow(id=row_id, alarm_key=f"{rule}/{subject}", rule=rule, sensor_id=subject,
             device_id="hazwatch", site=self.table.site.site, zone="hazwatch", kind="service",
             priority="high", state=AlarmState.ACTIVE_UNACK.value, classification="service",
             message=message, message_zh=message, value=None, level=None, raised_at=now,
             cleared_at=None, updated_at=now, latched=False)  # fmt: skip
        self._writer.add_alarm(row)
        self._writer.add_alarm_event(
            AlarmEventRow(alarm_id=row_id, time=now, from_state=None, to_state=AlarmState.ACTIVE_UNACK.value,
                          actor="system", reason=message)
        )  # fmt: skip
        if notify_routes:
            for listener in self.listeners:
                listener.alarm_raised(row, now)
        self._metrics.alarms_raised.labels("high").inc()

    def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
        """Clear a service alarm raised by ``raise_service_alarm``."""
        row_id = self._service_alarms.pop((rule, subject), None)
        if row_id is None:
            return
        self._writer.update_alarm(row_id, {"state": AlarmState.NORMAL.value, "cleared_at": now, "updated_at": now})
        self._writer.add_alarm_event(
            AlarmEventRow(alarm_id=row_id, time=now, from_state=AlarmState.ACTIVE_UNACK.value,
                          to_state=AlarmState.NORMAL.value, actor="system", reason="service recovered")
        )  # fmt: skip

    # ---- incidents

    def _incidents(self, changes: ChangeSet) -> None:
        records = {record.key: record for record in changes.incidents}
        for position, entry in enumerate(changes.timeline):
            row_id = self._incident_row(records[entry.incident_id], entry.time)
            detail: dict[str, object] = {"text": entry.text, **changes.details.get(position, {})}
            if entry.kind in _LOGGED_INCIDENT_EVENTS:
                log.info("incident %d %s: %s%s", row_id, entry.kind, entry.text, _drill_tag(changes.drill))
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
        for record in changes.incidents:
            self._sync_incident(record, changes.time)

    def _incident_row(self, record: IncidentRecord, time: float) -> int:
        rows = self.state.incident_rows
        if record.key not in rows:
            rows[record.key] = self.row_ids.incidents.take()
            self._writer.add_incident(
                {
                    "id": rows[record.key],
                    "key": record.key,
                    "site": record.site,
                    "zone": None,
                    "title": record.title,
                    "proposed_tier": record.proposed_tier,
                    "confirmed_level": None,
                    "state": record.status,
                    "opened_at": record.opened_at,
                    "updated_at": time,
                    "detail": "{}",
                }
            )
        return rows[record.key]

    def _sync_incident(self, record: IncidentRecord, now: float) -> None:
        row_id = self.state.incident_rows[record.key]
        update: IncidentUpdate = {
            "title": record.title,
            "proposed_tier": record.proposed_tier,
            "confirmed_level": record.confirmed_level,
            "state": record.status,
            "zone": record.zone,
            "closed_at": record.closed_at,
            "closed_by": record.closed_by,
            "updated_at": now,
            "detail": json.dumps(record.detail, ensure_ascii=False),
        }
        self._writer.update_incident(row_id, update)
        for position, action in enumerate(record.actions):
            item = (record.key, action.action_id)
            if item not in self.state.checklist_rows:
                self.state.checklist_rows[item] = self.row_ids.checklist_items.take()
                self._writer.add_checklist_item(
                    {
                        "id": self.state.checklist_rows[item],
                        "incident_id": row_id,
                        "tier": action.tier,
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

    # ---- pages

    def _page(self, note: NotificationIntent) -> None:
        incident_row = self.state.incident_rows.get(note.incident_id) if note.incident_id else None
        alarm_row = None
        if note.alarm_ids and note.incident_id is None:
            episode = self.state.episodes.get(note.alarm_ids[0])
            alarm_row = episode.row_id if episode else None
        self.outbox.site = (self.table.site.site, self.table.site.name)
        rows = self.outbox.rows(note, incident_row=incident_row, alarm_row=alarm_row, key_prefix=self._page_key_prefix)
        OutboxSink(self._writer, self.outbox).queue(rows)
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
