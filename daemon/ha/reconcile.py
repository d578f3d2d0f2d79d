"""After a takeover: which of the follower's held rows the old leader never committed.

The database says where the leader stopped. Both instances judged the same stream, so most held rows are already
stored by the leader; writing them again would double them. Rows with ids the service assigns (alarms, incidents,
checklist items) are looked up by id; journal rows (alarm and incident events, quarantine) by what they record;
readings by (sensor, time); outbox rows carry idempotency keys and need nothing here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.store.reading_chunks import read_readings
from daemon.store.schema import alarm_events, alarms, checklist_items, incident_events, incidents, quarantine
from daemon.store.writer import WriteGroup
from detectors.readings import ReadingBatch

log = logging.getLogger(__name__)
# Timer-driven journal lines carry each instance's own clock: the same transition is stamped a little apart.
SAME_EVENT_WITHIN_S = 5.0
# Rows the service numbers itself, with the column that says what the row is (an id clash with another row).
NUMBERED: dict[str, str] = {"alarms": "alarm_key", "incidents": "key", "checklist_items": "text"}
# Journal rows: the columns that identify one line besides its time.
JOURNALS: dict[str, tuple[str, tuple[str, ...]]] = {
    "alarm_events": ("time", ("alarm_id", "from_state", "to_state")),
    "incident_events": ("time", ("incident_id", "type", "ref")),
    "quarantine": ("received_at", ("topic", "reason")),
}
TABLES: dict[str, Table] = {
    t.name: t for t in (alarms, incidents, checklist_items, alarm_events, incident_events, quarantine)
}


async def missing_rows(engine: AsyncEngine, group: WriteGroup, sensor_ids: Sequence[str]) -> WriteGroup:
    """``group`` without the rows the database already holds."""
    out = WriteGroup(
        insert_once=group.insert_once,
        updates=group.updates,
        device_status=group.device_status,
        checkpoints=group.checkpoints,
    )
    async with engine.connect() as connection:
        out.readings = await _new_readings(connection, group.readings, sensor_ids)
        for table, rows in group.inserts.items():
            if table.name in NUMBERED:
                kept = await _new_numbered(connection, table, rows)
            elif table.name in JOURNALS:
                kept = await _new_journal_lines(connection, table, rows)
            else:
                kept = rows
            if kept:
                out.inserts[table] = kept
    held = sum(len(r) for r in group.inserts.values())
    written = sum(len(r) for r in out.inserts.values())
    log.warning(
        "HA takeover: %d of %d held rows and %d of %d held readings were not committed by the old leader",
        written, held, sum(len(b) for b in out.readings), sum(len(b) for b in group.readings),
    )  # fmt: skip
    return out


async def _new_readings(
    connection: AsyncConnection, batches: list[ReadingBatch], sensor_ids: Sequence[str]
) -> list[ReadingBatch]:
    """Readings whose (sensor, time) is not stored yet."""
    if not batches:
        return []
    since = min(float(b.time.min()) for b in batches if len(b))
    stored = await read_readings(connection, since=since, drill=False)
    seen = set(zip(stored.sensor_id.tolist(), stored.time.tolist(), strict=True))
    out = []
    for batch in batches:
        keep = np.fromiter(
            ((sensor_ids[s], t) not in seen for s, t in zip(batch.sensor.tolist(), batch.time.tolist(), strict=True)),
            np.bool_,
            len(batch),
        )
        if keep.all():
            out.append(batch)
        elif keep.any():
            out.append(ReadingBatch(batch.sensor[keep], batch.time[keep], batch.value[keep], batch.flags[keep]))
    return out


async def _new_numbered(connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose id is not stored; an id stored for a different thing is reported (ids went apart)."""
    what = NUMBERED[table.name]
    ids = [row["id"] for row in rows]
    query = select(table.c.id, table.c[what]).where(table.c.id.in_(ids))
    stored = dict((await connection.execute(query)).all())
    kept = []
    for row in rows:
        if row["id"] not in stored:
            kept.append(row)
        elif stored[row["id"]] != row[what]:
            log.error(
                "HA takeover: %s row %s is %r in the database but %r here: not written (the instances numbered "
                "rows differently)", table.name, row["id"], stored[row["id"]], row[what],
            )  # fmt: skip
    return kept


async def _new_journal_lines(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Journal lines not stored yet: same identifying columns and a time within a few seconds count as stored."""
    time_column, columns = JOURNALS[table.name]
    since = min(float(row[time_column]) for row in rows) - SAME_EVENT_WITHIN_S
    query = select(table.c[time_column], *(table.c[c] for c in columns)).where(table.c[time_column] >= since)
    stored: dict[tuple[Any, ...], list[float]] = {}
    for time_value, *identity in (await connection.execute(query)).all():
        stored.setdefault(tuple(identity), []).append(float(time_value))
    kept = []
    for row in rows:
        times = stored.get(tuple(row.get(c) for c in columns), [])
        match = next((t for t in times if abs(t - float(row[time_column])) <= SAME_EVENT_WITHIN_S), None)
        if match is None:
            kept.append(row)
        else:
            times.remove(match)  # one stored line answers for one held line
    return kept
