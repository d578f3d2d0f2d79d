"""The outbox: same-transaction enqueue, no duplicates, nothing lost across an outage or a restart."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import AlarmSetup, build_pipeline
from daemon.clock import ManualClock, WallClock
from daemon.config import DEFAULT_SITE, AlarmConfig
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import ChannelTarget
from daemon.notify.outbox import enqueue
from daemon.notify.worker import CHANNEL_FAILING_RULE, DeliveryWorker, backoff
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from daemon.store.schema import alarms, notifications
from daemon.store.writer import StoreWriter
from rules.sensor_table import SensorTable
from tests.notify.notify_support import notify_config, rows_to, start_receiver

ALARM_ROW = {
    "id": 7,
    "rule": "threshold.high_high",
    "sensor_id": "gas-01.cl2",
    "device_id": "gas-01",
    "site": "demo-park",
    "zone": "plant-a",
    "kind": "gas",
    "priority": "high",
    "state": "active_unack",
    "message": "",
    "raised_at": 1_700_000_000.0,
    "updated_at": 1_700_000_000.0,
    "drill": False,
}


async def _rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        return [dict(r) for r in (await connection.execute(select(notifications))).mappings().all()]


async def test_enqueue_commits_with_the_state_change_and_ignores_duplicates(engine: AsyncEngine) -> None:
    target = ChannelTarget(type="webhook", url="http://127.0.0.1:9/hook")
    async with engine.begin() as connection:
        await connection.execute(insert(alarms), [ALARM_ROW])
        assert await enqueue(connection, rows_to([target], now=100.0)) == 1
    async with engine.begin() as connection:
        assert await enqueue(connection, rows_to([target], now=200.0)) == 0  # same event again: never twice
    rows = await _rows(engine)
    assert len(rows) == 1
    assert rows[0]["state"] == "pending"
    assert json.loads(str(rows[0]["payload"]))["facts"]["alarm_id"] == 7


async def test_enqueue_rolls_back_with_a_failed_state_change(engine: AsyncEngine) -> None:
    rows = rows_to([ChannelTarget(type="webhook", url="http://127.0.0.1:9/hook")], key="alarm:8:firing", now=100.0)

    async def failing_change() -> None:
        async with engine.begin() as connection:
            await enqueue(connection, rows)
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await _rows(engine) == []


def test_backoff_grows_and_is_capped() -> None:
    config = notify_config(retry_initial_s=2.0, retry_factor=2.0, retry_max_s=30.0)
    assert [backoff(n, config) for n in (1, 2, 3, 4, 5, 6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


async def test_channel_down_for_an_hour_then_delivered_exactly_once(engine: AsyncEngine) -> None:
    state = {"down": True, "accepted": 0}

    async def hook(_: web.Request) -> web.Response:
        if state["down"]:
            return web.Response(status=500, text="down for maintenance")
        state["accepted"] += 1
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    clock = ManualClock(1_700_000_000.0)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    config = notify_config()
    table = SensorTable.build(load_site(DEFAULT_SITE))
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
    writer_task = asyncio.create_task(writer.run())
    pipeline = await build_pipeline(
        engine, table, AlarmSetup.load(AlarmConfig()), writer, metrics, clock, drill=False, resume=False
    )
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, clock, metrics, config, service_alarms=pipeline.flow)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(alarms), [ALARM_ROW])
            await enqueue(
                connection, rows_to([ChannelTarget(type="webhook", url=receiver.url + "/hook")], now=clock.now())
            )
        started = clock.now()
        while clock.now() - started < 3600:  # an hour of outage, attempted whenever the back-off allows
            await worker.deliver_due()
            clock.advance(config.retry_max_s)
        rows = await _rows(engine)
        assert rows[0]["state"] == "pending"
        assert int(str(rows[0]["attempts"])) >= 10
        assert "HTTP 500" in str(rows[0]["last_error"])
        assert (registry.get_sample_value("hazwatch_notifications_failed_total", {"channel": "webhook"}) or 0) >= 10
        await writer.flush()
        async with engine.connect() as connection:
            failing = (await connection.execute(select(alarms).where(alarms.c.rule == CHANNEL_FAILING_RULE))).all()
        assert len(failing) == 1  # raised once, not once per failed attempt

        state["down"] = False
        clock.advance(config.retry_max_s)
        assert await worker.deliver_due() == 1
        for _ in range(5):  # later passes find nothing to send
            clock.advance(config.retry_max_s)
            assert await worker.deliver_due() == 0
        assert state["accepted"] == 1
        rows = await _rows(engine)
        assert rows[0]["state"] == "delivered"
        assert rows[0]["delivered_at"] == clock.now() - 5 * config.retry_max_s
        assert registry.get_sample_value("hazwatch_notifications_sent_total", {"channel": "webhook"}) == 1
        assert registry.get_sample_value("hazwatch_notification_delivery_seconds_count", {"channel": "webhook"}) == 1
        await writer.flush()
        async with engine.connect() as connection:
            cleared = (
                await connection.execute(select(alarms.c.cleared_at).where(alarms.c.rule == CHANNEL_FAILING_RULE))
            ).scalar_one()
        assert cleared is not None
        await worker.refresh_gauges()
        assert registry.get_sample_value("hazwatch_notifications_pending") == 0
        assert registry.get_sample_value("hazwatch_notifications_unacknowledged") == 1
    finally:
        writer.close()
        await writer_task
        await channels.close()
        assert receiver.runner is not None
        await receiver.runner.cleanup()


async def test_killed_before_delivery_then_delivered_exactly_once_after_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    arrived = asyncio.Event()

    async def hook(_: web.Request) -> web.Response:
        arrived.set()
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    from daemon.store.engine import migrate

    first = create_engine(url)
    await migrate(first)
    target = ChannelTarget(type="webhook", url=receiver.url + "/hook")
    async with first.begin() as connection:  # the state change and its notification, then the process dies
        await connection.execute(insert(alarms), [ALARM_ROW])
        await enqueue(connection, rows_to([target], now=1.0))
    await first.dispose()
    assert receiver.requests == []

    second = create_engine(url)  # the restarted service
    config = notify_config(poll_interval_s=0.05)
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(second, channels.channels, WallClock(), Metrics(CollectorRegistry()), config)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(arrived.wait(), 30)
        for _ in range(3):
            await worker.deliver_due()  # nothing left to send
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await channels.close()
        assert receiver.runner is not None
        await receiver.runner.cleanup()
    assert len(receiver.requests) == 1
    async with second.connect() as connection:
        states = (await connection.execute(select(notifications.c.state, func.count()).group_by("state"))).all()
    await second.dispose()
    assert [tuple(s) for s in states] == [("delivered", 1)]
