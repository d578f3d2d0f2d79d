"""Read-side queries used by the HTTP API and tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import alarms


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


async def open_alarms(engine: AsyncEngine, *, drill: bool) -> list[dict[str, Any]]:
    """Alarms still open (not cleared) for the given drill flag."""
    query = select(alarms).where(alarms.c.cleared_at.is_(None), alarms.c.drill.is_(drill))
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings().all()]


async def next_alarm_id(engine: AsyncEngine) -> int:
    """One past the highest alarm id stored (ids are assigned by the service)."""
    async with engine.connect() as connection:
        highest = (await connection.execute(select(func.max(alarms.c.id)))).scalar()
    return int(highest or 0) + 1
