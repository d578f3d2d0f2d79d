"""PostgreSQL stopped under a running service, and a SIGTERM while it is down: nothing lost, nothing doubled, the
shutdown bounded in time, /healthz degraded meanwhile.

The test runs its OWN PostgreSQL cluster (``tests/faults/postgres_cluster.py``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import Mosquitto, NumberedPublisher, ServiceProcess, lost_and_doubled
from tests.faults.postgres_cluster import OwnPostgres
from tests.helpers import eventually

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


async def test_database_outage_and_sigterm_while_down(tmp_path: Path, own_postgres: OwnPostgres, unique: str) -> None:
    """Stop PostgreSQL mid-stream (degraded, readings wait at the broker), SIGTERM while it is down (bounded, the
    unwritten rows spooled), start both again: every reading stored exactly once."""
    from collections import Counter

    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = ServiceProcess(
        tmp_path / "service",
        broker.port,
        f"pg{unique}",
        extra_config="[ingest]\ndecode_workers = 0\nstall_after_s = 2.0\n",
        db_url=own_postgres.url,
        database_extra=f'stop_timeout_s = 3.0\nspool_file = "{tmp_path / "spool.bin"}"\n',
    )
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 120)
    try:
        service.start()
        await service.wait_ready()
        await publisher.publish(200, rate=400)
        own_postgres.stop()
        await publisher.publish(200, rate=400)

        async def degraded() -> bool:
            status, body = await service.health()
            return status == 503 and body.get("store_failing_s") is not None

        await eventually(degraded, timeout=30)
        started = time.monotonic()
        assert service.terminate(timeout=60) == 0, service.logs()[-3000:]
        stop_seconds = time.monotonic() - started
        assert (tmp_path / "spool.bin").exists()
        own_postgres.start()
        service.start()
        await service.wait_ready()
        await publisher.publish(100, rate=400)

        async def all_stored() -> list[tuple[str, float]] | None:
            stored = await _stored(own_postgres.url)
            return stored if len(stored) >= len(publisher.sent) else None

        stored = await eventually(all_stored, timeout=60)
        await asyncio.sleep(1.0)  # anything doubled would be written by now
        stored = await _stored(own_postgres.url)
        assert service.terminate() == 0
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
    lost, doubled = lost_and_doubled(publisher.sent, Counter(stored))
    assert (len(lost), len(doubled)) == (0, 0), (lost[:5], doubled[:5])
    assert stop_seconds < 3.0 + 10.0  # the stop timeout and the rest of an orderly shutdown
    assert not (tmp_path / "spool.bin").exists()  # written to the database at the restart
