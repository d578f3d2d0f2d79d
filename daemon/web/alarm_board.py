"""The alarm board: every alarm that needs a person, with the action it needs, in words and units."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import alarm_events, alarms
from daemon.web.drill_scope import DrillScope
from daemon.web.sensor_names import sensor_labels, zone_names
from daemon.web.units import display_unit
from rules.alarm import AlarmState
from rules.model import PRIORITY_RANK
from rules.sensor_table import SensorTable

# ISA-18.2 states a person must act on (or watch: an acknowledged alarm still standing), and what they do about it.
# A returned alarm never acknowledged, a latched one and a shelved one are all still on the board.
NEEDED_ACTIONS: dict[str, tuple[str, ...]] = {
    AlarmState.ACTIVE_UNACK.value: ("acknowledge",),
    AlarmState.RETURNED_UNACK.value: ("acknowledge",),
    AlarmState.LATCHED_UNACK.value: ("acknowledge", "reset"),
    AlarmState.LATCHED_ACKED.value: ("reset",),
    AlarmState.SHELVED.value: ("unshelve",),
    AlarmState.ACTIVE_ACKED.value: (),
}


async def needs_action(engine: AsyncEngine, table: SensorTable, scope: DrillScope) -> list[dict[str, Any]]:
    """Alarms in a state that needs an action, sorted by priority then newest first, labelled for people."""
    query = select(alarms).where(alarms.c.state.in_(list(NEEDED_ACTIONS)), scope.where(alarms))
    async with engine.connect() as connection:
        rows = [dict(r) for r in (await connection.execute(query)).mappings()]
        ids = [r["id"] for r in rows]
        reraised: dict[int, float] = {}
        if ids:
            # A condition that came back before anyone acknowledged its return: when it was raised again.
            again = (
                select(alarm_events.c.alarm_id, func.max(alarm_events.c.time))
                .where(
                    alarm_events.c.alarm_id.in_(ids),
                    alarm_events.c.to_state == AlarmState.ACTIVE_UNACK.value,
                    alarm_events.c.from_state.is_not(None),
                    alarm_events.c.from_state != AlarmState.NORMAL.value,
                )
                .group_by(alarm_events.c.alarm_id)
            )
            reraised = {int(a): float(t) for a, t in (await connection.execute(again)).all()}
    labels = sensor_labels(table)
    zones = zone_names(table)
    for row in rows:
        label = labels.get(row["sensor_id"])
        row["active"] = row["cleared_at"] is None
        row["actions"] = list(NEEDED_ACTIONS[row["state"]])
        row["unit"] = display_unit(row["kind"])
        row["device_name"] = label.device_name if label else row["device_id"]
        row["zone_name"] = label.zone_name if label else zones.get(row["zone"], row["zone"])
        row["substance"] = label.substance if label else None
        row["reraised_at"] = reraised.get(row["id"])
    rows.sort(key=lambda r: (-PRIORITY_RANK.get(r["priority"], -9), -(r["reraised_at"] or r["raised_at"])))
    return rows
