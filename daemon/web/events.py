"""A small in-process event bus: the pipeline, alarm tracker and API publish; the console's SSE stream listens.

Publishing never blocks: each subscriber has a bounded queue, and a subscriber too slow to keep up loses its
oldest events (and is told so by a ``lagged`` event) rather than slowing the pipeline down.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One published event: a dotted type (``alarm.raised``, ``alarm.updated``, ``incident.updated``...) and data."""

    id: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


class Subscription:
    """One listener's queue; iterate it with ``async for``; ``close`` (or the bus) ends it."""

    def __init__(self, bus: EventBus, max_queued: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(max_queued)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Queue ``event``, dropping the oldest queued one when full."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def close(self) -> None:
        """Stop this subscription; a waiting iterator returns."""
        self._bus.unsubscribe(self)
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or None once closed."""
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self._queue.get()) is not None:
            yield event


class EventBus:
    """Fan-out of events to every current subscriber."""

    def __init__(self, max_queued: int = 1000) -> None:
        self._subscribers: list[Subscription] = []
        self._ids = itertools.count(1)
        self._max_queued = max_queued

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        """Send an event to every subscriber (never blocks)."""
        event = Event(next(self._ids), type_, data)
        for subscription in list(self._subscribers):
            subscription.offer(event)
        return event

    def subscribe(self) -> Subscription:
        """A new subscription receiving every event published from now on."""
        subscription = Subscription(self, self._max_queued)
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription (idempotent)."""
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def close(self) -> None:
        """End every subscription (service shutdown)."""
        for subscription in list(self._subscribers):
            subscription.close()

    @property
    def subscriber_count(self) -> int:
        """How many listeners are attached."""
        return len(self._subscribers)
