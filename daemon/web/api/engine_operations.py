"""Operations on the live engines: the in-memory ISA-18.2 alarm book and incident engine are the truth.

A person's action goes to the engine first (so the next detection, escalation or re-alarm knows
about it); the transitions and timeline lines it returns are stored like the engines' own output.
Rows the running engines do not know (history, or rows written by hand) fall back to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.pipeline import AlarmFlow
from daemon.notify.chains import stop_page
from daemon.notify.outbox import engine_page_id
from daemon.store.schema import alarms, incidents, notifications
from daemon.store.writer import StoreWriter
from daemon.web.api.errors import Conflict, InvalidRequest, NotFound
from daemon.web.api.operations import StoreOperations, check_shelve_request
from detectors.core import DetectionCore
from detectors.quality import DETECTOR_FAULT, SOURCE_DETECTOR_FAULT
from plans.errors import IncidentActionError, UnknownIncidentError
from plans.incident import IncidentChanges
from plans.model import TIER_OF_LEVEL
from rules.alarm import AlarmTransition
from rules.errors import AlarmActionError, UnknownAlarmError

log = logging.getLogger(__name__)


class EngineOperations(StoreOperations):
    """Actions applied through the engines of a running pipeline."""

    def __init__(
        self,
        engine: AsyncEngine,
        sensor_ids: Collection[str],
        flow: Callable[[], AlarmFlow],
        writer: StoreWriter,
        detector: Callable[[], DetectionCore] | None = None,
    ) -> None:
        super().__init__(engine, sensor_ids)
        self._flow = flow  # a callable: a rules reload replaces the engines inside the flow's state
        self._writer = writer
        self._detector = detector
        # The sensor table's index (id -> number) when given, else numbers in the order given.
        self._sensor_index: dict[str, int] = (
            {str(k): int(v) for k, v in sensor_ids.items()}
            if isinstance(sensor_ids, Mapping)
            else {sensor_id: i for i, sensor_id in enumerate(sensor_ids)}
        )

    # --- lookups from row ids to engine ids

    def _alarm_key(self, row_id: int) -> str | None:
        return self._flow().state.alarm_key(row_id)

    def _incident_key(self, row_id: int) -> str | None:
        return self._flow().state.incident_key(row_id)

    async def _alarm_row(self, row_id: int) -> dict[str, Any]:
        await self._writer.flush()
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(alarms).where(alarms.c.id == row_id))).first()
        if row is None:
            raise NotFound(f"no alarm {row_id}")
        return dict(row._mapping)

    async def _incident_row(self, row_id: int) -> dict[str, Any]:
        await self._writer.flush()
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(incidents).where(incidents.c.id == row_id))).first()
        if row is None:
            raise NotFound(f"no incident {row_id}")
        return dict(row._mapping)

    async def _on_alarm(self, row_id: int, now: float, act: Callable[[str], list[AlarmTransition]]) -> dict[str, Any]:
        key = self._alarm_key(row_id)
        if key is None:
            raise LookupError(key)
        try:
            transitions = act(key)
        except UnknownAlarmError as exc:
            raise NotFound(f"no alarm {row_id}") from exc
        except AlarmActionError as exc:
            raise Conflict(f"alarm {row_id}: {exc}") from exc
        self._flow().apply_transitions(transitions, now)
        return await self._alarm_row(row_id)

    async def _on_incident(self, row_id: int, now: float, act: Callable[[str], IncidentChanges]) -> dict[str, Any]:
        key = self._incident_key(row_id)
        if key is None:
            raise LookupError(row_id)
        try:
            changes = act(key)
        except UnknownIncidentError as exc:
            raise NotFound(f"no incident {row_id}") from exc
        except IncidentActionError as exc:
            raise Conflict(f"incident {row_id}: {exc}") from exc
        self._flow().apply_incident_changes(changes, now)
        return await self._incident_row(row_id)

    # --- alarms

    async def acknowledge_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Acknowledge through the alarm book; then mark its notifications acknowledged."""
        book = self._flow().state.book
        try:
            await self._on_alarm(alarm_id, now, lambda key: book.acknowledge(key, actor, now, reason))
        except LookupError:
            return await super().acknowledge_alarm(alarm_id, actor, now, reason)
        await self._acknowledge_notifications_of(alarm_id, actor, now)
        return await self._alarm_row(alarm_id)

    async def shelve_alarm(
        self, alarm_id: int, actor: str, now: float, duration_s: float, reason: str
    ) -> dict[str, Any]:
        """Shelve through the alarm book (it enforces its own maximum and what may be shelved)."""
        check_shelve_request(duration_s, reason)
        book = self._flow().state.book
        try:
            return await self._on_alarm(alarm_id, now, lambda key: book.shelve(key, actor, reason, duration_s, now))
        except LookupError:
            return await super().shelve_alarm(alarm_id, actor, now, duration_s, reason)

    async def unshelve_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Unshelve through the alarm book."""
        book = self._flow().state.book
        try:
            return await self._on_alarm(alarm_id, now, lambda key: book.unshelve(key, actor, now, reason))
        except LookupError:
            return await super().unshelve_alarm(alarm_id, actor, now, reason)

    async def reset_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Reset a latched alarm through the alarm book."""
        book = self._flow().state.book
        try:
            return await self._on_alarm(alarm_id, now, lambda key: book.reset(key, actor, now, reason))
        except LookupError:
            return await super().reset_alarm(alarm_id, actor, now, reason)

    async def set_sensor_service(
        self, sensor_id: str, out_of_service: bool, actor: str, now: float, reason: str
    ) -> dict[str, Any]:
        """Record it, then tell the alarm book: the sensor's alarms become out of service (or come back)."""
        row = await super().set_sensor_service(sensor_id, out_of_service, actor, now, reason)
        flow = self._flow()
        flow.apply_transitions(flow.state.book.set_out_of_service(sensor_id, out_of_service, actor, now, reason), now)
        await self._writer.flush()
        return row

    async def reset_credibility(self, sensor_id: str, actor: str, now: float, reason: str) -> dict[str, Any]:
        """End "reading not credible" at a sensor: its readings count again, so hazard alarms held latched on a
        fold-back or dead probe can clear on them. Who, when and why go into the history of the sensor's
        detector-fault alarms (the alarm board shows them) and the service log."""
        if sensor_id not in self._sensor_index:
            raise NotFound(f"no sensor {sensor_id}")
        if not reason.strip():
            raise InvalidRequest("a credibility reset needs a reason (what was checked at the probe)")
        if self._detector is None:
            return await super().reset_credibility(sensor_id, actor, now, reason)
        index = self._sensor_index[sensor_id]
        core = self._detector()
        if not core.not_credible(index):
            raise Conflict(f"readings of sensor {sensor_id} are not held as not credible: nothing to reset")
        core.reset_credibility([index])
        flow = self._flow()
        recorded = []
        for key, episode in flow.state.episodes.items():
            alarm = flow.state.book.get(key)
            if alarm.sensor_id == sensor_id and alarm.condition in (DETECTOR_FAULT, SOURCE_DETECTOR_FAULT):
                state = alarm.state.value
                self._writer.add_alarm_event(
                    {
                        "alarm_id": episode.row_id,
                        "time": now,
                        "from_state": state,
                        "to_state": state,
                        "actor": actor,
                        "reason": f"reading credibility reset: {reason}",
                    }
                )
                recorded.append(episode.row_id)
        await self._writer.flush()
        log.info("sensor %s: reading credibility reset by %s (%s)", sensor_id, actor, reason)
        return {"sensor_id": sensor_id, "reset_at": now, "actor": actor, "reason": reason, "alarm_ids": recorded}

    async def _acknowledge_notifications_of(self, alarm_id: int, actor: str, now: float) -> None:
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(notifications.c.id, notifications.c.payload).where(
                        notifications.c.alarm_id == alarm_id, notifications.c.acknowledged_at.is_(None)
                    )
                )
            ).all()
        for row in rows:
            await self.acknowledge_notification(int(row.id), actor, now)

    async def acknowledge_notification(self, notification_id: int, actor: str, now: float) -> dict[str, Any]:
        """Stop the page's escalation in the incident engine, then mark the row."""
        async with self._engine.connect() as connection:
            payload = (
                await connection.execute(select(notifications.c.payload).where(notifications.c.id == notification_id))
            ).scalar()
        engine_id = engine_page_id(payload)
        if engine_id is not None:
            flow = self._flow()
            try:
                changes = flow.state.incidents.acknowledge_notification(engine_id, actor, now)
            except (IncidentActionError, UnknownIncidentError):
                changes = IncidentChanges()  # already acknowledged or not an incident page: the row still records it
            flow.apply_incident_changes(changes, now)
        row = await super().acknowledge_notification(notification_id, actor, now)
        if row.get("page_id"):
            async with self._engine.begin() as connection:
                await stop_page(connection, str(row["page_id"]), actor, now)  # every chain of the page stops
        return row

    # --- incidents

    async def comment_incident(self, incident_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Comment through the incident engine's timeline."""
        if not text.strip():
            raise InvalidRequest("comment text is empty")
        engine = self._flow().state.incidents
        try:
            return await self._on_incident(incident_id, now, lambda key: engine.comment(key, actor, text, now))
        except LookupError:
            return await super().comment_incident(incident_id, actor, now, text)

    async def tick_checklist_item(self, incident_id: int, item_id: int, actor: str, now: float) -> dict[str, Any]:
        """Complete a checklist action in the incident engine."""
        state = self._flow().state
        action = next((action_id for (key, action_id), row in state.checklist_rows.items() if row == item_id), None)
        if action is None or self._incident_key(incident_id) is None:
            return await super().tick_checklist_item(incident_id, item_id, actor, now)
        engine = state.incidents
        await self._on_incident(incident_id, now, lambda key: engine.complete_action(key, action, actor, now))
        return {"id": item_id, "incident_id": incident_id, "done_at": now, "done_by": actor}

    async def confirm_level(
        self, incident_id: int, level: str, actor: str, now: float, reason: str = ""
    ) -> dict[str, Any]:
        """A person confirms the response level; the engine records it beside its proposed tier."""
        tier = TIER_OF_LEVEL.get(level)
        if tier is None:
            raise InvalidRequest(f"level must be one of {', '.join(TIER_OF_LEVEL)}")
        engine = self._flow().state.incidents
        try:
            return await self._on_incident(
                incident_id, now, lambda key: engine.confirm_level(key, tier, actor, now, reason)
            )
        except LookupError:
            return await super().confirm_level(incident_id, level, actor, now, reason)

    async def close_incident(self, incident_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Close through the engine: it refuses while any of the incident's alarms is still on."""
        engine = self._flow().state.incidents
        try:
            return await self._on_incident(incident_id, now, lambda key: engine.close(key, actor, now, reason))
        except LookupError:
            return await super().close_incident(incident_id, actor, now, reason)
