"""Leadership on the machine's PostgreSQL: a leader whose lock session the server ended follows, whatever asyncpg
had already noticed of the closed connection.

Before, a leader paused past its lease (SIGSTOP) whose connection asyncpg had already seen closed (the server's
FATAL and EOF read before the next check) reconnected and went on "leading" on a new session that held no lock:
fenced out of every write for good, and never saying "now the follower" (the flaky
test_shared_actions::test_ack_on_follower_stops_the_leader_and_survives_a_paused_leader, which lost that race
under load).
"""

from __future__ import annotations

import asyncpg
import pytest

from daemon.ha.leadership import Leadership, asyncpg_dsn
from daemon.store.engine import create_engine, migrate
from tests.helpers import eventually

pytestmark = pytest.mark.postgres
KEY = 4343
LEASE_S = 1.0  # the server ends the lock session after 1 s without a word from this instance


async def test_a_leader_whose_session_ended_while_paused_follows_and_leaves_the_lock_free(postgres_url: str) -> None:
    """Lead, say nothing for longer than the lease (as a paused process): the server ends the session; the next
    check demotes (once) instead of leading on a new session, and the lock is free for the other instance."""
    engine = create_engine(postgres_url)
    await migrate(engine)
    await engine.dispose()
    changes: list[str] = []

    async def promoted() -> None:
        changes.append("leader")

    async def demoted() -> None:
        changes.append("follower")

    leadership = Leadership(postgres_url, KEY, 0.5, on_promote=promoted, on_demote=demoted, lease_s=LEASE_S)
    other = await asyncpg.connect(**asyncpg_dsn(postgres_url))
    try:
        await leadership.check()
        assert leadership.leader
        assert leadership.fence.epoch == 1
        connection = leadership._connection
        assert connection is not None

        async def session_ended() -> bool:
            return bool(connection.is_closed())

        # Silent past the lease: the server ends the session (idle_session_timeout) and asyncpg reads its end.
        await eventually(session_ended, timeout=10 * LEASE_S, interval=0.1)
        await leadership.check()
        assert not leadership.leader
        assert leadership.fence.epoch is None  # nothing may be written with the old epoch
        assert changes == ["leader", "follower"]
        # The lock went with the session: the other instance takes it, and this one stays a follower.
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", KEY) is True
        await leadership.check()
        assert not leadership.leader
        assert changes == ["leader", "follower"]
    finally:
        await other.close()
        await leadership._close()
