"""Who leads: a PostgreSQL session-level advisory lock held on one dedicated connection for the process lifetime.

PostgreSQL releases a session-level advisory lock when the session ends, so a leader that dies (SIGKILL, power
loss, a severed connection) gives the lock up as soon as the server notices the session is gone; the follower's
next ``pg_try_advisory_lock`` wins it (PostgreSQL documentation, "Advisory Locks", section 13.3.5).

A leader that is alive but silent (paused by SIGSTOP, frozen) keeps its session open, so the lock connection sets
``idle_session_timeout`` (PostgreSQL 14+, "Client Connection Defaults"): the server ends a session that sends nothing
for ``lease_s``, which releases the lock. The leader pings far more often than that.

Each takeover increments the epoch in ``ha_leadership``; ``daemon.ha.fence`` checks it on every write that must
happen once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from daemon.ha.fence import Fence

log = logging.getLogger(__name__)
Transition = Callable[[], Awaitable[None]]
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
NEXT_EPOCH = """
INSERT INTO ha_leadership (lock_key, epoch, holder, since) VALUES ($1, 1, $2, $3)
ON CONFLICT (lock_key) DO UPDATE SET epoch = ha_leadership.epoch + 1, holder = EXCLUDED.holder, since = EXCLUDED.since
RETURNING epoch
"""


def asyncpg_dsn(url: str) -> dict[str, object]:
    """Connection arguments for asyncpg from a ``postgresql://`` URL (any SQLAlchemy driver suffix)."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"leadership needs PostgreSQL, not {parsed.get_backend_name()!r}")
    args: dict[str, object] = {"database": parsed.database, "user": parsed.username}
    if parsed.host:
        args["host"] = parsed.host
    if parsed.port:
        args["port"] = parsed.port
    if parsed.password:
        args["password"] = parsed.password
    return args


class Leadership:
    """Tries for the lock every ``check_interval_s`` while following; checks its connection while leading."""

    def __init__(
        self,
        url: str,
        lock_key: int,
        check_interval_s: float,
        *,
        on_promote: Transition,
        on_demote: Transition,
        lease_s: float = 10.0,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._key = lock_key
        self._interval = check_interval_s
        self._lease_s = lease_s
        self.fence = Fence(lock_key, lease_s)
        self._on_promote = on_promote
        self._on_demote = on_demote
        self._connection: Any = None  # asyncpg.Connection
        self.leader = False
        self.changed = asyncio.Event()  # set at every promotion or demotion (tests and the status page wait on it)

    async def run(self) -> None:
        """Hold or seek the lock until cancelled; the lock goes with the connection when the process ends."""
        try:
            while True:
                await self.check()
                await asyncio.sleep(self._interval)
        finally:
            await self._close()

    async def check(self) -> None:
        """One round: keep the lock (leader) or try to take it (follower)."""
        try:
            if self._connection is None or self._connection.is_closed():
                await self._close()
                if self.leader:
                    # The session that held the lock has ended (the server ends one idle for lease_s: this instance
                    # was paused), and the lock with it; a new session would not hold it. Follow, then try again.
                    log.warning("HA: the lock's session has ended (paused past the %.0f s lease?)", self._lease_s)
                    await self._set(leader=False)
                    return
                self._connection = await asyncpg.connect(
                    **self._dsn,
                    timeout=self._interval * 3,
                    server_settings={"idle_session_timeout": str(max(1, int(self._lease_s * 1000)))},
                )
            async with asyncio.timeout(self._interval * 3):
                if self.leader:
                    # The session is alive, so the session lock is still ours.
                    await self._connection.fetchval("SELECT 1")
                    return
                won = bool(await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key))
                if won:
                    # The fencing token: waits for any write transaction the old leader still has open.
                    self.fence.epoch = int(await self._connection.fetchval(NEXT_EPOCH, self._key, HOLDER, time.time()))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("leadership connection failed (%s)", exc)
            self.fence.epoch = None  # the lock is gone with the session (a half-won one too)
            await self._close()
            if self.leader:
                # The session is gone, so is the lock: the other instance may hold it already.
                await self._set(leader=False)
            return
        if won:
            await self._set(leader=True)

    async def _set(self, *, leader: bool) -> None:
        self.leader = leader
        if not leader:
            self.fence.epoch = None
        log.warning(
            "HA: this instance is now the %s (lock %d, epoch %s)",
            "LEADER" if leader else "follower", self._key, self.fence.epoch,
        )  # fmt: skip
        try:
            await (self._on_promote if leader else self._on_demote)()
        except Exception:
            if not leader:
                raise
            # A half-done takeover must not hold the lock: give it up (closing the session) and try again later.
            log.exception("HA: takeover failed; giving the lock up")
            self.leader = False
            self.fence.epoch = None
            await self._close()
            await self._on_demote()
        self.changed.set()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
