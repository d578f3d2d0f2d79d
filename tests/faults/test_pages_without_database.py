"""A Cl2 page goes out while PostgreSQL is down, and is recorded once, not sent again, when it is back.

Before, pages waited for the outbox commit: a Cl2 page during a 21 s outage was 20 s late. Now an urgent row the
database has not taken within ``memory_delivery_after_s`` is sent from memory (``daemon/notify/memory_delivery.py``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import Mosquitto, ServiceProcess
from tests.faults.paging_support import CountingReceiver, chlorine_messages, for_chlorine, notify_config
from tests.faults.postgres_cluster import OwnPostgres
from tests.helpers import eventually, publish

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(180)]


async def test_an_urgent_page_goes_out_during_a_database_outage_and_is_recorded_once(
    tmp_path: Path, own_postgres: OwnPostgres, unique: str
) -> None:
    """PostgreSQL stopped, then a Cl2 alarm: the webhook gets its page while the database is still down; once it is
    back the row is stored delivered after one attempt and the page is not sent again."""
    receiver = CountingReceiver()
    url = await receiver.start()
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = ServiceProcess(
        tmp_path / "service",
        broker.port,
        f"pgpage{unique}",
        extra_config="[ingest]\ndecode_workers = 0\n" + notify_config([("duty", f"{url}/duty", False)]),
        db_url=own_postgres.url,
        database_extra=f'stop_timeout_s = 3.0\nspool_file = "{tmp_path / "spool.bin"}"\n',
    )
    try:
        service.start()
        await service.wait_ready()
        own_postgres.stop()
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60))

        async def paged() -> bool:
            return bool(for_chlorine(receiver.bodies("/duty")))

        await eventually(paged, timeout=30)
        # The database is still down at this point (nothing started it), and the service knows it.
        status, health = await service.health()
        assert (status, health.get("store_failing_s") is not None) == (503, True), health
        own_postgres.start()

        async def stored() -> list[asyncpg.Record] | None:
            connection = await asyncpg.connect(own_postgres.url)
            try:
                rows = await connection.fetch(
                    "SELECT state, attempts, delivered_at FROM notifications WHERE recipient = 'duty'"
                )
            finally:
                await connection.close()
            return rows if rows and all(row["state"] != "sending" for row in rows) else None

        rows = await eventually(stored, timeout=60)

        async def healthy() -> bool:
            return (await service.health())[0] == 200

        await eventually(healthy, timeout=30)
        await asyncio.sleep(2.0)  # ten worker passes (0.2 s) over the stored row: a second page would be out by now
        assert service.terminate() == 0, service.logs()[-3000:]
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
        await receiver.stop()
    assert [(row["state"], row["attempts"]) for row in rows] == [("delivered", 1)]
    assert len(for_chlorine(receiver.bodies("/duty"))) == 1
    assert "delivered from memory" in service.logs()
