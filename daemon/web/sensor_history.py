"""A sensor's recent readings for the map's chart, thinned to what a chart can draw."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.reading_chunks import read_readings
from daemon.store.schema import alarms
from daemon.web.alarm_board import NEEDED_ACTIONS
from daemon.web.api.errors import NotFound
from daemon.web.drill_scope import DrillScope
from daemon.web.units import display_unit
from rules.sensor_table import SensorTable

MAX_POINTS = 1500  # a 400 px chart shows no more; a day of 10 s readings is 8,640


def thin(times: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points: the mean of each equal-count bucket (keeps the shape, drops the noise)."""
    count = int(times.shape[0])
    if count <= max_points:
        return times.tolist(), values.tolist()
    edges = np.linspace(0, count, max_points + 1).astype(np.intp)
    sums_t = np.add.reduceat(times, edges[:-1])
    sums_v = np.add.reduceat(values, edges[:-1])
    sizes = np.diff(edges)
    return (sums_t / sizes).tolist(), (sums_v / sizes).tolist()


async def sensor_history(
    engine: AsyncEngine, table: SensorTable, sensor_id: str, now: float, hours: float, scope: DrillScope
) -> dict[str, Any]:
    """The sensor's readings of the last ``hours`` and its alarms that still need an action."""
    if sensor_id not in table.index:
        raise NotFound(f"no sensor {sensor_id!r} in the site file")
    spec = table.sensors[table.index[sensor_id]]
    since = now - hours * 3600.0
    async with engine.connect() as connection:
        readings = await read_readings(
            connection, since=since, until=now + 1.0, drill=not scope.live, sensor_ids=[sensor_id]
        )
        open_alarms = (
            await connection.execute(
                select(alarms)
                .where(alarms.c.sensor_id == sensor_id, alarms.c.state.in_(list(NEEDED_ACTIONS)), scope.where(alarms))
                .order_by(alarms.c.raised_at.desc())
            )
        ).mappings()
        alarm_rows = [dict(a) for a in open_alarms]
    finite = np.isfinite(readings.value)
    times, values = thin(readings.time[finite], readings.value[finite])
    return {
        "sensor": sensor_id,
        "kind": spec.kind.value,
        "unit": display_unit(spec.kind.value),
        "since": since,
        "until": now,
        "times": times,
        "values": values,
        "alarms": alarm_rows,
    }
