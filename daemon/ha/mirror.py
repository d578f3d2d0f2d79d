"""The follower's copy of an operator action the leader applied: the same change in its own engines, nothing stored.

The leader applied the action through ``EngineOperations`` and stored its rows. The follower makes the same call on
its alarm book and incident engine, with the action's own actor and time, so its state matches the leader's (an
acknowledged page does not escalate again after a takeover). What that writes goes to the follower's hold like every
other row it produces; at a takeover ``daemon.ha.reconcile`` drops the rows the leader already stored.
Actions that only touch stored rows (a comment on an alarm) have no engine side and nothing to mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.pipeline import AlarmFlow
from daemon.notify.outbox import engine_page_id
from daemon.store.schema import notifications
from detectors.core import DetectionCore
from plans.errors import IncidentActionError, UnknownIncidentError
from plans.incident import IncidentChanges
from plans.model import TIER_OF_LEVEL
from rules.errors import AlarmActionError, UnknownAlarmError

log = logging.getLogger(__name__)
Mirror = Callable[["Engines", AsyncEngine, dict[str, Any]], Awaitable[None]]
REFUSED = (AlarmActionError, UnknownAlarmError, IncidentActionError, UnknownIncidentError)


@dataclass(frozen=True, slots=True)
class Engines:
    """What a mirrored action changes on this instance: its alarm flow and its detection core (whose credibility
    latches an operator resets), with the sensor numbers by id."""

    flow: AlarmFlow
    detector: DetectionCore | None = None
    sensor_index: Mapping[str, int] = field(default_factory=dict)


async def mirror(kind: str, engines: Engines, engine: AsyncEngine, args: dict[str, Any]) -> None:
    """Apply one applied action to this instance's engines; a refusal (already done here) is logged, not raised."""
    step = MIRRORS.get(kind)
    if step is None:
        return
    try:
        await step(engines, engine, args)
    except REFUSED as exc:
        log.info("HA: operator action %s not mirrored: %s", kind, exc)


def _alarm_key(flow: AlarmFlow, row_id: int) -> str:
    key = flow.state.alarm_key(row_id)
    if key is None:
        raise UnknownAlarmError(f"alarm row {row_id} is not live here")
    return key


def _incident_key(flow: AlarmFlow, row_id: int) -> str:
    key = flow.state.incident_key(row_id)
    if key is None:
        raise UnknownIncidentError(f"incident row {row_id} is not live here")
    return key


def _ack_page(flow: AlarmFlow, page: str | None, actor: str, now: float) -> None:
    if page is None:
        return
    try:
        changes = flow.state.incidents.acknowledge_notification(page, actor, now)
    except REFUSED:
        changes = IncidentChanges()  # acknowledged here already, or not an incident page
    flow.apply_incident_changes(changes, now)


async def _acknowledge_alarm(engines: Engines, engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    actor, now = args["actor"], args["now"]
    flow.apply_transitions(
        flow.state.book.acknowledge(_alarm_key(flow, args["alarm_id"]), actor, now, args["reason"]), now
    )
    async with engine.connect() as connection:
        query = select(notifications.c.payload).where(notifications.c.alarm_id == args["alarm_id"])
        payloads = (await connection.execute(query)).scalars().all()
    for payload in payloads:  # the leader acknowledged every page of the alarm with it
        _ack_page(flow, engine_page_id(payload), actor, now)


async def _acknowledge_notification(engines: Engines, engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    async with engine.connect() as connection:
        query = select(notifications.c.payload).where(notifications.c.id == args["notification_id"])
        payload = (await connection.execute(query)).scalar()
    _ack_page(flow, engine_page_id(payload), args["actor"], args["now"])


async def _shelve_alarm(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _alarm_key(flow, args["alarm_id"]), args["now"]
    flow.apply_transitions(flow.state.book.shelve(key, args["actor"], args["reason"], args["duration_s"], now), now)


async def _unshelve_alarm(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _alarm_key(flow, args["alarm_id"]), args["now"]
    flow.apply_transitions(flow.state.book.unshelve(key, args["actor"], now, args["reason"]), now)


async def _reset_alarm(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _alarm_key(flow, args["alarm_id"]), args["now"]
    flow.apply_transitions(flow.state.book.reset(key, args["actor"], now, args["reason"]), now)


async def _set_sensor_service(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    now = args["now"]
    book = flow.state.book
    changes = book.set_out_of_service(args["sensor_id"], args["out_of_service"], args["actor"], now, args["reason"])
    flow.apply_transitions(changes, now)


async def _comment_incident(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _incident_key(flow, args["incident_id"]), args["now"]
    flow.apply_incident_changes(flow.state.incidents.comment(key, args["actor"], args["text"], now), now)


async def _tick_checklist_item(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _incident_key(flow, args["incident_id"]), args["now"]
    rows = flow.state.checklist_rows
    action = next((action_id for (k, action_id), row in rows.items() if row == args["item_id"]), None)
    if action is None:
        raise UnknownIncidentError(f"checklist item {args['item_id']} is not live here")
    flow.apply_incident_changes(flow.state.incidents.complete_action(key, action, args["actor"], now), now)


async def _confirm_level(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _incident_key(flow, args["incident_id"]), args["now"]
    tier = TIER_OF_LEVEL[args["level"]]
    changes = flow.state.incidents.confirm_level(key, tier, args["actor"], now, args["reason"])
    flow.apply_incident_changes(changes, now)


async def _close_incident(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    flow = engines.flow
    key, now = _incident_key(flow, args["incident_id"]), args["now"]
    flow.apply_incident_changes(flow.state.incidents.close(key, args["actor"], now, args["reason"]), now)


async def _reset_credibility(engines: Engines, _engine: AsyncEngine, args: dict[str, Any]) -> None:
    # The follower judged the same fold-back or dead probe and holds the same latch: without the reset it would
    # distrust the sensor again once it leads, holding hazard alarms the operator had released. The leader stored
    # who, when and why in the alarms' history; only the detection core's latch lives here.
    sensor = engines.sensor_index.get(args["sensor_id"])
    if engines.detector is None or sensor is None:
        return
    if not engines.detector.not_credible(sensor):
        log.info("HA: credibility reset of %s not mirrored: not held as not credible here", args["sensor_id"])
        return
    engines.detector.reset_credibility([sensor])
    log.info("HA: sensor %s: reading credibility reset mirrored (by %s)", args["sensor_id"], args["actor"])


MIRRORS: dict[str, Mirror] = {
    "acknowledge_alarm": _acknowledge_alarm,
    "acknowledge_notification": _acknowledge_notification,
    "shelve_alarm": _shelve_alarm,
    "unshelve_alarm": _unshelve_alarm,
    "reset_alarm": _reset_alarm,
    "set_sensor_service": _set_sensor_service,
    "comment_incident": _comment_incident,
    "tick_checklist_item": _tick_checklist_item,
    "confirm_level": _confirm_level,
    "close_incident": _close_incident,
    "reset_credibility": _reset_credibility,
}
