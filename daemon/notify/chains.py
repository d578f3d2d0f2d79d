"""A person's page walks their channels: release the next channel when the current one failed or timed out, stop
when someone acknowledged, and find the pages nobody of a role could be reached for.

Every function works in the caller's transaction and returns what changed; the worker calls them each pass.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from daemon.store.schema import notifications

ENDED_UNDELIVERED = ("failed", "given_up", "superseded")
REACHED = ("delivered", "acknowledged")


@dataclass(frozen=True, slots=True)
class ChainMoves:
    """What one pass of ``advance_chains`` did."""

    released: int = 0
    superseded: int = 0


async def advance_chains(connection: AsyncConnection, scope: ColumnElement[bool], now: float) -> ChainMoves:
    """Release held steps whose predecessor failed or had its time; supersede the rest of acknowledged chains."""
    before = aliased(notifications)
    query = (
        select(
            notifications.c.id,
            before.c.id.label("before_id"),
            before.c.state.label("before_state"),
            before.c.acknowledged_at.label("before_ack"),
            before.c.released_at.label("before_released"),
            before.c.step_timeout_s.label("before_timeout"),
        )
        .join(
            before,
            and_(
                before.c.chain_key == notifications.c.chain_key, before.c.chain_step == notifications.c.chain_step - 1
            ),
        )
        .where(scope, notifications.c.state == "held")
    )
    released = superseded = 0
    for row in (await connection.execute(query)).all():
        if row.before_state == "acknowledged" or row.before_ack is not None:
            await _set(connection, row.id, "held", state="superseded", last_error="acknowledged on an earlier channel")
            superseded += 1
            continue
        if row.before_state in ENDED_UNDELIVERED:
            release = True
        else:
            timeout = row.before_timeout or 0.0
            release = row.before_released is not None and now >= row.before_released + timeout
            if release and row.before_state == "pending":
                reason = f"not delivered within {timeout:g} s: moved on to the next channel"
                superseded += await _set(connection, row.before_id, "pending", state="superseded", last_error=reason)
        if release:
            released += await _set(connection, row.id, "held", state="pending", next_attempt_at=now, released_at=now)
    return ChainMoves(released, superseded)


async def stop_page(connection: AsyncConnection, page_id: str, actor: str, now: float) -> int:
    """An acknowledgement: delivered rows become acknowledged, everything still to go is superseded."""
    page = notifications.c.page_id == page_id
    result = await connection.execute(
        update(notifications)
        .where(page, notifications.c.state == "delivered")
        .values(state="acknowledged", acknowledged_at=now, acknowledged_by=actor)
    )
    stopped = await connection.execute(
        update(notifications)
        .where(page, notifications.c.state.in_(("held", "pending")))
        .values(state="superseded", last_error=f"page acknowledged by {actor}")
    )
    return max(result.rowcount, 0) + max(stopped.rowcount, 0)


async def unreachable_roles(connection: AsyncConnection, page_ids: set[str]) -> list[tuple[str, str, list[str]]]:
    """(page, role, errors) for each role of these pages whose every row ended without reaching anyone."""
    if not page_ids:
        return []
    query = select(
        notifications.c.page_id, notifications.c.role, notifications.c.state, notifications.c.last_error
    ).where(notifications.c.page_id.in_(sorted(page_ids)))
    states: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for row in (await connection.execute(query)).all():
        states[(str(row.page_id), str(row.role or ""))].append((str(row.state), str(row.last_error or "")))
    unreachable = []
    for (page_id, role), rows in sorted(states.items()):
        if all(state in ENDED_UNDELIVERED for state, _ in rows) and not all(s == "superseded" for s, _ in rows):
            unreachable.append((page_id, role, sorted({error for _, error in rows if error})))
    return unreachable


async def _set(connection: AsyncConnection, row_id: int, expected: str, **values: object) -> int:
    result = await connection.execute(
        update(notifications).where(notifications.c.id == row_id, notifications.c.state == expected).values(**values)
    )
    return max(result.rowcount, 0)
