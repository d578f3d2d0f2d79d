"""PostgreSQL stopped under a running service, and a SIGTERM while it is down: nothing lost, nothing doubled, the
shutdown bounded in time, /healthz degraded meanwhile, and a Cl2 page sent during the outage (from memory) recorded
once when the database is back, not sent again.

Before, pages waited for the outbox commit: a Cl2 page during a 21 s outage was 20 s late, and never left while the
database stayed down (``daemon/notify/memory_delivery.py`` now sends it).

The test runs its OWN PostgreSQL cluster (``tests/faults/postgres_cluster.py``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import Mosquitto, NumberedPublisher, ServiceProcess, lost_and_doubled
from tests.faults.paging_support import CountingReceiver, chlorine_messages, for_chlorine, notify_config
from tests.faults.postgres_cluster import OwnPostgres
from tests.helpers import eventually, publish

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]


async def _stored(url: str) -> list[tuple[str, float]]:
    """Every stored live reading as (sensor, time)."""
    from daemon.store.reading_chunks import decode_chunk

    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT format, sensors, data, count FROM reading_chunks WHERE NOT drill")
    finally:
        await connection.close()
    out: list[tuple[str, float]] = []
    for row in rows:
        readings = decode_chunk(row["format"], row["sensors"], bytes(row["data"]), row["count"])
        out += list(zip(readings.sensor_id.tolist(), readings.time.tolist(), strict=True))
    return out


def _service(
    tmp_path: Path, broker: Mosquitto, postgres: OwnPostgres, prefix: str, notify: str = "", database: str = ""
) -> ServiceProcess:
    """The service on the test's own PostgreSQL, decoding in place, spooling to ``spool.bin`` while it is down."""
    return ServiceProcess(
        tmp_path / "service",
        broker.port,
        prefix,
        extra_config="[ingest]\ndecode_workers = 0\nstall_after_s = 2.0\n" + notify,
        db_url=postgres.url,
        database_extra=database + f'spool_file = "{tmp_path / "spool.bin"}"\n',
    )


async def _all_stored(url: str, count: int) -> None:
    """Wait until at least ``count`` live readings are stored."""

    async def enough() -> bool:
        return len(await _stored(url)) >= count

    await eventually(enough, timeout=60)


async def test_database_outage_and_sigterm_while_down(tmp_path: Path, own_postgres: OwnPostgres, unique: str) -> None:
    """Stop PostgreSQL mid-stream (degraded, readings wait at the broker), a Cl2 alarm (paged during the outage),
    SIGTERM while it is down (bounded, the unwritten rows spooled), start both again: every reading stored exactly
    once, the page stored delivered after one attempt and received once."""
    from collections import Counter

    receiver = CountingReceiver()
    url = await receiver.start()
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = _service(
        tmp_path,
        broker,
        own_postgres,
        f"pg{unique}",
        notify_config([("duty", f"{url}/duty", False)]),
        "stop_timeout_s = 3.0\n",
    )
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 120)
    try:
        service.start()
        await service.wait_ready()
        await publisher.publish(200, rate=400)
        own_postgres.stop()
        await publisher.publish(200, rate=400)
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60))

        async def degraded_and_paged() -> bool:
            status, body = await service.health()
            paged = "delivered from memory" in service.logs() and for_chlorine(receiver.bodies("/duty"))
            return status == 503 and body.get("store_failing_s") is not None and bool(paged)

        await eventually(degraded_and_paged, timeout=30)  # the database is still down: nothing started it
        started = time.monotonic()
        assert service.terminate(timeout=60) == 0, service.logs()[-3000:]
        stop_seconds = time.monotonic() - started
        assert (tmp_path / "spool.bin").exists()
        own_postgres.start()
        service.start()
        await service.wait_ready()
        await publisher.publish(100, rate=400)

        await _all_stored(own_postgres.url, len(publisher.sent))
        await asyncio.sleep(2.0)  # anything doubled would be written, a second page sent (0.2 s passes), by now
        stored = await _stored(own_postgres.url)
        pages = await _pages(own_postgres.url, "duty")
        assert service.terminate() == 0
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
        await receiver.stop()
    lost, doubled = lost_and_doubled(publisher.sent, Counter(stored))
    assert (len(lost), len(doubled)) == (0, 0), (lost[:5], doubled[:5])
    # Bounded by the stop timeout plus an orderly shutdown (about 13 s on a quiet machine); the margin is for a loaded
    # CI machine: the failure this guards against is a stop that waits for the database for ever.
    assert stop_seconds < 40.0
    assert not (tmp_path / "spool.bin").exists()  # written to the database at the restart
    assert pages == [("delivered", 1)]  # the memory attempt's outcome, spooled with its row, stored at the restart
    assert len(for_chlorine(receiver.bodies("/duty"))) == 1
    # One traceback per component that found the database gone (the writer's first failed write, the notification
    # worker's first failed pass); every retry after it is one line (before: 74 tracebacks in a 21 s outage).
    # Counted per logged error: an error whose exception was raised while handling another (asyncpg's under
    # SQLAlchemy's) prints one "Traceback" header per link of the chain, and how long the chain is depends on where
    # the connection was found closed, not on how often the service logged.
    logged = _tracebacks(service.logs())
    assert len(logged) <= 2, "\n---\n".join(logged)


async def _pages(url: str, recipient: str) -> list[tuple[str, int]]:
    """(state, attempts) of the recipient's outbox rows."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT state, attempts FROM notifications WHERE recipient = $1", recipient)
    finally:
        await connection.close()
    return [(str(row["state"]), int(row["attempts"])) for row in rows]


async def test_sigkill_while_database_down(tmp_path: Path, own_postgres: OwnPostgres, unique: str) -> None:
    """The issue's row: after a SIGKILL during an outage, all 500 readings received while the database was down were
    gone (acknowledged, held in memory). Now nothing received while the database is down is acknowledged before it is
    stored or spooled, so after SIGKILL, database back, restart: every reading stored exactly once."""
    from collections import Counter

    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = _service(tmp_path, broker, own_postgres, f"pk{unique}")
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 120)
    try:
        service.start()
        await service.wait_ready()
        await publisher.publish(200, rate=400)
        own_postgres.stop()
        await publisher.publish(500, rate=400)

        async def degraded() -> bool:
            status, body = await service.health()
            return status == 503 and body.get("store_failing_s") is not None

        await eventually(degraded, timeout=30)
        await asyncio.sleep(1.0)  # the outage's readings have reached the service (its batches close every 0.5 s)
        service.kill()
        own_postgres.start()
        service.start()
        await service.wait_ready()
        await publisher.publish(100, rate=400)

        await _all_stored(own_postgres.url, len(publisher.sent))
        await asyncio.sleep(2.0)  # a redelivered reading stored twice would be written by now
        stored = await _stored(own_postgres.url)
        assert service.terminate() == 0
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
    lost, doubled = lost_and_doubled(publisher.sent, Counter(stored))
    assert (len(publisher.sent), len(lost), len(doubled)) == (800, 0, 0), (lost[:5], doubled[:5])


def _tracebacks(logs: str) -> list[str]:
    """One entry per logged error with a traceback (a chain of exceptions is one): its log line and last line."""
    lines = logs.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if before.startswith(("During handling of the above exception", "The above exception was the direct cause")):
            continue  # a link of the chain the entry above already counts
        last = next((later for later in lines[i + 1 : i + 80] if later and not later.startswith(" ")), "")
        found.append(f"{before}\n{last}")
    return found
