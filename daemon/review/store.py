"""Station-day reviews in the database: the audited actions, and the ratios before and after review.

Stored readings are only read (live ones: a drill's or replay's readings never enter the review);
every reviewer action is a new ``review_actions`` row, and ``review_days`` only says where a day is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.review.ratios import ZERO, Counts, Mark, qc_pass_ratio, sensor_counts
from daemon.review.workflow import IN_REVIEW, MARKS, Action, check
from daemon.store.reading_chunks import read_readings
from daemon.store.schema import review_actions, review_days
from detectors.readings import FLAG_NAMES
from rules.sensor_table import SensorTable

FLAGGED_LISTED = 500  # flagged readings a day's review lists


class ReviewInputError(ValueError):
    """A station, day, sensor or range that does not exist or does not fit."""


@dataclass(frozen=True, slots=True)
class Station:
    """A device of the site as a monitoring station: its sensors and their report intervals."""

    id: str
    network: str
    sensors: tuple[tuple[str, float], ...]


def stations(table: SensorTable) -> dict[str, Station]:
    """Every device of the site, by id."""
    out: dict[str, Station] = {}
    for number, device in enumerate(table.devices):
        sensors = tuple(
            (spec.id, device.report_interval_s)
            for spec, owner in zip(table.sensors, table.device_of.tolist(), strict=True)
            if owner == number
        )
        out[device.id] = Station(device.id, device.type.value, sensors)
    return out


def day_bounds(day: str, timezone: str) -> tuple[float, float]:
    """Unix start and end of a local date (``YYYY-MM-DD``) in the site's time zone."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise ReviewInputError(f"day {day!r} is not YYYY-MM-DD") from exc
    zone = ZoneInfo(timezone)
    start = datetime(parsed.year, parsed.month, parsed.day, tzinfo=zone)
    end = start + timedelta(days=1)
    return start.timestamp(), datetime(end.year, end.month, end.day, tzinfo=zone).timestamp()


async def _review_row(connection: AsyncConnection, station: str, day: str) -> Any:
    query = select(review_days).where(review_days.c.station == station, review_days.c.day == day)
    return (await connection.execute(query)).first()


async def _actions(connection: AsyncConnection, review_id: int) -> list[dict[str, Any]]:
    query = select(review_actions).where(review_actions.c.review_id == review_id).order_by(review_actions.c.id)
    return [dict(row._mapping) for row in (await connection.execute(query)).all()]


def _marks(actions: Sequence[dict[str, Any]]) -> list[Mark]:
    return [
        Mark(Action(a["action"]), a["sensor_id"], a["time_from"], a["time_to"]) for a in actions if a["action"] in MARKS
    ]


async def act(
    engine: AsyncEngine,
    table: SensorTable,
    station_id: str,
    day: str,
    *,
    actor: str,
    role: str,
    action: Action,
    now: float,
    sensor_id: str | None = None,
    time_from: float | None = None,
    time_to: float | None = None,
    reason_code: str | None = None,
    comment: str = "",
) -> dict[str, Any]:
    """Record one reviewer action (opening the day's review at tier 1 on its first action); return the review."""
    station = stations(table).get(station_id)
    if station is None:
        raise ReviewInputError(f"no station {station_id!r} in the site file")
    start, end = day_bounds(day, table.site.timezone)
    if action in MARKS:
        if sensor_id is not None and sensor_id not in {s for s, _ in station.sensors}:
            raise ReviewInputError(f"sensor {sensor_id!r} is not a sensor of {station_id}")
        time_from = start if time_from is None else time_from
        time_to = end if time_to is None else time_to
        if not start <= time_from < time_to <= end:
            raise ReviewInputError(f"the range must lie within {day} ({start:.0f} <= from < to <= {end:.0f})")
    else:
        sensor_id = time_from = time_to = None
    async with engine.begin() as connection:
        row = await _review_row(connection, station_id, day)
        if row is None:
            values = {"station": station_id, "day": day, "tier": 1, "state": IN_REVIEW}
            await connection.execute(insert(review_days).values(**values, opened_at=now, updated_at=now))
            row = await _review_row(connection, station_id, day)
        moved = check(action, role, row.tier, row.state, reason_code=reason_code, comment=comment)
        await connection.execute(
            insert(review_actions).values(
                review_id=row.id,
                at=now,
                actor=actor,
                role=role,
                tier=row.tier,
                action=action.value,
                sensor_id=sensor_id,
                time_from=time_from,
                time_to=time_to,
                reason_code=reason_code,
                comment=comment,
            )
        )
        await connection.execute(
            update(review_days)
            .where(review_days.c.id == row.id)
            .values(tier=moved.tier, state=moved.state, updated_at=now)
        )
    return await review(engine, table, station_id, day)


async def review(engine: AsyncEngine, table: SensorTable, station_id: str, day: str) -> dict[str, Any]:
    """A station-day: where its review is, the audit trail, flagged readings, ratios before and after review."""
    station = stations(table).get(station_id)
    if station is None:
        raise ReviewInputError(f"no station {station_id!r} in the site file")
    start, end = day_bounds(day, table.site.timezone)
    async with engine.connect() as connection:
        row = await _review_row(connection, station_id, day)
        actions = await _actions(connection, row.id) if row is not None else []
        readings = await read_readings(
            connection, since=start, until=end, drill=False, sensor_ids=[s for s, _ in station.sensors]
        )
    marks = _marks(actions)
    counts = sensor_counts(station.sensors, readings.sensor_id, readings.time, readings.flags, marks, end - start)
    flagged = np.flatnonzero(readings.flags != 0)[:FLAGGED_LISTED].tolist()
    total = sum(counts.values(), ZERO)
    return {
        "station": station_id,
        "day": day,
        "day_start": start,
        "day_end": end,
        "tier": row.tier if row is not None else 1,
        "state": row.state if row is not None else "not_started",
        "actions": actions,
        "ratios": {**total.ratios(), "qc_pass": qc_pass_ratio(_qc(actions))},
        "sensors": {
            sensor: c.ratios() | {"expected": c.expected, "captured": c.captured} for sensor, c in counts.items()
        },
        "flagged": [
            {
                "sensor_id": str(readings.sensor_id[i]),
                "time": float(readings.time[i]),
                "value": float(readings.value[i]),
                "flags": [name for bit, name in FLAG_NAMES.items() if int(readings.flags[i]) & bit],
            }
            for i in flagged
        ],
    }


def _qc(actions: Sequence[dict[str, Any]]) -> list[str]:
    return [a["reason_code"] for a in actions if a["action"] == Action.QC.value]


async def ratio_rows(
    engine: AsyncEngine, table: SensorTable, first: str, last: str, *, monthly: bool
) -> list[dict[str, Any]]:
    """Ratios per station and per network (device type), per day or per month, before and after review."""
    first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    if last_day < first_day or (last_day - first_day).days > 366:
        raise ReviewInputError("give from <= to, at most 366 days apart")
    site_stations = stations(table)
    station_counts: dict[tuple[str, str], Counts] = {}
    qc: dict[tuple[str, str], list[str]] = {}
    states: dict[tuple[str, str], str] = {}
    async with engine.connect() as connection:
        day = first_day
        while day <= last_day:
            iso = day.isoformat()
            period = iso[:7] if monthly else iso
            start, end = day_bounds(iso, table.site.timezone)
            readings = await read_readings(connection, since=start, until=end, drill=False)
            for station in site_stations.values():
                row = await _review_row(connection, station.id, iso)
                actions = await _actions(connection, row.id) if row is not None else []
                mine = np.isin(readings.sensor_id, [s for s, _ in station.sensors])
                part = readings.take(mine)
                per_sensor = sensor_counts(
                    station.sensors, part.sensor_id, part.time, part.flags, _marks(actions), end - start
                )
                key = (period, station.id)
                station_counts[key] = station_counts.get(key, ZERO) + sum(per_sensor.values(), ZERO)
                qc.setdefault(key, []).extend(_qc(actions))
                state = row.state if row is not None else "not_started"
                states[key] = state if states.get(key, state) == state else "mixed"
            day += timedelta(days=1)
    rows: list[dict[str, Any]] = []
    networks: dict[tuple[str, str], Counts] = {}
    network_qc: dict[tuple[str, str], list[str]] = {}
    for (period, station_id), counts in station_counts.items():
        network = site_stations[station_id].network
        networks[(period, network)] = networks.get((period, network), ZERO) + counts
        network_qc.setdefault((period, network), []).extend(qc[(period, station_id)])
        rows.append(_row(period, "station", station_id, counts, qc[(period, station_id)], states[(period, station_id)]))
    for (period, network), counts in networks.items():
        rows.append(_row(period, "network", network, counts, network_qc[(period, network)], ""))
    return rows


def _row(period: str, level: str, name: str, counts: Counts, qc: list[str], state: str) -> dict[str, Any]:
    ratios = counts.ratios()
    return {
        "period": period,
        "level": level,
        "name": name,
        "expected": round(counts.expected, 3),
        "captured": counts.captured,
        "valid_before": counts.valid_before,
        "valid_after": counts.valid_after,
        "capture_ratio": ratios["capture"],
        "valid_ratio_before": ratios["valid_before"],
        "valid_ratio_after": ratios["valid_after"],
        "qc_pass_ratio": qc_pass_ratio(qc),
        "review_state": state,
    }
