"""A credibility reset taken while one instance leads still holds after the other takes over.

Everything is real: the machine's PostgreSQL, a Mosquitto started here, two ``hazwatch run`` processes. A Cl2 cell
(20 ppm full scale) reads 15 ppm, then 0: a fall of more than two orders of magnitude in one report is not credible,
so both instances hold the sensor's hazard alarms (each judges the same stream). The operator resets the latch on
the FOLLOWER's console (the leader applies it, the follower mirrors it), then the leader is killed. The next clean
reading must be believed by the new leader: its level-2 alarm clears. Without the mirrored reset the new leader
still distrusts the cell and the alarm stays held.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.engine import create_engine, migrate
from daemon.store.schema import alarm_events, alarms
from daemon.web.api.auth import add_user
from tests.ha.test_failover import DEVICE, PLAN, SENSOR, STARTUP_S, Instance, _leader_of, instance_config, roster
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import start_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]
REASON = "bump test on site: cell reads span gas"


async def _alarm(engine: AsyncEngine, rule: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        query = select(alarms).where(alarms.c.sensor_id == SENSOR, alarms.c.rule == rule)
        row = (await connection.execute(query)).mappings().first()
    return dict(row) if row is not None else None


async def test_a_credibility_reset_survives_a_takeover(
    own_mosquitto: tuple[str, int], postgres_url: str, tmp_path: Path, unique: str
) -> None:
    async def hook(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    receiver = await start_receiver(hook)  # the pages of the fault and the level-2 incident land here
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "roster.yaml").write_text(roster(receiver.url), encoding="utf-8")
    prefix = f"hc-{unique}"
    a = Instance(instance_config(tmp_path, "a", own_mosquitto, postgres_url, prefix), tmp_path / "a.log")
    b = Instance(instance_config(tmp_path, "b", own_mosquitto, postgres_url, prefix), tmp_path / "b.log")
    topic = f"{prefix}/demo-park/{DEVICE}"
    t0 = round(time.time() - 120, 3)

    async def reading(value: float, at: float) -> None:
        await publish(own_mosquitto, [(topic, senml(DEVICE, [("cl2", value, "ppm")], at))])

    engine = create_engine(postgres_url)
    try:
        await migrate(engine)
        token = await add_user(engine, "zhao-min", "operator", time.time())
        await asyncio.gather(a.start(), b.start())
        for instance in (a, b):
            await instance.wait_for("subscribed to", timeout=STARTUP_S)
        await eventually(lambda: _leader_of(a, b), timeout=STARTUP_S)
        leader, follower = (a, b) if a.said("now the LEADER") else (b, a)
        await follower.wait_for("HA: following")

        await reading(15.0, t0)
        await reading(0.0, t0 + 10)  # 15 ppm to nothing in one report: not credible, on both instances
        await reading(0.0, t0 + 20)
        fault = await eventually(lambda: _alarm(engine, "quality-detector-fault-hazard"), timeout=30)
        level2 = await eventually(lambda: _alarm(engine, "cl2-level2"), timeout=30)
        assert level2["cleared_at"] is None, "the zero after the fall is not believed: level 2 stays held"

        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
            http.post(
                follower.http() + f"/api/sensors/{SENSOR}/reset-credibility", json={"reason": REASON}
            ) as response,
        ):
            status, body = response.status, await response.json()
        assert status == 200, body
        assert body["reset"]["actor"] == "zhao-min"
        await follower.wait_for(f"HA: sensor {SENSOR}: reading credibility reset mirrored", timeout=30)

        assert leader.process is not None
        leader.process.send_signal(signal.SIGKILL)
        await follower.wait_for("now the LEADER", timeout=30)

        await reading(0.0, t0 + 30)  # clean, and believed now: the level-2 condition clears on the new leader

        async def level2_cleared() -> dict[str, Any] | None:
            row = await _alarm(engine, "cl2-level2")
            return row if row is not None and row["cleared_at"] is not None else None

        cleared = await eventually(level2_cleared, timeout=30)
        await follower.stop()
        async with engine.connect() as connection:
            notes = (
                await connection.execute(
                    select(alarm_events).where(
                        alarm_events.c.alarm_id == fault["id"], alarm_events.c.actor == "zhao-min"
                    )
                )
            ).all()
    finally:
        await a.stop()
        await b.stop()
        await engine.dispose()
        assert receiver.runner is not None
        await receiver.runner.cleanup()

    assert cleared["id"] == level2["id"], "the same alarm cleared, not a new one"
    assert [n.reason for n in notes] == [f"reading credibility reset: {REASON}"], "the reset is in the history once"
