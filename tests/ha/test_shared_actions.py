"""A pair shares operator actions and fences a paused leader.

Everything is real: the machine's PostgreSQL, a Mosquitto started here, two ``hazwatch run`` processes and a local
webhook receiver. The duty officer acknowledges on the FOLLOWER's API: the leader must stop its escalation. Then the
leader is paused (SIGSTOP): PostgreSQL ends its silent lock session after the lease, the follower takes over with a
newer epoch and keeps the acknowledgement; the old leader, resumed (SIGCONT), writes and sends nothing.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.engine import create_engine, migrate
from daemon.store.reading_chunks import read_readings
from daemon.store.schema import alarms, ha_leadership, notifications, operator_actions
from daemon.web.api.auth import add_user
from tests.ha.test_failover import (
    ACK_DEADLINE_S,
    DEVICE,
    PLAN,
    SENSOR,
    STARTUP_S,
    Instance,
    _leader_of,
    instance_config,
    roster,
)
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import start_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]
LEASE_S = 4.0  # far above check_interval_s (0.5): a loaded test machine must not lose the lock by itself


async def _alarm_id(engine: AsyncEngine) -> int | None:
    async with engine.connect() as connection:
        query = select(alarms.c.id).where(alarms.c.sensor_id == SENSOR)
        return (await connection.execute(query)).scalar()


async def _page_row(engine: AsyncEngine) -> int | None:
    async with engine.connect() as connection:
        query = select(notifications.c.id).where(notifications.c.state == "delivered").order_by(notifications.c.id)
        return (await connection.execute(query)).scalar()


async def _post(instance: Instance, path: str, token: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session,
        session.post(instance.http() + path, json={"reason": "on my way"}) as reply,
    ):
        return reply.status, await reply.json()


async def _paged(pages: list[tuple[str, str]], path: str) -> bool | None:
    return True if any(p[0] == path for p in pages) else None


async def test_ack_on_follower_stops_the_leader_and_survives_a_paused_leader(
    own_mosquitto: tuple[str, int], postgres_url: str, tmp_path: Path, unique: str
) -> None:
    pages: list[tuple[str, str]] = []  # (path, idempotency key)
    paged_at: list[float] = []  # time.monotonic() of each page's arrival

    async def hook(request: web.Request) -> web.Response:
        pages.append((request.path, request.headers.get("Idempotency-Key", "")))
        paged_at.append(time.monotonic())
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "roster.yaml").write_text(roster(receiver.url), encoding="utf-8")
    prefix = f"hx-{unique}"
    extra = f"lease_s = {LEASE_S}"
    a = Instance(instance_config(tmp_path, "a", own_mosquitto, postgres_url, prefix, extra), tmp_path / "a.log")
    b = Instance(instance_config(tmp_path, "b", own_mosquitto, postgres_url, prefix, extra), tmp_path / "b.log")
    topic = f"{prefix}/demo-park/{DEVICE}"
    published: list[float] = []
    stop_feed = asyncio.Event()

    async def feed() -> None:
        while not stop_feed.is_set():  # chlorine over GB/T 50493 level 2, once a second: the alarm stays on
            t = round(time.time(), 3)
            await publish(own_mosquitto, [(topic, senml(DEVICE, [("cl2", 2.0, "ppm")], t))])
            published.append(t)
            await asyncio.sleep(1.0)

    feeder: asyncio.Task[None] | None = None
    engine = create_engine(postgres_url)
    paused: Instance | None = None
    try:
        await migrate(engine)
        token = await add_user(engine, "duty-wang", "operator", time.time())
        await asyncio.gather(a.start(), b.start())
        for instance in (a, b):
            await instance.wait_for("subscribed to", timeout=STARTUP_S)
        await eventually(lambda: _leader_of(a, b), timeout=STARTUP_S)
        leader, follower = (a, b) if a.said("now the LEADER") else (b, a)
        await follower.wait_for("HA: following")

        feeder = asyncio.create_task(feed())
        await eventually(lambda: _paged(pages, "/duty"), timeout=30)
        alarm_id = await eventually(lambda: _alarm_id(engine), timeout=10)
        page_id = await eventually(lambda: _page_row(engine), timeout=10)
        # The duty officer acknowledges the page and the alarm on the FOLLOWER's API: each action is recorded once,
        # applied by the leader, and answered by the follower with the leader's result.
        status, body = await _post(follower, f"/api/notifications/{page_id}/acknowledge", token)
        assert status == 200, body
        assert body["notification"]["acknowledged_by"] == "duty-wang"
        status, body = await _post(follower, f"/api/alarms/{alarm_id}/acknowledge", token)
        assert status == 200, body
        assert body["alarm"]["acknowledged_by"] == "duty-wang"
        status, body = await _post(follower, f"/api/alarms/{alarm_id}/acknowledge", token)
        assert status == 409, "the leader's refusal (already acknowledged) comes back through the follower"
        # The leader's escalation would page the shift leader one deadline after the first page: it must not. The
        # window ends two deadlines and a second after that page arrived (it was made before it arrived), not after
        # the acknowledgements, which took seconds of it already on a loaded machine.
        await asyncio.sleep(max(0.0, paged_at[0] + ACK_DEADLINE_S * 2 + 1 - time.monotonic()))
        assert not [p for p in pages if p[0] != "/duty"], f"the leader escalated an acknowledged page: {pages}"

        # Pause the leader: it holds its lock session open but says nothing; the server ends it after the lease.
        assert leader.process is not None
        leader.process.send_signal(signal.SIGSTOP)
        paused = leader
        stopped_at = time.monotonic()
        await follower.wait_for("now the LEADER", timeout=LEASE_S + 15)
        takeover_s = time.monotonic() - stopped_at
        print(f"takeover {takeover_s:.1f} s after the SIGSTOP (lease {LEASE_S:g} s)")
        leader.process.send_signal(signal.SIGCONT)  # it wakes with readings and timers in hand
        paused = None
        await leader.wait_for("now the follower", timeout=30)
        await asyncio.sleep(ACK_DEADLINE_S * 2 + 1)  # the new leader would escalate now if it had lost the ack
        stop_feed.set()
        await feeder
        await asyncio.sleep(1.0)
        await leader.stop()  # the old leader first: stopping the new one would hand the lock back (epoch 3)
        await follower.stop()

        async with engine.connect() as connection:
            epochs = (await connection.execute(select(ha_leadership.c.epoch))).scalars().all()
            actions = (await connection.execute(select(operator_actions))).mappings().all()
            alarm = (await connection.execute(select(alarms).where(alarms.c.id == alarm_id))).mappings().one()
            stored = await read_readings(connection, drill=False, sensor_ids=[SENSOR])
    finally:
        stop_feed.set()
        if paused is not None and paused.process is not None:
            paused.process.send_signal(signal.SIGCONT)
        if feeder is not None:
            await asyncio.gather(feeder, return_exceptions=True)
        await a.stop()
        await b.stop()
        await engine.dispose()
        assert receiver.runner is not None
        await receiver.runner.cleanup()

    assert takeover_s < LEASE_S + 10, f"takeover took {takeover_s:.1f} s"
    assert epochs == [2], "one takeover after the first leader: epoch 2"
    assert [(r["kind"], r["state"]) for r in actions] == [
        ("acknowledge_notification", "done"),
        ("acknowledge_alarm", "done"),
        ("acknowledge_alarm", "refused"),
    ]
    assert {r["epoch"] for r in actions} == {1}, "applied by the first leader"
    assert alarm["acknowledged_by"] == "duty-wang"
    assert alarm["state"] == "active_acked"
    # One page, never escalated, by either leader; none sent twice.
    assert Counter(path for path, _ in pages) == {"/duty": 1}, pages
    # The resumed old leader wrote nothing twice: every reading once (its own stream went to its hold).
    times = stored.time.tolist()
    assert len(times) == len(set(times)), "readings stored twice"
    assert set(published) <= set(times), f"lost readings: {sorted(set(published) - set(times))}"
