"""A takeover writes, from the rows the follower held, exactly the ones the old leader did not commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.ha.standby import StandbyHold
from daemon.ha.takeover import Takeover
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.reading_chunks import read_readings
from daemon.store.rows import AlarmEventRow, AlarmRow, NotificationRow
from daemon.store.schema import alarm_events, alarms, notifications
from daemon.store.writer import StoreWriter, WriteGroup
from detectors.readings import ReadingBatch

SENSORS = ["gas-n01-cl2", "gas-n01-hcl"]
T0 = 1_800_000_000.0


def alarm(row_id: int, key: str) -> AlarmRow:
    """A raised alarm row."""
    return AlarmRow(
        id=row_id, rule="cl2-level2", sensor_id=key.split("@")[1], device_id="gas-n01",
        site="demo-park", zone="boundary-north", kind="gas", priority="high", state="active_unacked",
        raised_at=T0, updated_at=T0, alarm_key=key, classification="", message="", message_zh="", value=None,
        level=None, cleared_at=None, latched=False,
    )  # fmt: skip


def event(alarm_id: int, t: float, to_state: str) -> AlarmEventRow:
    """One alarm journal line."""
    return AlarmEventRow(alarm_id=alarm_id, time=t, from_state=None, to_state=to_state, actor="system", reason="")


def page(key: str) -> NotificationRow:
    """One outbox row."""
    return NotificationRow(
        idempotency_key=key, event="opened", channel="console", recipient="duty", payload="{}",
        state="pending", attempts=0, next_attempt_at=T0, created_at=T0, incident_id=None, alarm_id=None, role=None,
        language="zh", drill=False, page_id=None, chain_key=None, chain_step=None, step_timeout_s=None,
        released_at=None,
    )  # fmt: skip


def readings(times: list[float], sensor: int = 0) -> ReadingBatch:
    """Readings of one sensor at ``times``."""
    n = len(times)
    return ReadingBatch(np.full(n, sensor, np.int32), np.array(times), np.full(n, 2.0), np.zeros(n, np.uint16))


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated PostgreSQL database of its own."""
    db = create_engine(postgres_url)
    await migrate(db)
    yield db
    await db.dispose()


async def test_takeover_writes_only_what_the_leader_did_not_commit(engine: AsyncEngine) -> None:
    # The old leader committed the first part of the stream, then died.
    leader = StoreWriter(engine, SENSORS, Metrics(CollectorRegistry()))
    leader_task = asyncio.create_task(leader.run())
    leader.add_readings(readings([T0, T0 + 1, T0 + 2]))
    leader.add_alarm(alarm(1, "cl2-level2@gas-n01-cl2"))
    leader.add_alarm_event(event(1, T0, "active_unacked"))
    leader.add_notification(page("inc-1/n1/duty"))
    leader.close()
    await leader_task

    # The follower judged the same stream: it holds those rows too, and the ones the leader never wrote.
    follower = StoreWriter(engine, SENSORS, Metrics(CollectorRegistry()))
    hold = StandbyHold(hold_s=60.0)
    started: list[bool] = []

    async def stop_delivery() -> None:
        started.clear()

    async def resync() -> None:
        return None

    takeover = Takeover(
        engine, follower, SENSORS, hold,
        start_delivery=lambda: started.append(True), stop_delivery=stop_delivery, resync_ids=resync,
    )  # fmt: skip
    follower_task = asyncio.create_task(follower.run())
    follower.add_readings(readings([T0, T0 + 1]))
    follower.add_alarm(alarm(1, "cl2-level2@gas-n01-cl2"))
    follower.add_alarm_event(event(1, T0 + 0.3, "active_unacked"))  # its own clock: stamped a little later
    follower.add_notification(page("inc-1/n1/duty"))
    await follower.flush()
    follower.add_readings(readings([T0 + 2, T0 + 3, T0 + 4]))
    follower.add_alarm(alarm(2, "cl2-level2@gas-n01-hcl"))
    follower.add_alarm_event(event(2, T0 + 3, "active_unacked"))
    follower.add_alarm_event(event(1, T0 + 3, "active_acked"))
    follower.add_notification(page("inc-1/n2/leader"))
    await follower.flush()
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(alarms))).scalar() == 1, "follower wrote"
    assert len(hold) == 2

    await takeover.promote()
    await follower.flush()
    follower.close()
    await follower_task

    assert started == [True]
    async with engine.connect() as connection:
        rows = (await connection.execute(select(alarms.c.id, alarms.c.alarm_key).order_by(alarms.c.id))).all()
        events = (await connection.execute(select(alarm_events.c.alarm_id, alarm_events.c.to_state))).all()
        keys = (await connection.execute(select(notifications.c.idempotency_key))).scalars().all()
        stored = await read_readings(connection, drill=False)
    assert [tuple(r) for r in rows] == [(1, "cl2-level2@gas-n01-cl2"), (2, "cl2-level2@gas-n01-hcl")]
    assert sorted(tuple(e) for e in events) == [(1, "active_acked"), (1, "active_unacked"), (2, "active_unacked")]
    assert sorted(keys) == ["inc-1/n1/duty", "inc-1/n2/leader"]
    assert stored.time.tolist() == [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]


async def test_an_id_the_leader_used_for_another_alarm_is_not_overwritten(engine: AsyncEngine) -> None:
    leader = StoreWriter(engine, SENSORS, Metrics(CollectorRegistry()))
    task = asyncio.create_task(leader.run())
    leader.add_alarm(alarm(1, "cl2-level2@gas-n01-cl2"))
    leader.close()
    await task
    follower = StoreWriter(engine, SENSORS, Metrics(CollectorRegistry()))
    hold = StandbyHold(hold_s=60.0)

    async def nothing() -> None:
        return None

    takeover = Takeover(
        engine, follower, SENSORS, hold, start_delivery=lambda: None, stop_delivery=nothing, resync_ids=nothing
    )
    task = asyncio.create_task(follower.run())
    follower.add_alarm(alarm(1, "cl2-level2@gas-n01-hcl"))
    await follower.flush()
    await takeover.promote()
    follower.close()
    await task
    async with engine.connect() as connection:
        rows = (await connection.execute(select(alarms.c.id, alarms.c.alarm_key))).all()
    assert [tuple(r) for r in rows] == [(1, "cl2-level2@gas-n01-cl2")]


def test_the_hold_forgets_groups_older_than_its_window() -> None:
    hold = StandbyHold(hold_s=0.0)  # every group is older than the window by the time the next one arrives
    hold.keep(WriteGroup(readings=[readings([T0])]))
    hold.keep(WriteGroup(readings=[readings([T0 + 1])]))
    assert len(hold) == 1
    assert [b.time.tolist() for b in hold.take().readings] == [[T0 + 1]]
    assert len(hold) == 0


def test_held_groups_are_told_to_the_commit_hooks() -> None:
    told: list[WriteGroup] = []
    hold = StandbyHold(hold_s=60.0, after_keep=[told.append])
    group = WriteGroup(readings=[readings([T0])])
    hold.keep(group)
    assert told == [group]
