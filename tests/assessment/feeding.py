"""Feeding a simulated scenario through a running service's intake, minute by minute, on a manual clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from daemon.clock import ManualClock
from daemon.drills.recording import RecordedMessage
from daemon.service import Service


async def feed_minute_by_minute(
    service: Service,
    clock: ManualClock,
    messages: Iterable[RecordedMessage],
    start: float,
    each_minute: Callable[[float], Awaitable[None]],
) -> None:
    """Accept every message at its receive time; at each whole minute flush the batch, tick the chain and run
    ``each_minute`` (an assessment runner's tick) as the live timers would, then commit what is queued."""
    next_minute = start + 60
    for message in messages:
        while message.received >= next_minute:
            clock.set(next_minute)
            service.intake.flush()
            service.pipeline.tick(next_minute)
            await each_minute(next_minute)
            next_minute += 60
        clock.set(message.received)
        service.intake.accept(message.topic, message.payload, message.received)
    await service.drain()
