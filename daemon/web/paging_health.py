"""Whether pages reach people, for /healthz: an active ``notify.page_undeliverable`` alarm means degraded."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import alarms

PAGE_UNDELIVERABLE_RULE = "notify.page_undeliverable"


async def pages_reach_people(engine: AsyncEngine) -> bool:
    """False while a live page-undeliverable alarm is active (raised and not cleared)."""
    query = select(func.count()).where(
        alarms.c.rule == PAGE_UNDELIVERABLE_RULE, alarms.c.cleared_at.is_(None), alarms.c.drill.is_(False)
    )
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one()) == 0
