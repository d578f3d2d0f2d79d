"""Quarantine rows are kept for inspection for a while, not for ever."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import quarantine


async def delete_old_quarantine(engine: AsyncEngine, before: float) -> int:
    """Delete quarantine rows received before ``before`` (unix seconds); returns how many."""
    async with engine.begin() as connection:
        result = await connection.execute(delete(quarantine).where(quarantine.c.received_at < before))
    return max(result.rowcount, 0)
