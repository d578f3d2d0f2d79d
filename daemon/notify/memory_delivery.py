"""Urgent pages go out while the database is down: sent from memory, their outcome stored when it is back.

An outbox row commits with the alarm that caused it, and the delivery worker reads rows from the database: during a
database outage every page would wait for the commit (a Cl2 page was 20 s late in a 21 s outage, issue 17). This
task watches the rows the store writer still holds. An urgent row (its tier in ``memory_delivery_tiers``) still
uncommitted ``memory_delivery_after_s`` after it was first seen is sent from memory, once:

- before the request, the queued row itself is marked ``sending`` with a lease, so whenever the database takes it,
  the worker will not claim it (and a crash mid-request leaves it to the worker's outcome-unknown rule);
- after the request, the outcome is queued as an update keyed by the row's idempotency key, committed after the
  row's insert: the row lands ``delivered`` (or ``pending`` with a back-off, for the worker to retry).

Only rows the writer is not committing right now are touched (``StoreWriter.uncommitted_notifications``), so a
commit never races a change. A memory page has no row id yet: channels see ``notification_id`` 0. Chain steps after
the first (``held`` rows) need the database and wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from daemon.clock import Clock
from daemon.notify.outbox import row_tier
from daemon.notify.worker import AttemptResult, DeliveryWorker

log = logging.getLogger(__name__)
CHECK_EVERY_S = 0.25


class HeldOutbox(Protocol):
    """The store writer's side: the outbox rows it holds, and keyed updates committed after them."""

    def uncommitted_notifications(self) -> list[dict[str, Any]]:
        """Queued outbox rows not in a transaction now (the same dicts the writer will insert)."""
        ...

    def update_notification(self, idempotency_key: str, changes: dict[str, Any]) -> None:
        """Queue changes to the row with this key."""
        ...


class MemoryDelivery:
    """Sends urgent outbox rows the database has not taken in time; one per service, next to the worker."""

    def __init__(self, worker: DeliveryWorker, outbox: HeldOutbox, clock: Clock) -> None:
        self._worker = worker
        self._outbox = outbox
        self._clock = clock
        config = worker.config
        self._after_s = config.memory_delivery_after_s
        self._tiers = frozenset(config.memory_delivery_tiers)
        self._lease_s = config.request_timeout_s * 2
        self._first_seen: dict[str, float] = {}
        self._retry_at: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self.sent = 0  # pages delivered from memory (tests and logs)

    async def run(self) -> None:
        """Check the held rows every ``CHECK_EVERY_S`` until cancelled."""
        try:
            while True:
                self.check()
                await asyncio.sleep(CHECK_EVERY_S)
        finally:
            for task in self._in_flight.values():
                task.cancel()

    async def settle(self) -> None:
        """Wait for the attempts in flight (tests; a stop cancels them instead)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def check(self) -> int:
        """Start an attempt for every urgent row held too long; returns how many started."""
        if not self._tiers:
            return 0
        now = self._clock.now()
        held = self._outbox.uncommitted_notifications()
        keys = {str(row["idempotency_key"]) for row in held}
        for gone in set(self._first_seen) - keys - set(self._in_flight):  # committed: the worker has it now
            self._first_seen.pop(gone, None)
            self._retry_at.pop(gone, None)
        started = 0
        for row in held:
            key = str(row["idempotency_key"])
            if row.get("state") != "pending" or key in self._in_flight:
                continue
            if str(row["channel"]) not in self._worker.channels or row_tier(row) not in self._tiers:
                continue
            first = self._first_seen.setdefault(key, now)
            if now - first < self._after_s or now < self._retry_at.get(key, now):
                continue
            # Marked in the queued row itself before anything is sent: if the database takes it mid-request, it
            # lands ``sending`` under a lease and the worker leaves it alone.
            row["state"] = "sending"
            row["next_attempt_at"] = now + self._lease_s
            task = asyncio.create_task(self._send(row, key, now), name=f"notify-memory-{key[:40]}")
            self._in_flight[key] = task
            started += 1
        if started:
            log.warning("database has not taken %d urgent pages in %.1f s: sent from memory", started, self._after_s)
        return started

    async def _send(self, row: dict[str, Any], key: str, started: float) -> None:
        try:
            result: AttemptResult = await self._worker.attempt({**row, "id": 0}, started)
            now = self._clock.now()
            values = self._worker.outcome_values(result, now)
            # The keyed update lands after the row's insert, whenever the database takes it. Only ``state`` changes in
            # the queued row: the rows of one insert must all have the same columns.
            row["state"] = values["state"]
            self._outbox.update_notification(key, values)
            self._worker.count_outcomes([result], now)
            if result.error is None:
                self.sent += 1
                log.warning("urgent page %s delivered from memory (database unavailable)", key)
            elif values["state"] == "pending":
                self._retry_at[key] = float(values["next_attempt_at"])
        except Exception:  # a bug here must not stop later memory pages; the worker still has the row
            log.exception("memory delivery of %s failed", key)
            row["state"] = "pending"
        finally:
            self._in_flight.pop(key, None)
