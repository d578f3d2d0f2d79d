"""Read-side queries behind the API: alarms with history, incidents with timeline and checklist, the site map."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.drills import runs
from daemon.redaction import redact
from daemon.store.schema import (
    alarm_events,
    alarms,
    checklist_items,
    device_status,
    drill_runs,
    incident_events,
    incidents,
    notifications,
    sensor_service,
)
from daemon.web import incident_view
from daemon.web.alarm_board import NEEDED_ACTIONS
from daemon.web.api.errors import NotFound
from daemon.web.drill_scope import DrillScope
from daemon.web.sensor_names import sensor_labels
from daemon.web.units import display_unit
from rules.model import Priority
from rules.sensor_table import SensorTable

LatestValues = Callable[[], tuple[np.ndarray, np.ndarray]]  # (value, time) per sensor number
PRIORITY_ORDER = {priority.value: -priority.rank for priority in Priority}  # most urgent first


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"raw": text}


incident_row = incident_view.incident_row


async def alarm_detail(engine: AsyncEngine, alarm_id: int) -> dict[str, Any]:
    """One alarm with its history, oldest event first."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(alarms).where(alarms.c.id == alarm_id))).mappings().first()
        if row is None:
            raise NotFound(f"no alarm {alarm_id}")
        events = (
            await connection.execute(
                select(alarm_events).where(alarm_events.c.alarm_id == alarm_id).order_by(alarm_events.c.id)
            )
        ).mappings()
        return {"alarm": {**row, "active": row["cleared_at"] is None}, "events": [dict(e) for e in events]}


async def list_incidents(
    engine: AsyncEngine, *, open_only: bool, limit: int, scope: DrillScope | None = None
) -> list[dict[str, Any]]:
    """Open incidents first (newest first), then closed ones; live ones only unless ``scope`` names a drill run."""
    query = select(incidents).where((scope or DrillScope()).where(incidents))
    if open_only:
        query = query.where(incidents.c.state != "closed")
    query = query.order_by((incidents.c.state == "closed").asc(), incidents.c.opened_at.desc()).limit(limit)
    async with engine.connect() as connection:
        return [incident_row(dict(r)) for r in (await connection.execute(query)).mappings()]


async def incident_detail(engine: AsyncEngine, incident_id: int) -> dict[str, Any]:
    """An incident with its timeline, checklist and alarms."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(incidents).where(incidents.c.id == incident_id))).mappings().first()
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        timeline = (
            await connection.execute(
                select(incident_events)
                .where(incident_events.c.incident_id == incident_id)
                .order_by(incident_events.c.time, incident_events.c.id)
            )
        ).mappings()
        checklist = (
            await connection.execute(
                select(checklist_items)
                .where(checklist_items.c.incident_id == incident_id)
                .order_by(checklist_items.c.position, checklist_items.c.id)
            )
        ).mappings()
        linked = (
            await connection.execute(
                select(alarms).where(alarms.c.incident_id == incident_id).order_by(alarms.c.raised_at)
            )
        ).mappings()
        return {
            "incident": incident_row(dict(row)),
            # newest first: the escalation that just happened is at the top, not under an hour of alarm lines
            "timeline": [{**e, "detail": _json(e["detail"])} for e in reversed(list(timeline))],
            "checklist": [dict(c) for c in checklist],
            "alarms": [{**a, "active": a["cleared_at"] is None} for a in linked],
        }


async def list_notifications(engine: AsyncEngine, *, unacknowledged_only: bool, limit: int) -> list[dict[str, Any]]:
    """Recent notifications (without their payload), newest first."""
    columns = [c for c in notifications.c if c.name != "payload"]
    query = select(*columns)
    if unacknowledged_only:
        query = query.where(notifications.c.acknowledged_at.is_(None), notifications.c.event != "resolved")
    query = query.order_by(notifications.c.created_at.desc(), notifications.c.id.desc()).limit(limit)
    async with engine.connect() as connection:
        rows = [dict(r) for r in (await connection.execute(query)).mappings()]
    # A webhook's URL (the recipient) and errors quoting it may carry its secret: viewers never see it.
    for row in rows:
        for name in ("recipient", "last_error"):
            if isinstance(row.get(name), str):
                row[name] = redact(row[name])
    return rows


async def site_view(
    engine: AsyncEngine, table: SensorTable, latest: LatestValues | None, now: float, scope: DrillScope | None = None
) -> dict[str, Any]:
    """The site with every sensor's position, latest value and state, and the drill running at ``now``.

    A sensor's alarm state comes from live alarms only (or from one drill run's, with ``scope``): a drill replayed
    into the live database never paints a live sensor red. Every alarm that needs an action counts, latched and
    returned-unacknowledged ones included.
    """
    scope = scope or DrillScope()
    async with engine.connect() as connection:
        active = (
            await connection.execute(
                select(alarms.c.sensor_id, alarms.c.priority, alarms.c.state).where(
                    alarms.c.state.in_(list(NEEDED_ACTIONS)), scope.where(alarms)
                )
            )
        ).all()
        service = {r.sensor_id: r for r in (await connection.execute(select(sensor_service))).all() if r.out_of_service}
        offline = {r.device_id for r in (await connection.execute(select(device_status))).all() if not r.online}
        drill = (await connection.execute(select(drill_runs.c.id, drill_runs.c.source).where(runs.alive(now)))).first()
    worst: dict[str, tuple[str, str]] = {}
    for sensor_id, priority, state in active:
        current = worst.get(sensor_id)
        if current is None or PRIORITY_ORDER.get(priority, 9) < PRIORITY_ORDER.get(current[0], 9):
            worst[sensor_id] = (priority, state)
    # The live values belong to the live picture only: a drill view shows the drill's alarms, not today's readings.
    values, times = latest() if latest is not None and scope.live else (None, None)
    site = table.site
    labels = sensor_labels(table)
    sensors = []
    for number, spec in enumerate(table.sensors):
        device = table.devices[int(table.device_of[number])]
        value = None if values is None or math.isnan(values[number]) else float(values[number])
        seen = None if times is None or math.isnan(times[number]) else float(times[number])
        if spec.id in service:
            state = "out_of_service"
        elif spec.id in worst:
            state = "shelved" if worst[spec.id][1] == "shelved" else "alarm"
        elif device.id in offline:
            state = "offline"
        elif seen is None:
            state = "no_data"
        else:
            state = "ok"
        sensors.append(
            {
                "id": spec.id,
                "device": device.id,
                "kind": spec.kind.value,
                "unit": display_unit(spec.kind.value),
                "device_name": labels[spec.id].device_name,
                "device_type": device.type.value,
                "substance": spec.substance,
                "zone": device.zone,
                "zone_name": labels[spec.id].zone_name,
                "lat": device.position.lat,
                "lon": device.position.lon,
                "value": value,
                "time": seen,
                "state": state,
                "alarm_priority": worst[spec.id][0] if spec.id in worst else None,
            }
        )
    return {
        "site": site.site,
        "name": site.name,
        "center": {"lat": site.center.lat, "lon": site.center.lon},
        "zoom": site.zoom,
        "drill_run": scope.run_id,
        "zones": [{"id": z.id, "name": z.name, "type": z.type.value} for z in site.zones],
        "drill": None if drill is None else {"id": drill.id, "source": drill.source},
        "sensors": sensors,
    }
