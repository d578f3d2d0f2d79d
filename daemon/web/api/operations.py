"""The write side of the API: every action a duty officer can take, as a narrow protocol.

``StoreOperations`` performs them directly on the database tables, one transaction per action, recording the
actor and reason in the alarm's events and the incident's timeline. The in-memory ISA-18.2 AlarmBook and
IncidentEngine can implement the same protocol later; the HTTP layer only knows ``Operations``.

Every method takes the acting user's name and the time, returns the updated row as a dict, and raises
``NotFound`` (unknown id), ``Conflict`` (action does not fit the current state), ``InvalidRequest`` (bad value)
or ``Forbidden`` (the action is not allowed on this object). Role checks happen before the call.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import Row, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.store.schema import (
    alarm_events,
    alarms,
    checklist_items,
    incident_events,
    incidents,
    notifications,
    sensor_service,
)
from daemon.web.api.errors import Conflict, InvalidRequest, NotFound
from rules.alarm import AlarmState

RESPONSE_LEVELS = ("I", "II", "III", "IV")
# The alarm states of rules.alarm.AlarmState, as stored.
ACTIVE_STATES = (AlarmState.ACTIVE_UNACK.value, AlarmState.ACTIVE_ACKED.value)


def check_shelve_request(duration_s: float, reason: str) -> None:
    """A shelve request needs a positive duration and a reason (ISA-18.2: shelving is documented)."""
    if duration_s <= 0:
        raise InvalidRequest("duration_s must be positive")
    if not reason.strip():
        raise InvalidRequest("shelving needs a reason")


class Operations(Protocol):
    """Actions on alarms, notifications, sensors and incidents."""

    async def acknowledge_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Acknowledge an alarm (and its notifications)."""
        ...

    async def shelve_alarm(
        self, alarm_id: int, actor: str, now: float, duration_s: float, reason: str
    ) -> dict[str, Any]:
        """Shelve an alarm for ``duration_s`` (the caller enforces the configured maximum)."""
        ...

    async def unshelve_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Return a shelved alarm to its state before shelving."""
        ...

    async def reset_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Reset a latched alarm whose condition has cleared."""
        ...

    async def comment_alarm(self, alarm_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Add a comment to an alarm's history."""
        ...

    async def acknowledge_notification(self, notification_id: int, actor: str, now: float) -> dict[str, Any]:
        """Acknowledge one notification (stops its escalation)."""
        ...

    async def set_sensor_service(
        self, sensor_id: str, out_of_service: bool, actor: str, now: float, reason: str
    ) -> dict[str, Any]:
        """Put a sensor out of service or back in service."""
        ...

    async def reset_credibility(self, sensor_id: str, actor: str, now: float, reason: str) -> dict[str, Any]:
        """Operator reset of "reading not credible" (GM fold-back, dead probe) at a sensor."""
        ...

    async def comment_incident(self, incident_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Add a comment to an incident's timeline."""
        ...

    async def tick_checklist_item(self, incident_id: int, item_id: int, actor: str, now: float) -> dict[str, Any]:
        """Mark a checklist item done."""
        ...

    async def confirm_level(
        self, incident_id: int, level: str, actor: str, now: float, reason: str = ""
    ) -> dict[str, Any]:
        """Confirm the response level (I-IV) of an incident."""
        ...

    async def close_incident(self, incident_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Close an incident whose alarms have all cleared."""
        ...


def _row(row: Row[Any] | None, what: str, key: object) -> dict[str, Any]:
    if row is None:
        raise NotFound(f"no {what} {key}")
    return dict(row._mapping)


async def _locked(connection: AsyncConnection, table: Table, key: object, what: str) -> dict[str, Any]:
    # FOR UPDATE serialises concurrent actions on the same row in PostgreSQL; SQLite serialises writers anyway.
    query = select(table).where(table.c[next(iter(table.primary_key.columns)).name] == key).with_for_update()
    return _row((await connection.execute(query)).first(), what, key)


class StoreOperations:
    """Operations performed directly on the store's tables."""

    def __init__(self, engine: AsyncEngine, sensor_ids: Collection[str]) -> None:
        self._engine = engine
        self._sensor_ids = set(sensor_ids)

    # --- alarms -----------------------------------------------------------------------------------------

    async def _alarm_change(
        self,
        alarm_id: int,
        actor: str,
        now: float,
        reason: str,
        event_type: str,
        changes: dict[str, Any] | None,
        allowed: Collection[str] | None,
        refusal: str,
    ) -> dict[str, Any]:
        async with self._engine.begin() as connection:
            alarm = await _locked(connection, alarms, alarm_id, "alarm")
            if allowed is not None and alarm["state"] not in allowed:
                raise Conflict(f"alarm {alarm_id} is {alarm['state']}: {refusal}")
            new_state = alarm["state"]
            if changes:
                new_state = changes.get("state", alarm["state"])
                await connection.execute(
                    update(alarms).where(alarms.c.id == alarm_id).values(**changes, updated_at=now)
                )
            await connection.execute(
                insert(alarm_events).values(
                    alarm_id=alarm_id,
                    time=now,
                    from_state=alarm["state"],
                    to_state=new_state,
                    actor=actor,
                    reason=reason or event_type,
                    drill=alarm["drill"],
                )
            )
            if alarm["incident_id"] is not None:
                await _timeline(
                    connection,
                    alarm["incident_id"],
                    now,
                    f"alarm_{event_type}",
                    actor,
                    {"alarm_id": alarm_id, "reason": reason},
                    alarm["drill"],
                )
            return dict((await connection.execute(select(alarms).where(alarms.c.id == alarm_id))).one()._mapping)

    async def acknowledge_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Acknowledge an alarm and every notification about it; a cleared alarm returns to normal."""
        async with self._engine.connect() as connection:
            alarm = _row(
                (await connection.execute(select(alarms).where(alarms.c.id == alarm_id))).first(), "alarm", alarm_id
            )
        state = {
            AlarmState.ACTIVE_UNACK.value: AlarmState.ACTIVE_ACKED.value,
            AlarmState.RETURNED_UNACK.value: AlarmState.NORMAL.value,
            AlarmState.LATCHED_UNACK.value: AlarmState.LATCHED_ACKED.value,  # still needs a reset
        }.get(alarm["state"], alarm["state"])
        row = await self._alarm_change(
            alarm_id,
            actor,
            now,
            reason,
            "acknowledged",
            {"state": state, "acknowledged_at": now, "acknowledged_by": actor},
            (AlarmState.ACTIVE_UNACK.value, AlarmState.RETURNED_UNACK.value, AlarmState.LATCHED_UNACK.value),
            "nothing to acknowledge",
        )
        async with self._engine.begin() as connection:
            await connection.execute(
                update(notifications)
                .where(notifications.c.alarm_id == alarm_id, notifications.c.acknowledged_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by=actor)
            )
        return row

    async def shelve_alarm(
        self, alarm_id: int, actor: str, now: float, duration_s: float, reason: str
    ) -> dict[str, Any]:
        """Shelve an active alarm until ``now + duration_s``."""
        check_shelve_request(duration_s, reason)
        return await self._alarm_change(
            alarm_id,
            actor,
            now,
            f"{reason} (for {duration_s:g} s)",
            "shelved",
            {"state": AlarmState.SHELVED.value, "shelved_until": now + duration_s},
            ACTIVE_STATES,
            "only an active alarm can be shelved",
        )

    async def unshelve_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Return a shelved alarm to active (acknowledged if it was) or, if cleared meanwhile, to normal."""
        async with self._engine.connect() as connection:
            alarm = _row(
                (await connection.execute(select(alarms).where(alarms.c.id == alarm_id))).first(), "alarm", alarm_id
            )
        if alarm["cleared_at"] is not None:
            state = AlarmState.NORMAL.value
        elif alarm["acknowledged_at"] is not None:
            state = AlarmState.ACTIVE_ACKED.value
        else:
            state = AlarmState.ACTIVE_UNACK.value
        return await self._alarm_change(
            alarm_id,
            actor,
            now,
            reason,
            "unshelved",
            {"state": state, "shelved_until": None},
            (AlarmState.SHELVED.value,),
            "it is not shelved",
        )

    async def reset_alarm(self, alarm_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Reset a latched alarm whose condition has returned to normal."""
        async with self._engine.connect() as connection:
            alarm = _row(
                (await connection.execute(select(alarms).where(alarms.c.id == alarm_id))).first(), "alarm", alarm_id
            )
        if not alarm["latched"]:
            raise Conflict(f"alarm {alarm_id} is not latched")
        if alarm["cleared_at"] is None:
            raise Conflict(f"alarm {alarm_id} is still active: reset after its condition clears")
        return await self._alarm_change(
            alarm_id, actor, now, reason, "reset", {"state": AlarmState.NORMAL.value, "latched": False}, None, ""
        )

    async def comment_alarm(self, alarm_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Add a comment to an alarm's history."""
        if not text.strip():
            raise InvalidRequest("comment text is empty")
        return await self._alarm_change(alarm_id, actor, now, text, "comment", None, None, "")

    async def acknowledge_notification(self, notification_id: int, actor: str, now: float) -> dict[str, Any]:
        """Acknowledge one notification."""
        async with self._engine.begin() as connection:
            note = await _locked(connection, notifications, notification_id, "notification")
            if note["acknowledged_at"] is not None:
                raise Conflict(f"notification {notification_id} was acknowledged by {note['acknowledged_by']}")
            await connection.execute(
                update(notifications)
                .where(notifications.c.id == notification_id)
                .values(acknowledged_at=now, acknowledged_by=actor)
            )
            if note["incident_id"] is not None:
                await _timeline(
                    connection,
                    note["incident_id"],
                    now,
                    "notification_ack",
                    actor,
                    {"notification_id": notification_id, "recipient": note["recipient"]},
                    note["drill"],
                )
            query = select(notifications).where(notifications.c.id == notification_id)
            row = dict((await connection.execute(query)).one()._mapping)
        row.pop("payload", None)
        return row

    # --- sensors ----------------------------------------------------------------------------------------

    async def reset_credibility(self, sensor_id: str, actor: str, now: float, reason: str) -> dict[str, Any]:
        """Only a running detection core holds the not-credible latch: the store alone cannot reset it."""
        if sensor_id not in self._sensor_ids:
            raise NotFound(f"no sensor {sensor_id}")
        raise Conflict("no running detection core here: a credibility reset needs the live service")

    async def set_sensor_service(
        self, sensor_id: str, out_of_service: bool, actor: str, now: float, reason: str
    ) -> dict[str, Any]:
        """Record a sensor out of service (or back), with who and why."""
        if sensor_id not in self._sensor_ids:
            raise NotFound(f"no sensor {sensor_id}")
        if out_of_service and not reason.strip():
            raise InvalidRequest("putting a sensor out of service needs a reason")
        values = {"out_of_service": out_of_service, "since": now, "actor": actor, "reason": reason}
        async with self._engine.begin() as connection:
            query = select(sensor_service).where(sensor_service.c.sensor_id == sensor_id).with_for_update()
            current = (await connection.execute(query)).first()
            if current is None:
                if not out_of_service:
                    raise Conflict(f"sensor {sensor_id} is in service")
                await connection.execute(insert(sensor_service).values(sensor_id=sensor_id, **values))
            else:
                if bool(current.out_of_service) == out_of_service:
                    raise Conflict(f"sensor {sensor_id} is already {'out of' if out_of_service else 'in'} service")
                await connection.execute(
                    update(sensor_service).where(sensor_service.c.sensor_id == sensor_id).values(**values)
                )
        return {"sensor_id": sensor_id, **values}

    # --- incidents --------------------------------------------------------------------------------------

    async def _incident_event(
        self,
        incident_id: int,
        actor: str,
        now: float,
        event_type: str,
        detail: dict[str, Any],
        changes: dict[str, Any] | None = None,
        must_be_open: bool = True,
    ) -> dict[str, Any]:
        async with self._engine.begin() as connection:
            incident = await _locked(connection, incidents, incident_id, "incident")
            if must_be_open and incident["state"] == "closed":
                raise Conflict(f"incident {incident_id} is closed")
            if changes is not None:
                await connection.execute(
                    update(incidents).where(incidents.c.id == incident_id).values(**changes, updated_at=now)
                )
            await _timeline(connection, incident_id, now, event_type, actor, detail, incident["drill"])
            row = await connection.execute(select(incidents).where(incidents.c.id == incident_id))
            return dict(row.one()._mapping)

    async def comment_incident(self, incident_id: int, actor: str, now: float, text: str) -> dict[str, Any]:
        """Add a comment to the incident's timeline (also allowed after closing)."""
        if not text.strip():
            raise InvalidRequest("comment text is empty")
        return await self._incident_event(incident_id, actor, now, "comment", {"text": text}, must_be_open=False)

    async def tick_checklist_item(self, incident_id: int, item_id: int, actor: str, now: float) -> dict[str, Any]:
        """Mark a checklist item of an open incident done."""
        async with self._engine.begin() as connection:
            incident = await _locked(connection, incidents, incident_id, "incident")
            if incident["state"] == "closed":
                raise Conflict(f"incident {incident_id} is closed")
            item = await _locked(connection, checklist_items, item_id, "checklist item")
            if item["incident_id"] != incident_id:
                raise NotFound(f"no checklist item {item_id} in incident {incident_id}")
            if item["done_at"] is not None:
                raise Conflict(f"checklist item {item_id} was done by {item['done_by']}")
            await connection.execute(
                update(checklist_items).where(checklist_items.c.id == item_id).values(done_at=now, done_by=actor)
            )
            await _timeline(
                connection,
                incident_id,
                now,
                "checklist_done",
                actor,
                {"item_id": item_id, "text": item["text"]},
                incident["drill"],
            )
            return {**item, "done_at": now, "done_by": actor}

    async def confirm_level(
        self, incident_id: int, level: str, actor: str, now: float, reason: str = ""
    ) -> dict[str, Any]:
        """Confirm the response level a person decided (I is the highest)."""
        if level not in RESPONSE_LEVELS:
            raise InvalidRequest(f"level must be one of {', '.join(RESPONSE_LEVELS)}")
        return await self._incident_event(
            incident_id,
            actor,
            now,
            "level_confirmed",
            {"level": level, "reason": reason},
            {"confirmed_level": level},
        )

    async def close_incident(self, incident_id: int, actor: str, now: float, reason: str = "") -> dict[str, Any]:
        """Close an incident once none of its alarms is still active."""
        async with self._engine.connect() as connection:
            active = (
                await connection.execute(
                    select(alarms.c.id).where(alarms.c.incident_id == incident_id, alarms.c.cleared_at.is_(None))
                )
            ).first()
        if active is not None:
            raise Conflict(f"incident {incident_id} still has active alarm {active.id}")
        return await self._incident_event(
            incident_id,
            actor,
            now,
            "closed",
            {"reason": reason},
            {"state": "closed", "closed_at": now, "closed_by": actor},
        )


async def _timeline(
    connection: AsyncConnection,
    incident_id: int,
    now: float,
    event_type: str,
    actor: str,
    detail: dict[str, Any],
    drill: bool,
) -> None:
    await connection.execute(
        insert(incident_events).values(
            incident_id=incident_id,
            time=now,
            type=event_type[:32],
            actor=actor,
            detail=json.dumps(detail, ensure_ascii=False),
            drill=drill,
        )
    )
