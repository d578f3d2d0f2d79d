"""The ``drill_runs`` table: a replay opens its run, beats while it runs, and closes it; anyone can ask what runs.

A replay may write into the database a running service uses. The run row is how the service knows: it shows
``hazwatch_drill_running`` while a run is ``running`` and its heartbeat is fresh. The heartbeat is what tells a
replay that is still going from one that was killed before it could close its row (which would otherwise leave the
wall display saying DRILL forever, and real alarms looking like a drill).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.errors import HazwatchError
from daemon.store.schema import drill_runs

HEARTBEAT_INTERVAL_S = 5.0
# Six missed beats: a replay stalled by a slow database for a while still counts as running.
STALE_AFTER_S = 6 * HEARTBEAT_INTERVAL_S


class DrillRunError(HazwatchError):
    """The drill run row cannot be written."""


async def open_run(engine: AsyncEngine, source: str, speed: str, wall_now: float) -> int:
    """Insert a running drill run; returns its id (assigned by the database, so never shared by two replays)."""
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(drill_runs).values(
                source=source, speed=speed, started_at=wall_now, heartbeat_at=wall_now, status="running"
            )
        )
    key = inserted.inserted_primary_key
    if key is None:
        raise DrillRunError("the database did not return the drill run id")
    return int(key[0])


async def beat(engine: AsyncEngine, run_id: int, wall_now: float) -> None:
    """Say the run is still alive."""
    async with engine.begin() as connection:
        await connection.execute(update(drill_runs).where(drill_runs.c.id == run_id).values(heartbeat_at=wall_now))


async def close_run(
    engine: AsyncEngine, run_id: int, status: str, wall_now: float, sim_start: float | None, sim_end: float | None
) -> None:
    """Record how the run ended."""
    async with engine.begin() as connection:
        await connection.execute(
            update(drill_runs)
            .where(drill_runs.c.id == run_id)
            .values(finished_at=wall_now, heartbeat_at=wall_now, sim_start=sim_start, sim_end=sim_end, status=status)
        )


def alive(wall_now: float) -> ColumnElement[bool]:
    """The drill runs in progress at ``wall_now``: status running and a heartbeat within ``STALE_AFTER_S``."""
    return and_(drill_runs.c.status == "running", drill_runs.c.heartbeat_at >= wall_now - STALE_AFTER_S)


async def count_running(engine: AsyncEngine, wall_now: float) -> int:
    """How many drill runs are in progress."""
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).where(alive(wall_now)))).scalar_one())
