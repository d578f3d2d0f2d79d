"""What the duty team does on the drill console reaches the replay's engines, as it reaches the live ones.

Live, a console action goes through ``EngineOperations``: the alarm book or incident engine applies it first, so an
acknowledged page stops escalating and an acknowledged alarm stops being counted unacknowledged. During a drill the
console runs in the service and writes the action on the run's rows (``StoreOperations``); the replay, another
process, reads those rows while it runs and applies each new action to its own engines, at the exercise time it
learns of it. What the console already stored (the person's own timeline line, the alarm's acknowledged state) is
not stored twice; what the engine adds (escalations that stop, pages a confirmed level sends) is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.pipeline import AlarmFlow
from daemon.notify.outbox import engine_page_id
from daemon.store.schema import alarms, incident_events, incidents, notifications
from plans.errors import IncidentActionError, UnknownIncidentError
from plans.incident import IncidentChanges
from plans.model import TIER_OF_LEVEL
from rules.alarm import AlarmState
from rules.errors import AlarmActionError, UnknownAlarmError

log = logging.getLogger(__name__)

UNACKED = (AlarmState.ACTIVE_UNACK, AlarmState.RETURNED_UNACK, AlarmState.LATCHED_UNACK)


def without_lines_of(changes: IncidentChanges, actor: str) -> IncidentChanges:
    """The engine's changes minus the timeline lines of ``actor`` (the console stored the person's own line)."""
    kept = [i for i, entry in enumerate(changes.timeline) if entry.actor != actor]
    return IncidentChanges(
        timeline=[changes.timeline[i] for i in kept],
        notifications=list(changes.notifications),
        details={new: changes.details[old] for new, old in enumerate(kept) if old in changes.details},
    )


class ConsoleFeedback:
    """Polls the run's rows for console actions and applies the new ones to the replay's engines."""

    def __init__(self, engine: AsyncEngine, run_id: int, flow: Callable[[], AlarmFlow]) -> None:
        self._engine = engine
        self._run_id = run_id
        self._flow = flow
        self._seen_pages: set[int] = set()
        self._seen_alarms: set[int] = set()
        self._seen_events: set[int] = set()
        self.applied = 0  # actions that reached an engine

    async def poll(self, now: float) -> int:
        """Apply every console action not applied yet, at exercise time ``now``; returns how many were new."""
        before = self.applied
        async with self._engine.connect() as connection:
            pages = (
                await connection.execute(
                    select(notifications.c.id, notifications.c.payload, notifications.c.acknowledged_by).where(
                        notifications.c.drill_run_id == self._run_id, notifications.c.acknowledged_at.is_not(None)
                    )
                )
            ).all()
            acked = (
                await connection.execute(
                    select(alarms.c.id, alarms.c.acknowledged_by).where(
                        alarms.c.drill_run_id == self._run_id, alarms.c.acknowledged_at.is_not(None)
                    )
                )
            ).all()
            decided = (
                await connection.execute(
                    select(
                        incident_events.c.id,
                        incident_events.c.incident_id,
                        incident_events.c.type,
                        incident_events.c.actor,
                        incident_events.c.detail,
                    )
                    .join(incidents, incidents.c.id == incident_events.c.incident_id)
                    .where(
                        incidents.c.drill_run_id == self._run_id,
                        incident_events.c.type.in_(("level_confirmed", "closed")),
                    )
                    .order_by(incident_events.c.id)
                )
            ).all()
        for page in pages:
            if page.id not in self._seen_pages:
                self._seen_pages.add(page.id)
                self._page_acknowledged(engine_page_id(page.payload), str(page.acknowledged_by), now)
        for alarm in acked:
            if alarm.id not in self._seen_alarms:
                self._seen_alarms.add(alarm.id)
                self._alarm_acknowledged(int(alarm.id), str(alarm.acknowledged_by), now)
        for event in decided:
            if event.id not in self._seen_events:
                self._seen_events.add(event.id)
                self._incident_decided(int(event.incident_id), event.type, str(event.actor), event.detail, now)
        return self.applied - before

    def _page_acknowledged(self, engine_id: str | None, actor: str, now: float) -> None:
        if engine_id is None:
            return  # a single-alarm page: acknowledged on its alarm
        flow = self._flow()
        try:
            changes = flow.state.incidents.acknowledge_notification(engine_id, actor, now)
        except (IncidentActionError, UnknownIncidentError):
            return  # already acknowledged, or the engine never knew it
        flow.apply_incident_changes(without_lines_of(changes, actor), now)
        self.applied += 1
        log.info("drill run %d: page %s acknowledged on the console by %s", self._run_id, engine_id, actor)

    def _alarm_acknowledged(self, row_id: int, actor: str, now: float) -> None:
        flow = self._flow()
        key = flow.state.alarm_key(row_id)
        if key is None:
            return
        book = flow.state.book
        try:
            if book.get(key).state not in UNACKED:
                return
            transitions = book.acknowledge(key, actor, now)
        except (UnknownAlarmError, AlarmActionError):
            return
        # The console stored the row's new state and its event; the plan still has to see the acknowledgement,
        # and an episode the acknowledgement ended must not be reused by the alarm's next raise.
        for transition in transitions:
            if transition.to_state is AlarmState.NORMAL:
                flow.state.episodes.pop(transition.alarm_id, None)
        flow.apply_incident_changes(flow.state.incidents.on_transitions(transitions, now), now)
        self.applied += 1

    def _incident_decided(self, row_id: int, kind: str, actor: str, detail: str | None, now: float) -> None:
        flow = self._flow()
        key = flow.state.incident_key(row_id)
        if key is None:
            return
        engine = flow.state.incidents
        try:
            if kind == "closed":
                changes = engine.close(key, actor, now)
            else:
                tier = TIER_OF_LEVEL.get(_level(detail))
                if tier is None:
                    return
                changes = engine.confirm_level(key, tier, actor, now)
        except (IncidentActionError, UnknownIncidentError) as exc:
            log.warning("drill run %d: console %s of incident %d not applied: %s", self._run_id, kind, row_id, exc)
            return
        flow.apply_incident_changes(without_lines_of(changes, actor), now)
        self.applied += 1


def _level(detail: str | None) -> str:
    try:
        data = json.loads(detail or "{}")
    except ValueError:
        return ""
    return str(data.get("level", "")) if isinstance(data, dict) else ""
