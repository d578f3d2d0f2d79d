"""A webhook that hangs, one that answers 500 and one that resets connections do not delay pages to a healthy one.

Before, a delivery pass waited for its slowest attempt: one webhook hanging 30 s delayed pages on a healthy webhook
by 6 s (median), 10 s (max). Now every attempt is recorded on its own as soon as it ends.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select

from daemon.clock import WallClock
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import ChannelTarget, NotifyConfig
from daemon.notify.worker import DeliveryWorker
from daemon.store.engine import create_engine, migrate
from daemon.store.rows import NotificationRow
from daemon.store.schema import notifications
from tests.helpers import eventually
from tests.notify.notify_support import rows_to, start_receiver

pytestmark = pytest.mark.timeout(60)


def _row(url: str, key: str) -> NotificationRow:
    [row] = rows_to([ChannelTarget(type="webhook", url=url)], key=key, now=time.time() - 1)
    return row


async def test_a_hanging_failing_or_resetting_webhook_does_not_delay_a_healthy_one(tmp_path: Path) -> None:
    """Pages to the healthy webhook arrive within a second while the others hang, fail or reset."""
    healthy_at: list[float] = []
    # The hanging webhook answers only when the test is over: the runner's cleanup waits for every handler in flight
    # (aiohttp's graceful shutdown), so a fixed 10 s sleep here cost every run 10 s after the assertions were made.
    release = asyncio.Event()

    async def healthy(request: web.Request) -> web.Response:
        healthy_at.append(time.monotonic())
        return web.Response(text="ok")

    async def hang(request: web.Request) -> web.Response:
        await release.wait()  # past the worker's 8 s limit on its own: the deliveries above never wait for it
        return web.Response(text="late")

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="broken")

    async def reset(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()  # connection reset by peer
        return web.Response(text="never sent")

    receivers = [await start_receiver(handler) for handler in (healthy, hang, fail, reset)]
    good, slow, bad, rude = (receiver.url + "/hook" for receiver in receivers)
    config = NotifyConfig.model_validate(
        {
            "poll_interval_s": 0.1,
            "request_timeout_s": 8.0,
            "people": [
                {"name": f"p{n}", "channels": [{"type": "webhook", "url": url}]}
                for n, url in enumerate((good, slow, bad, rude))
            ],
        }
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'hazwatch.db'}")
    await migrate(engine)
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, WallClock(), Metrics(CollectorRegistry()), config)
    running = asyncio.create_task(worker.run())
    try:
        started = time.monotonic()
        async with engine.begin() as connection:
            await connection.execute(
                insert(notifications),
                [_row(slow, "hang-1"), _row(bad, "fail-1"), _row(rude, "reset-1"), _row(good, "first")],
            )
        worker.poke()
        await eventually(lambda: _is_delivered(engine, "first"), timeout=10, interval=0.02)
        first_delivered = time.monotonic() - started
        # A new page while the hanging attempt is still in flight: delivered at once, not after it.
        queued = time.monotonic()
        async with engine.begin() as connection:
            await connection.execute(insert(notifications), [_row(good, "second")])
        worker.poke()
        await eventually(lambda: _is_delivered(engine, "second"), timeout=10, interval=0.02)
        second_delivered = time.monotonic() - queued
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await channels.close()
        release.set()
        for receiver in receivers:
            assert receiver.runner is not None
            await receiver.runner.cleanup()
        await engine.dispose()
    assert len(healthy_at) == 2
    # Recorded as delivered well before the hanging attempt's 8 s time limit (before: only when the pass ended).
    assert first_delivered < 4.0
    assert second_delivered < 4.0


async def _is_delivered(engine: Any, key: str) -> bool:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(notifications.c.idempotency_key, notifications.c.state))).all()
    return any(k.startswith(key) and state == "delivered" for k, state in rows)
