"""The spool of a shutdown while SQLite cannot be written: kept, bounded, and written at the next start.

A SIGTERM while the database fails must end the service within ``stop_timeout_s``, keep what it held in the spool
file, and write that file at the next start: every reading stored once, the Cl2 alarm's page (sent from memory during
the fault) received once, not again after the restart. The spool is bounded (``spool_max_bytes``): at the bound the
readings are left out first (the broker delivers their unacknowledged messages again), then every other row, and the
spool records how many, which the next start logs and counts in /metrics; nothing is dropped silently.

Before, a spool over its bound was not written at all (an ERROR line; every alarm and page row of the outage lost,
nothing counted), and nothing tested a shutdown while SQLite, not PostgreSQL, was failing.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from daemon.store.schema import metadata
from daemon.store.spool import read_spool, write_spool
from daemon.store.writer import WriteGroup
from detectors.readings import ReadingBatch
from tests.faults.harness import Mosquitto, NumberedPublisher, ServiceProcess, lost_and_doubled, wait_stored
from tests.faults.paging_support import CountingReceiver, chlorine_messages, duty_paging_service, for_chlorine
from tests.helpers import eventually, publish


def _group(readings: int, alarms: int) -> WriteGroup:
    batch = ReadingBatch(
        np.arange(readings, dtype=np.int32) % 7,
        1.8e9 + np.arange(readings, dtype=np.float64),
        np.full(readings, 90.0),
        np.zeros(readings, dtype=np.uint16),
    )
    rows = [{"id": n, "message": "x" * 50} for n in range(alarms)]
    return WriteGroup(readings=[batch], inserts={metadata.tables["alarms"]: rows})


def test_a_spool_within_its_bound_keeps_everything(tmp_path: Path) -> None:
    """Readings and rows spooled, read back whole, nothing counted as left out."""
    path = tmp_path / "spool"
    write_spool(path, _group(1000, 3), 10_000_000)
    spooled = read_spool(path)
    assert spooled is not None
    assert sum(len(b) for b in spooled.group.readings) == 1000
    assert len(spooled.group.inserts[metadata.tables["alarms"]]) == 3
    assert (spooled.readings_left_out, spooled.rows_lost) == (0, 0)
    assert not path.exists()


def test_at_the_bound_the_readings_go_first_and_are_counted(tmp_path: Path) -> None:
    """Too big with its readings: the rows are kept, the readings counted as left out (the broker has them)."""
    path = tmp_path / "spool"
    outcome = write_spool(path, _group(100_000, 3), 20_000)
    assert path.stat().st_size <= 20_000
    spooled = read_spool(path)
    assert spooled is not None
    assert spooled.group.readings == []
    assert len(spooled.group.inserts[metadata.tables["alarms"]]) == 3
    assert (spooled.readings_left_out, spooled.rows_lost) == (100_000, 0)
    assert (outcome.readings_left_out, outcome.rows_lost) == (100_000, 0)


def test_past_the_bound_only_the_count_of_what_was_lost_is_kept(tmp_path: Path) -> None:
    """Too big even without readings: a spool that only says what it lost; a second shutdown's rows join it."""
    path = tmp_path / "spool"
    write_spool(path, _group(5_000, 2_000), 2_048)
    write_spool(path, _group(10, 1), 2_048)  # the database never came back in between
    spooled = read_spool(path)
    assert spooled is not None
    assert (spooled.readings_left_out, spooled.rows_lost) == (5_000, 2_000)  # the first shutdown's, counted
    assert sum(len(b) for b in spooled.group.readings) == 10  # the second shutdown's group fitted whole
    assert len(spooled.group.inserts[metadata.tables["alarms"]]) == 1


def _chattr(files: list[Path], sign: str) -> None:
    done = subprocess.run(["chattr", f"{sign}i", *map(str, files)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, f"chattr {sign}i needs root (CAP_LINUX_IMMUTABLE): {done.stderr}"


async def _metric(service: ServiceProcess, name: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.http_port}/metrics") as response,
    ):
        text = await response.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("bound", ["roomy", "tight"])
async def test_sigterm_while_sqlite_is_read_only_keeps_the_spool_and_writes_it_at_the_next_start(
    tmp_path: Path, unique: str, bound: str
) -> None:
    """The database turns read-only (``chattr +i``, EPERM as on a filesystem remounted read-only); readings and a
    Cl2 alarm arrive, are paged from memory; SIGTERM: exit 0 within the stop timeout, the spool file written. The
    database is writable again and the service started: the spool is written, every reading stored once, the page
    received once. ``tight``: the bound leaves the readings out (counted in /metrics), the broker gives them back.
    ``roomy`` needs no volume (everything fits whatever the count): 1,000 readings in the fault, not tight's 5,000
    that its bound is measured against (the 4,000 more cost it a publish, a redelivery and a catch-up)."""
    receiver = CountingReceiver()
    url = await receiver.start()
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    spool = tmp_path / "service" / "hazwatch.db.spool"
    # Measured: the alarm, incident and page rows with the chain's checkpoints take about 190 KB, readings about 25
    # bytes each (the fault's 5,000: about 125 KB). tight: the rows fit, the rows and the readings do not.
    limit = "" if bound == "roomy" else "spool_max_bytes = 260_000\n"
    in_fault = 1_000 if bound == "roomy" else 5_000
    service = duty_paging_service(
        tmp_path / "service",
        broker.port,
        f"spool{unique}",
        url,
        database_extra=f"stop_timeout_s = 3.0\nwrite_retry_max_s = 0.5\n{limit}",
    )
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 120)
    locked: list[Path] = []
    try:
        service.start()
        await service.wait_ready()
        await publisher.publish(200, rate=400)
        await wait_stored(service.db_path, 200, timeout=60)
        locked = [service.db_path, Path(f"{service.db_path}-wal")]
        _chattr(locked, "+")
        await publisher.publish(in_fault, rate=5_000)
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60))

        async def degraded_and_paged() -> bool:
            status, body = await service.health()
            paged = for_chlorine(receiver.bodies("/duty"))
            return status == 503 and body.get("store_failing_s") is not None and bool(paged)

        await eventually(degraded_and_paged, timeout=60)
        assert service.terminate(timeout=30) == 0, service.logs()[-3000:]
        assert spool.exists()
        _chattr(locked, "-")
        locked = []
        service.start()
        # tight: the broker delivers the 5,000 readings again before the subscription is confirmed (SUBACK waits
        # behind them), so "ready" comes after they are judged: 58 s for 10,000 once at load 14.
        await service.wait_ready(timeout=180)
        counts = await wait_stored(service.db_path, len(publisher.sent) + 2, timeout=90)
        left_out = await _metric(service, "hazwatch_spool_readings_left_out_total")
        lost_rows = await _metric(service, "hazwatch_spool_rows_lost_total")
        assert service.terminate() == 0, service.logs()[-3000:]
    finally:
        await receiver.stop()
        if locked:
            _chattr(locked, "-")
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
    assert lost_and_doubled(publisher.sent, counts) == ([], [])
    assert not spool.exists()  # written to the database at the restart
    assert len(for_chlorine(receiver.bodies("/duty"))) == 1, receiver.bodies("/duty")
    if bound == "roomy":
        assert (left_out, lost_rows) == (0, 0)
    else:
        assert left_out > 0, service.logs()[-3000:]
        assert "spool was over its bound" in service.logs()
