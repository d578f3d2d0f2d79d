"""Read-side queries used by the HTTP API and tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.row_ids import IdRange
from daemon.store.schema import alarms, checklist_items, incidents


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database does not answer."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def list_alarms(engine: AsyncEngine, *, active_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Active alarms first (newest first), then recently cleared ones, at most ``limit`` rows."""
    query = select(alarms)
    if active_only:
        query = query.where(alarms.c.cleared_at.is_(None))
    query = query.order_by(alarms.c.cleared_at.is_(None).desc(), alarms.c.raised_at.desc(), alarms.c.id.desc())
    async with engine.connect() as connection:
        rows = (await connection.execute(query.limit(limit))).mappings().all()
    return [dict(row) for row in rows]


async def next_ids(engine: AsyncEngine, id_range: IdRange | None = None) -> dict[str, int]:
    """One past the highest id within ``id_range`` (default: the live range) of each table the service numbers."""
    id_range = id_range or IdRange.live()
    out: dict[str, int] = {}
    async with engine.connect() as connection:
        for name, table in (("alarms", alarms), ("incidents", incidents), ("checklist_items", checklist_items)):
            highest = (
                await connection.execute(select(func.max(table.c.id)).where(table.c.id.between(*id_range.bounds)))
            ).scalar()
            out[name] = int(highest) + 1 if highest is not None else id_range.first
    return out


async def open_alarm_rows(engine: AsyncEngine, *, drill: bool) -> list[dict[str, Any]]:
    """Alarm rows whose episode has not ended (state other than normal)."""
    query = select(alarms.c.id, alarms.c.alarm_key, alarms.c.state).where(
        alarms.c.state != "normal", alarms.c.drill.is_(drill)
    )
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings().all()]
