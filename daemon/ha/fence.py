"""The fencing token: a leader writes only while the epoch it took over with is still the newest.

A leader can lose its lock without knowing it: paused (SIGSTOP, a VM migration, a long GC), it wakes up with work
in hand while the other instance leads. The advisory lock alone cannot stop it, so every write that must happen once
(the writer's commits, the outbox claims, each page just before it is sent) first reads the epoch under a share
lock in the same transaction: the new leader's increment waits for that transaction, and a stale leader finds a
newer epoch and writes nothing (Kleppmann, "How to do distributed locking", 2016: fencing tokens).
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from daemon.errors import HazwatchError
from daemon.store.schema import ha_leadership


class FencedOutError(HazwatchError):
    """This instance's leadership epoch is not the newest: another instance took over."""


class Fence:
    """The epoch this instance leads with (None while following), checked inside write transactions."""

    def __init__(self, lock_key: int, lease_s: float) -> None:
        self.lock_key = lock_key
        self.epoch: int | None = None
        self._lease_ms = max(1, int(lease_s * 1000))

    async def __call__(self, connection: AsyncConnection) -> None:
        """Raise FencedOutError unless this instance still leads with the newest epoch (call first in a transaction)."""
        if self.epoch is None:
            raise FencedOutError("this instance does not lead: nothing may be written or sent")
        # A leader paused in the middle of this transaction must not hold the share lock (and block the takeover)
        # for longer than the lease: the server ends the session and rolls the transaction back.
        await connection.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {self._lease_ms}"))
        query = select(ha_leadership.c.epoch).where(ha_leadership.c.lock_key == self.lock_key)
        stored = (await connection.execute(query.with_for_update(read=True))).scalar()
        if stored != self.epoch:
            raise FencedOutError(f"leadership epoch {self.epoch} is stale: epoch {stored} leads now")
