"""SIGKILL while webhook requests are in flight: after the restart nothing is sent again blindly.

Before, a claimed row kept only a lease: after a SIGKILL with 16 requests in flight, all 16 were sent again (same
Idempotency-Key; only receivers that de-duplicate were spared). Now the row is committed ``sending`` before its
request; at the restart a receiver declared idempotent gets it again with the same key, any other receiver is not
paged twice: the row ends ``outcome_unknown`` and a ``notify.outcome_unknown`` alarm asks the operator to check.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from tests.faults.harness import Mosquitto, ServiceProcess
from tests.faults.paging_support import CountingReceiver, chlorine_messages, for_chlorine, notify_config
from tests.helpers import eventually, publish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _rows(db_path: Path) -> dict[str, tuple[str, str]]:
    """recipient -> (state, idempotency key) of the Cl2 alarm's route rows."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        found = connection.execute(
            "SELECT recipient, state, idempotency_key FROM notifications WHERE event = 'alarm' AND NOT drill"
        ).fetchall()
    return {recipient: (state, key) for recipient, state, key in found}


def _service_alarms(db_path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        return [row[0] for row in connection.execute("SELECT rule FROM alarms WHERE kind = 'service'").fetchall()]


async def test_sigkill_with_pages_in_flight_resends_only_to_idempotent_receivers(tmp_path: Path, unique: str) -> None:
    """Two receivers hold their first request; the service is killed meanwhile and started again. The idempotent
    one gets the page again with the same key; the other gets nothing more, and the operator is told."""
    receiver = CountingReceiver(hang_first={"/plain", "/dedup"})
    url = await receiver.start()
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    people = [("plain", f"{url}/plain", False), ("dedup", f"{url}/dedup", True)]
    service = ServiceProcess(
        tmp_path / "service",
        broker.port,
        f"kpage{unique}",
        # a 6 s lease: the restarted service resolves the cut rows 6 s after they were claimed
        extra_config="[ingest]\ndecode_workers = 0\n" + notify_config(people, request_timeout_s=3.0),
    )
    try:
        service.start()
        await service.wait_ready()
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60))

        async def both_in_flight() -> bool:
            return bool(for_chlorine(receiver.bodies("/plain"))) and bool(for_chlorine(receiver.bodies("/dedup")))

        await eventually(both_in_flight, timeout=30, interval=0.01)
        in_flight = _rows(service.db_path)
        service.kill()  # both requests are still held by the receiver: their outcome is unknown to the service
        service.start()
        await service.wait_ready()

        async def resolved() -> dict[str, tuple[str, str]] | None:
            rows = _rows(service.db_path)
            return rows if {state for state, _ in rows.values()} <= {"delivered", "outcome_unknown"} else None

        rows = await eventually(resolved, timeout=60)
        assert service.terminate() == 0, service.logs()[-3000:]
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
        await receiver.stop()
    assert {name: state for name, (state, _) in in_flight.items()} == {"plain": "sending", "dedup": "sending"}
    assert {name: state for name, (state, _) in rows.items()} == {"plain": "outcome_unknown", "dedup": "delivered"}
    assert len(for_chlorine(receiver.bodies("/plain"))) == 1  # never paged twice blindly
    assert receiver.keys("/dedup") == [rows["dedup"][1]] * 2  # sent again with the same key; the receiver drops it
    assert "notify.outcome_unknown" in _service_alarms(service.db_path)
