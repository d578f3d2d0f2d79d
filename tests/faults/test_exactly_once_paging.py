"""Quick checks of the exactly-once paging rules on a real SQLite file and a real HTTP receiver (the slow tests
``test_pages_without_database`` and ``test_pages_after_sigkill`` do the same with real outages and kills)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import ManualClock
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import ChannelTarget
from daemon.notify.memory_delivery import MemoryDelivery
from daemon.notify.worker import DeliveryWorker
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import notifications
from daemon.store.writer import StoreWriter
from tests.notify.notify_support import notify_config, rows_to, start_receiver

T0 = 1_800_000_000.0


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _states(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(notifications.c.state, notifications.c.attempts))
    return [(str(state), int(attempts)) for state, attempts in rows.all()]


async def test_a_held_urgent_row_is_sent_from_memory_once_and_stored_delivered(tmp_path: Path) -> None:
    """The writer has not committed an orange page for 2 s: it goes out from memory; when the writer commits, the
    row lands delivered and the worker sends nothing more. A blue page waits for the database."""
    receiver = await start_receiver(_ok)
    config = notify_config(memory_delivery_after_s=2.0, storm_window_s=0)
    engine = create_engine(f"sqlite:///{tmp_path / 'hazwatch.db'}")
    await migrate(engine)
    clock = ManualClock(T0)
    metrics = Metrics(CollectorRegistry())
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, clock, metrics, config)
    writer = StoreWriter(engine, [], metrics)  # not running yet: the database "is down"
    memory = MemoryDelivery(worker, writer, clock)
    target = [ChannelTarget(type="webhook", url=receiver.url + "/duty")]
    try:
        for tier, key in (("orange", "alarm:1:firing"), ("blue", "alarm:2:firing")):
            [row] = rows_to(target, key=key, now=T0)
            payload = json.loads(row["payload"])
            payload["tier"] = payload["facts"]["tier"] = tier  # a route row's tier is its alarm's colour
            row["payload"] = json.dumps(payload)
            writer.add_notification(row)
        assert memory.check() == 0  # first seen now
        clock.advance(1.0)
        assert memory.check() == 0  # not late yet
        clock.advance(1.5)
        assert memory.check() == 1  # the orange one only
        await memory.settle()
        assert memory.check() == 0  # sent: never again from memory
        writer.close()
        await writer.run()  # the database is back: everything commits in order
        await worker.deliver_due()
        states = sorted(await _states(engine))
    finally:
        await channels.close()
        assert receiver.runner is not None
        await receiver.runner.cleanup()
        await engine.dispose()
    bodies = [body for _, _, _, body in receiver.requests]
    assert len(bodies) == 2  # orange from memory, blue by the worker once committed
    assert states == [("delivered", 1), ("delivered", 1)]
    assert memory.sent == 1


async def _insert_cut_row(engine: AsyncEngine, target: ChannelTarget, key: str) -> None:
    [row] = rows_to([target], key=key, now=T0)
    row["state"] = "sending"  # claimed, its request sent, then the process died
    row["next_attempt_at"] = T0 + 6.0  # the lease
    async with engine.begin() as connection:
        await connection.execute(insert(notifications), [row])


async def test_a_row_cut_mid_request_is_resent_only_to_an_idempotent_receiver(tmp_path: Path) -> None:
    """After the lease, a 'sending' row is outcome_unknown (plain receiver, nothing sent, an alarm raised) or sent
    again with the same key (receiver declared idempotent)."""
    receiver = await start_receiver(_ok)
    raised: list[tuple[str, str]] = []

    class Alarms:
        def raise_service_alarm(self, rule: str, subject: str, message: str, now: float, **_: Any) -> None:
            raised.append((rule, subject))

        def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
            raise AssertionError("nothing clears it")

    config = notify_config(storm_window_s=0, request_timeout_s=3.0)
    engine = create_engine(f"sqlite:///{tmp_path / 'hazwatch.db'}")
    await migrate(engine)
    clock = ManualClock(T0)
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, clock, Metrics(CollectorRegistry()), config, Alarms())
    try:
        await _insert_cut_row(engine, ChannelTarget(type="webhook", url=receiver.url + "/plain"), "alarm:1:firing")
        await _insert_cut_row(
            engine, ChannelTarget(type="webhook", url=receiver.url + "/dedup", idempotent=True), "alarm:2:firing"
        )
        assert await worker.deliver_due() == 0  # within the lease: its process may still be sending
        clock.advance(6.0)
        assert await worker.deliver_due() == 1
        async with engine.connect() as connection:
            rows = (await connection.execute(select(notifications))).mappings().all()
    finally:
        await channels.close()
        assert receiver.runner is not None
        await receiver.runner.cleanup()
        await engine.dispose()
    states = {str(row["idempotency_key"]).split("|")[0]: str(row["state"]) for row in rows}
    assert states == {"alarm:1:firing": "outcome_unknown", "alarm:2:firing": "delivered"}
    assert [path for path, _, _, _ in receiver.requests] == ["/dedup"]
    [(_, _, headers, _)] = receiver.requests
    assert headers["Idempotency-Key"].startswith("alarm:2:firing")
    assert [rule for rule, _ in raised] == ["notify.outcome_unknown"]
