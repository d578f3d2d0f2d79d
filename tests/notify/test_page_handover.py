"""A page is claimed by the commit that stores its alarm and goes to its sender from the after-commit hook.

The production pieces on a SQLite file and on PostgreSQL: ``StoreWriter`` with the running ``DeliveryWorker`` as
its ``page_claim`` and after-commit hook (as ``Service`` wires them), a real local webhook receiver. Every statement
the database receives is recorded, so the tests see what happens between the commit and the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import WallClock
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import ChannelTarget
from daemon.notify.outbox import Outbox, OutboxSink
from daemon.notify.worker import DeliveryWorker
from daemon.store.engine import create_engine
from daemon.store.schema import notifications
from daemon.store.writer import StoreWriter, WriteGroup
from plans.incident import NotificationIntent, NotificationKind, Recipient
from plans.model import Tier
from tests.notify.notify_support import Receiver, notify_config, rows_to, start_receiver


@dataclass
class Paging:
    """Writer, worker and receiver, wired as the service wires them, and the statements the database saw."""

    writer: StoreWriter
    worker: DeliveryWorker
    receiver: Receiver
    statements: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    at_arrival: int = -1  # statements seen when the first request arrived


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database: a SQLite file, then the machine's PostgreSQL (the insert returns ids on both)."""
    db = create_engine(migrated_db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def paging(engine: AsyncEngine) -> AsyncIterator[Paging]:
    """A running writer and worker (poll interval 60 s: only a commit can wake the worker in these tests)."""
    metrics = Metrics(CollectorRegistry())
    config = notify_config(poll_interval_s=60.0)
    channels = ChannelSet(config, {})
    writer = StoreWriter(engine, [], metrics)
    worker = DeliveryWorker(engine, channels.channels, WallClock(), metrics, config)
    writer.page_claim = worker
    writer.after_commit.append(worker.after_commit)
    holder: list[Paging] = []

    async def hook(_request: web.Request) -> web.Response:
        state = holder[0]
        if not state.arrived.is_set():
            state.at_arrival = len(state.statements)
            state.arrived.set()
        return web.Response(text="ok")

    state = Paging(writer, worker, await start_receiver(hook))
    holder.append(state)

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        state.statements.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    tasks = [asyncio.create_task(writer.run()), asyncio.create_task(worker.run())]
    async with asyncio.timeout(10):  # the worker's first pass (housekeeping included) is over
        while not any("min(notifications.created_at)" in s for s in state.statements):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the last query of refresh_gauges, the pass's last step
    try:
        yield state
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        tasks[1].cancel()
        writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await channels.close()
        assert state.receiver.runner is not None
        await state.receiver.runner.cleanup()


async def _states(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return [str(s) for s in (await connection.execute(select(notifications.c.state))).scalars()]


async def _wait_delivered(engine: AsyncEngine, count: int) -> None:
    async with asyncio.timeout(15):
        while (await _states(engine)).count("delivered") < count:  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)


async def test_a_page_claimed_in_its_commit_reaches_the_receiver_with_no_claim_of_its_own(
    engine: AsyncEngine, paging: Paging
) -> None:
    before = len(paging.statements)
    target = ChannelTarget(type="webhook", url=f"{paging.receiver.url}/hook")
    for row in rows_to([target], now=WallClock().now()):
        paging.writer.add_notification(row)
    async with asyncio.timeout(15):
        await paging.arrived.wait()
    until_request = paging.statements[before : paging.at_arrival]
    # The insert itself claims the row and returns its id; nothing else reads or writes the outbox first.
    touching = [s for s in until_request if "notifications" in s]
    assert len(touching) == 1, touching
    assert touching[0].startswith("INSERT INTO notifications")
    assert "RETURNING" in touching[0]
    await _wait_delivered(engine, 1)
    assert len(paging.receiver.requests) == 1


async def test_a_repeated_page_is_not_handed_over_twice(engine: AsyncEngine, paging: Paging) -> None:
    target = ChannelTarget(type="webhook", url=f"{paging.receiver.url}/hook")
    now = WallClock().now()
    for row in rows_to([target], now=now):
        paging.writer.add_notification(row)
    await _wait_delivered(engine, 1)
    for row in rows_to([target], now=now + 1):  # the same event again (a redelivered message): skipped
        paging.writer.add_notification(row)
    await paging.writer.flush()
    await asyncio.sleep(0.3)  # time for a wrongly handed-over copy to arrive
    assert len(paging.receiver.requests) == 1
    assert await _states(engine) == ["delivered"]


async def test_a_commit_that_fails_leaves_its_queued_pages_pending(engine: AsyncEngine, paging: Paging) -> None:
    """The claim is made on copies inside the transaction: the queued rows stay pending for a retry, or for the
    memory delivery that sends urgent pages while the database is down."""
    failing = {"on": True}

    def fail_the_outbox_insert(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if failing["on"] and "INSERT INTO notifications" in statement:
            raise OperationalError(statement, None, Exception("disk I/O error"))

    event.listen(engine.sync_engine, "before_cursor_execute", fail_the_outbox_insert)
    try:
        target = ChannelTarget(type="webhook", url=f"{paging.receiver.url}/hook")
        for row in rows_to([target], now=WallClock().now()):
            paging.writer.add_notification(row)
        async with asyncio.timeout(15):
            while not paging.writer.uncommitted_notifications():  # noqa: ASYNC110 - put back after the failure
                await asyncio.sleep(0.01)
        assert [row["state"] for row in paging.writer.uncommitted_notifications()] == ["pending"]
        assert paging.receiver.requests == []
        failing["on"] = False
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", fail_the_outbox_insert)
    await _wait_delivered(engine, 1)
    assert len(paging.receiver.requests) == 1


async def test_pages_do_not_run_the_housekeeping_queries_on_every_wake(engine: AsyncEngine, paging: Paging) -> None:
    """Chains, undeliverable rows and gauges are looked at once per poll interval, not after every commit."""
    paging.writer.page_claim = None  # rows found by the worker's pass: every commit wakes it
    target = ChannelTarget(type="webhook", url=f"{paging.receiver.url}/hook")
    before = len(paging.statements)
    for event_number in range(5):
        for row in rows_to([target], key=f"alarm:{event_number}:firing", now=WallClock().now()):
            paging.writer.add_notification(row)
        await _wait_delivered(engine, event_number + 1)
    since = paging.statements[before:]
    assert not [s for s in since if "count(" in s]  # refresh_gauges
    assert not [s for s in since if "notifications.state =" in s and "LIMIT" in s]  # the chains' look for held steps


async def test_a_persons_first_channel_goes_out_without_waking_the_pass_for_the_held_ones(
    engine: AsyncEngine, paging: Paging
) -> None:
    """A person's later channels are inserted held: they must not wake the table pass (its claim holds the pass
    lock the first channel's storm rule waits for); the pass finds them when the chains release them."""
    now = WallClock().now()
    person = Recipient("zhang-wei", "张伟", "duty_officer",
                       (("webhook", f"{paging.receiver.url}/hook"), ("email", "zhang@example.org")))  # fmt: skip
    note = NotificationIntent("inc-1/n1", NotificationKind.OPEN, now, "inc-1", Tier.BLUE, ("duty_officer",),
                              (person,), "一般 (IV): demo-park", "", now + 300)  # fmt: skip
    before = len(paging.statements)
    OutboxSink(paging.writer, Outbox(notify_config(), b"link-key")).queue(Outbox(notify_config(), b"k").rows(note))
    async with asyncio.timeout(15):
        await paging.arrived.wait()
    await _wait_delivered(engine, 1)
    await asyncio.sleep(0.3)  # time for a pass that was woken to run
    assert not [s for s in paging.statements[before:] if "notifications.next_attempt_at <=" in s]  # no pass ran
    assert sorted(await _states(engine)) == ["delivered", "held"]


async def test_a_claimed_page_goes_out_ungrouped_when_the_storm_rule_cannot_read_the_database(
    engine: AsyncEngine, paging: Paging
) -> None:
    """The storm rule reads the person's recent pages; if that read fails, the claimed page (already ``sending``)
    must still be sent, not left to its lease."""

    def fail_the_storm_read(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "notifications.delivered_at >=" in statement:
            raise OperationalError(statement, None, Exception("database is locked"))

    now = WallClock().now()
    person = Recipient("zhang-wei", "张伟", "duty_officer", (("webhook", f"{paging.receiver.url}/hook"),))
    note = NotificationIntent("inc-2/n1", NotificationKind.OPEN, now, "inc-2", Tier.BLUE, ("duty_officer",),
                              (person,), "一般 (IV): demo-park", "", now + 300)  # fmt: skip
    event.listen(engine.sync_engine, "before_cursor_execute", fail_the_storm_read)
    try:
        OutboxSink(paging.writer, Outbox(notify_config(), b"k")).queue(Outbox(notify_config(), b"k").rows(note))
        async with asyncio.timeout(15):
            await paging.arrived.wait()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", fail_the_storm_read)
    await _wait_delivered(engine, 1)


async def test_a_stop_gives_back_claimed_pages_whose_request_never_started(engine: AsyncEngine, paging: Paging) -> None:
    """Delivery stops right after a commit claimed a page: the page was never sent, so it goes back to ``pending``
    (the next start sends it) instead of staying ``sending`` and ending outcome_unknown after its lease."""
    config = notify_config(poll_interval_s=60.0)
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, WallClock(), Metrics(CollectorRegistry()), config)
    gauges = sum("min(notifications.created_at)" in s for s in paging.statements)
    running = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):  # its first pass is over (the gauges are its last query): it waits for a wake-up
        while sum("min(notifications.created_at)" in s for s in paging.statements) == gauges:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)

    def commit_then_stop(group: WriteGroup) -> None:
        running.cancel()  # the stop is under way as the commit lands: the worker's task ends first
        worker.after_commit(group)

    paging.writer.page_claim = worker
    paging.writer.after_commit[:] = [commit_then_stop]
    target = ChannelTarget(type="webhook", url=f"{paging.receiver.url}/hook")
    for row in rows_to([target], now=WallClock().now()):
        paging.writer.add_notification(row)
    await paging.writer.flush()
    await asyncio.gather(running, return_exceptions=True)
    assert await _states(engine) == ["sending"]  # claimed by the commit, never sent
    assert await worker.release_unsent() == 1
    assert await _states(engine) == ["pending"]
    assert paging.receiver.requests == []
    await channels.close()
