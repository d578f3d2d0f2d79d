"""The fencing token on the machine's PostgreSQL: a stale leader's write transaction is refused, and a takeover's
epoch increment waits for the old leader's write in flight (so a write is either before the takeover or refused)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import insert, select

from daemon.ha.fence import Fence, FencedOutError
from daemon.ha.leadership import NEXT_EPOCH, asyncpg_dsn
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import ha_leadership, quarantine

pytestmark = pytest.mark.postgres
KEY = 4242


def _row(n: int) -> dict[str, object]:
    return {"received_at": float(n), "topic": "t", "reason": "fence", "detail": "", "payload": b"", "drill": False}


async def test_a_stale_epoch_writes_nothing(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    admin = await asyncpg.connect(**asyncpg_dsn(postgres_url))
    try:
        await migrate(engine)
        old, new = Fence(KEY, 5.0), Fence(KEY, 5.0)
        with pytest.raises(FencedOutError, match="does not lead"):
            async with engine.begin() as connection:
                await old(connection)
        old.epoch = int(await admin.fetchval(NEXT_EPOCH, KEY, "old", 1.0))
        async with engine.begin() as connection:
            await old(connection)
            await connection.execute(insert(quarantine).values(**_row(1)))
        new.epoch = int(await admin.fetchval(NEXT_EPOCH, KEY, "new", 2.0))
        assert (old.epoch, new.epoch) == (1, 2)

        async def stale_write() -> None:
            async with engine.begin() as connection:
                await old(connection)
                await connection.execute(insert(quarantine).values(**_row(2)))

        with pytest.raises(FencedOutError, match="epoch 1 is stale: epoch 2 leads"):
            await stale_write()
        async with engine.connect() as connection:
            written = (await connection.execute(select(quarantine.c.received_at))).scalars().all()
        assert written == [1.0], "the stale leader's row must not be committed"
    finally:
        await admin.close()
        await engine.dispose()


async def test_takeover_waits_for_the_old_leaders_write_in_flight(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    admin = await asyncpg.connect(**asyncpg_dsn(postgres_url))
    try:
        await migrate(engine)
        old = Fence(KEY, 5.0)
        old.epoch = int(await admin.fetchval(NEXT_EPOCH, KEY, "old", 1.0))
        async with engine.begin() as connection:
            await old(connection)  # holds the epoch row under a share lock until commit
            takeover = asyncio.create_task(admin.fetchval(NEXT_EPOCH, KEY, "new", 2.0))
            await asyncio.sleep(0.5)
            assert not takeover.done(), "the epoch moved under a write in flight"
            await connection.execute(insert(quarantine).values(**_row(1)))
        assert await asyncio.wait_for(takeover, 10) == 2
        async with engine.connect() as connection:
            assert (await connection.execute(select(ha_leadership.c.epoch))).scalar() == 2
            assert (await connection.execute(select(quarantine.c.received_at))).scalars().all() == [1.0]
    finally:
        await admin.close()
        await engine.dispose()
