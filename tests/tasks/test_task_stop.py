"""A stop never waits for ever on a background task, even one that lost its cancellation.

CI once hung 120 s in a service's stop: on Python 3.11 ``asyncio.wait_for`` returns the result and drops a
cancellation that arrives as the awaited event is set (CPython gh-86296), so the notification worker, woken by the
page it had just failed to deliver as the service stopped it, ran on and ``Supervisor.stop_one`` waited on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from prometheus_client import CollectorRegistry

from daemon.clock import WallClock
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.worker import DeliveryWorker
from daemon.store.engine import create_engine, migrate
from daemon.tasks.supervisor import Supervisor, end_task
from tests.notify.notify_support import notify_config


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_and_its_place_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 1:
                    continue  # the first cancellation is lost, as wait_for loses one on 3.11
                raise

    supervisor = Supervisor(Metrics(CollectorRegistry()), WallClock(), cancel_grace_s=0.5)
    supervisor.start("stubborn", stubborn)
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="daemon.tasks.supervisor"):
        async with asyncio.timeout(10):
            await supervisor.stop_one("stubborn")
    assert swallowed == 2
    assert not supervisor.running("stubborn")
    assert "background task stubborn still runs 0.5s after it was cancelled; cancelling it again" in caplog.text
    assert "in stubborn" in caplog.text  # where it was: the chain of awaits down to the coroutine that lost it
    assert "await asyncio.sleep(3600)" in caplog.text


async def test_end_task_returns_at_once_for_a_task_that_obeys() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    async with asyncio.timeout(1):
        await end_task(task, grace_s=30)
    assert task.cancelled()


async def test_the_notification_worker_woken_as_it_is_cancelled_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The worker's wait for a wake-up keeps a cancellation that arrives with the wake-up (it ran on before)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'stop.db'}")
    await migrate(engine)
    config = notify_config(poll_interval_s=0.2)
    channels = ChannelSet(config, {})
    worker = DeliveryWorker(engine, channels.channels, WallClock(), Metrics(CollectorRegistry()), config)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)  # its first pass (an empty outbox) is done: it waits for a wake-up
        worker.poke()
        task.cancel()  # in the same step as the wake-up
        await asyncio.wait({task}, timeout=2)
        assert task.done(), "the worker lost a cancellation that came with its wake-up"
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await end_task(task)
        await channels.close()
        await engine.dispose()
    assert task.cancelled()
