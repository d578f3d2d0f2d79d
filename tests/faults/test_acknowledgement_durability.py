"""An acknowledgement survives a SIGKILL: acknowledged through the HTTP API as the console does, the service killed
3 s later and started again, the alarm is still the same row, still acknowledged by the same person at the same time,
and nobody is paged about it again.

Before: the alarm book was checkpointed every 30 s, so an acknowledgement less than 30 s old was forgotten at a
restart (the alarm was closed and raised again: two raise pages with different keys for one hazard).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.store.engine import create_engine
from daemon.web.api.auth import add_user
from tests.faults.paging_support import chlorine_messages, duty_paging_processes, for_chlorine
from tests.helpers import eventually, publish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SENSOR = "gas-n01-cl2"
BARRIER_DEVICE = "gas-n02"  # a second Cl2 alarm after the restart: its page comes after anything queued before it


def _rows(db: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as connection:
        return list(connection.execute(query, params).fetchall())


def _alarms(db: Path) -> list[tuple[Any, ...]]:
    """(id, state, acknowledged_at, acknowledged_by, cleared_at) of every live alarm row of the Cl2 sensor."""
    return _rows(
        db,
        "SELECT id, state, acknowledged_at, acknowledged_by, cleared_at FROM alarms "
        "WHERE sensor_id = ? AND NOT drill ORDER BY id",
        SENSOR,
    )


async def _operator_token(db: Path) -> str:
    """A new operator ``op-ack`` in the running service's database (as ``hazwatch user add`` makes one)."""
    engine = create_engine(f"sqlite:///{db}")
    try:
        return await add_user(engine, "op-ack", "operator", time.time())
    finally:
        await engine.dispose()


async def _acknowledge(port: int, alarm_id: int, token: str) -> tuple[int, dict[str, Any]]:
    """POST /api/alarms/{id}/acknowledge with a bearer token, as the duty console does: status and JSON body."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/api/alarms/{alarm_id}/acknowledge",
            headers={"Authorization": f"Bearer {token}"},
            json={"reason": "on my way"},
        ) as response,
    ):
        return response.status, dict(json.loads(await response.text()))


async def test_acknowledgement_survives_sigkill_3_s_later(tmp_path: Path, unique: str) -> None:
    """Raise a Cl2 alarm (one page), acknowledge it over HTTP, SIGKILL 3 s later, restart: the same alarm row, still
    acknowledged by the same operator at the same time, one raise, and no page about it after the restart (a second
    alarm raised after the restart is the barrier: its page leaves after anything the restart queued)."""
    async with duty_paging_processes(tmp_path, f"ack{unique}") as (receiver, broker, service):
        db = service.db_path
        service.start()
        await service.wait_ready()
        token = await _operator_token(db)
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60))

        async def paged() -> list[dict[str, Any]]:
            return for_chlorine(receiver.bodies("/duty"))

        await eventually(paged, timeout=30)

        async def raised_rows() -> list[tuple[Any, ...]]:
            return _alarms(db)

        raised = await eventually(raised_rows, timeout=10)  # its level-1 and level-2 alarms
        answers = [await _acknowledge(service.http_port, row[0], token) for row in raised]
        assert [status for status, _ in answers] == [200] * len(raised), answers
        acknowledged = [body["alarm"] for _, body in answers]
        await asyncio.sleep(3.0)  # the fault: a kill 3 s after the acknowledgement (the old checkpoint came every 30 s)
        pages_before_kill = len(for_chlorine(receiver.bodies("/duty")))
        service.kill()
        service.start()
        await service.wait_ready()
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60, BARRIER_DEVICE))

        async def barrier_paged() -> list[dict[str, Any]]:
            return for_chlorine(receiver.bodies("/duty"), BARRIER_DEVICE)

        await eventually(barrier_paged, timeout=30)
        after = _alarms(db)
        raises = _rows(
            db,
            "SELECT count(*) FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id "
            "WHERE a.sensor_id = ? AND e.to_state = 'active_unack'",
            SENSOR,
        )
        unacknowledged_pages = _rows(
            db,
            "SELECT n.id FROM notifications n JOIN alarms a ON a.id = n.alarm_id "
            "WHERE a.sensor_id = ? AND n.acknowledged_at IS NULL",
            SENSOR,
        )
        pages_after = len(for_chlorine(receiver.bodies("/duty")))
        # the alarm book itself (not only its rows) knows them acknowledged: a second acknowledgement is refused
        again = [(await _acknowledge(service.http_port, row[0], token))[0] for row in raised]
        assert service.terminate() == 0, service.logs()[-3000:]
    assert len(raised) == 2, raised  # cl2 level 1 and level 2
    assert [(row["state"], row["acknowledged_by"]) for row in acknowledged] == [("active_acked", "op-ack")] * 2
    expected = [(row["id"], "active_acked", row["acknowledged_at"], "op-ack", None) for row in acknowledged]
    assert after == expected, after  # the same rows, still acknowledged, by whom and when
    assert again == [409] * len(raised)
    assert raises == [(len(raised),)]  # each raised once, not closed and raised again at the restart
    assert unacknowledged_pages == []  # their pages stay acknowledged: no escalation chain starts again
    assert pages_after == pages_before_kill, receiver.bodies("/duty")  # nobody paged about them after the restart
