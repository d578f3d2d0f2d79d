"""The outbox: an intent's rows commit with their cause, no duplicates, nothing lost across an outage or a restart.

Rows are queued the way production queues them: ``OutboxSink`` (what ``AlarmNotifier`` and drill deliveries call) on
the one ``StoreWriter``, in the same write group as the alarm row that caused them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import AlarmSetup, build_pipeline
from daemon.clock import ManualClock, WallClock
from daemon.config import AlarmConfig
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import ChannelTarget
from daemon.notify.outbox import Outbox, OutboxSink, PageRows
from daemon.notify.worker import CHANNEL_FAILING_RULE, DeliveryWorker, backoff
from daemon.store.engine import create_engine
from daemon.store.rows import AlarmRow
from daemon.store.schema import alarms, notifications
from daemon.store.writer import StoreWriter
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.notify.notify_support import notify_config, rows_to, start_receiver

ALARM_ROW = AlarmRow(
    id=7,
    alarm_key="threshold.high_high|gas-01.cl2",
    rule="threshold.high_high",
    sensor_id="gas-01.cl2",
    device_id="gas-01",
    site="demo-park",
    zone="plant-a",
    kind="gas",
    priority="high",
    state="active_unack",
    classification="",
    message="",
    message_zh="",
    value=None,
    level=None,
    raised_at=1_700_000_000.0,
    cleared_at=None,
    updated_at=1_700_000_000.0,
    latched=False,
)


@dataclass
class Store:
    """The production writer on a database, with the sink the notifier queues intents through."""

    writer: StoreWriter
    sink: OutboxSink
    metrics: Metrics


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[Store]:
    """A running ``StoreWriter`` (live rows) on the test database; closed after the test."""
    metrics = Metrics(CollectorRegistry())
    writer = StoreWriter(engine, [], metrics)
    task = asyncio.create_task(writer.run())
    try:
        yield Store(writer, _sink(writer), metrics)
    finally:
        writer.close()
        await task


def _sink(writer: StoreWriter) -> OutboxSink:
    """The sink the service's notifier queues through (these rows reach systems: no person's page, no link key)."""
    return OutboxSink(writer, Outbox(notify_config(), b"unused: no person is paged"))


async def _rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        return [dict(r) for r in (await connection.execute(select(notifications))).mappings().all()]


async def _alarm_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(alarms.c.id))).scalars())


async def test_an_intent_commits_with_its_alarm_and_a_repeat_is_skipped(engine: AsyncEngine, store: Store) -> None:
    target = ChannelTarget(type="webhook", url="http://127.0.0.1:9/hook")
    store.writer.add_alarm(ALARM_ROW)
    store.sink.queue(PageRows(rows_to([target], now=100.0)))
    await store.writer.flush()
    store.sink.queue(PageRows(rows_to([target], now=200.0)))  # same event again (a replayed batch): never twice
    await store.writer.flush()
    rows = await _rows(engine)
    assert len(rows) == 1
    assert rows[0]["state"] == "pending"
    assert rows[0]["created_at"] == 100.0
    assert rows[0]["drill"] is False
    assert json.loads(str(rows[0]["payload"]))["facts"]["alarm_id"] == 7
    assert await _alarm_ids(engine) == [7]


async def test_a_failed_commit_keeps_neither_the_alarm_nor_its_notification(engine: AsyncEngine, store: Store) -> None:
    """The database fails mid-transaction: the alarm row is rolled back with its outbox row, then both commit."""
    failing = {"on": True}

    def fail_the_outbox_insert(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if failing["on"] and "INSERT INTO notifications" in statement:
            raise OperationalError(statement, None, Exception("disk I/O error"))

    event.listen(engine.sync_engine, "before_cursor_execute", fail_the_outbox_insert)
    try:
        store.writer.add_alarm(ALARM_ROW)
        target = ChannelTarget(type="webhook", url="http://127.0.0.1:9/hook")
        store.sink.queue(PageRows(rows_to([target], key="alarm:8:firing", now=100.0)))
        async with asyncio.timeout(15):
            while not store.metrics.store_errors._value.get():  # noqa: ASYNC110 - a counter has no event to wait on
                await asyncio.sleep(0.01)
        assert await _rows(engine) == []
        assert await _alarm_ids(engine) == []  # the alarm insert ran first in that transaction, and was rolled back
        failing["on"] = False
        await store.writer.flush()  # the writer kept the group and retries it whole
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", fail_the_outbox_insert)
    assert await _alarm_ids(engine) == [7]
    assert len(await _rows(engine)) == 1


def test_a_plan_page_carries_each_assessments_line_and_survives_a_failing_one() -> None:
    """The release estimate's and the gamma search's lines (the service's two ``assessments``) are joined in order,
    an assessment with nothing for the page adds no line, and one that fails costs its own line only."""
    outbox = Outbox(notify_config(), b"unused: no person is paged")
    asked: list[tuple[tuple[str, ...], str | None]] = []

    def release(alarm_keys: Sequence[str], incident_id: str | None) -> str:
        asked.append((tuple(alarm_keys), incident_id))
        return "Cl2 release near the plant"

    def broken(alarm_keys: Sequence[str], incident_id: str | None) -> str:
        raise RuntimeError("no fit")

    assert outbox.assessment(["a"], "i-1") == ""  # none set: a page without assessment lines
    outbox.assessments = (release, lambda keys, incident: "", lambda keys, incident: "gamma search: 2 stations")
    assert outbox.assessment(["a"], "i-1") == "Cl2 release near the plant\ngamma search: 2 stations"
    assert asked == [(("a",), "i-1")]
    outbox.assessments = (broken, release)
    assert outbox.assessment([], None, "page-9") == "Cl2 release near the plant"


def test_backoff_grows_and_is_capped() -> None:
    config = notify_config(retry_initial_s=2.0, retry_factor=2.0, retry_max_s=30.0)
    assert [backoff(n, config) for n in (1, 2, 3, 4, 5, 6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


async def test_channel_down_for_an_hour_then_delivered_exactly_once(engine: AsyncEngine, demo_site: Site) -> None:
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
    table = SensorTable.build(demo_site)
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
    writer_task = asyncio.create_task(writer.run())
    pipeline = await build_pipeline(
        engine, table, AlarmSetup.load(AlarmConfig()), writer, metrics, clock, drill=False, resume=False
    )
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, clock, metrics, config, service_alarms=pipeline.flow)
    try:
        writer.add_alarm(ALARM_ROW)
        _sink(writer).queue(
            PageRows(rows_to([ChannelTarget(type="webhook", url=receiver.url + "/hook")], now=clock.now()))
        )
        await writer.flush()
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


async def test_killed_before_delivery_then_delivered_exactly_once_after_restart(sqlite_url: str) -> None:
    arrived = asyncio.Event()

    async def hook(_: web.Request) -> web.Response:
        arrived.set()
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    first = create_engine(sqlite_url)
    target = ChannelTarget(type="webhook", url=receiver.url + "/hook")
    writer = StoreWriter(first, [], Metrics(CollectorRegistry()))
    writer_task = asyncio.create_task(writer.run())
    writer.add_alarm(ALARM_ROW)  # the state change and its notification commit, then the process dies
    _sink(writer).queue(PageRows(rows_to([target], now=1.0)))
    await writer.flush()
    writer_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer_task
    await first.dispose()
    assert receiver.requests == []

    second = create_engine(sqlite_url)  # the restarted service
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
