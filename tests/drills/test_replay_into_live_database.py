"""A replay may write into the database a running service uses: ids never collide, live rows stay live rows, drill
rows name their run, and the service's /metrics shows the drill while it runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from daemon.clock import WallClock
from daemon.config import ServiceConfig
from daemon.drills import runs
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.service import Service
from daemon.store.row_ids import RUN_SPAN, IdRange
from daemon.store.schema import alarm_events, alarms, drill_runs, incidents, notifications
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.drills.test_faithful_replay import _theft
from tests.helpers import eventually, publish, senml

pytestmark = pytest.mark.timeout(300)  # a paced replay beside a running service on a machine shared by many runs

IDENTITY = ("id", "alarm_key", "sensor_id", "raised_at", "drill", "drill_run_id")


async def _drill_running(service: Service) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.http_port}/metrics") as response,
    ):
        text = await response.text()
    for family in text_string_to_metric_families(text):
        if family.name == "hazwatch_drill_running":
            return float(family.samples[0].value)
    raise AssertionError("hazwatch_drill_running missing from /metrics")


async def _rows(service: Service, table: sa.Table) -> list[dict[str, Any]]:
    async with service.engine.connect() as connection:
        return [dict(r) for r in (await connection.execute(sa.select(table).order_by(table.c.id))).mappings()]


@pytest.mark.slow
async def test_a_replay_into_the_live_database_never_collides_with_the_live_service(
    machine_broker: tuple[str, int], db_url: str, demo_site: Site, unique: str, tmp_path: Path
) -> None:
    # The short theft raises alarms, opens an incident and pages: every kind of row a drill writes, in 420 s of
    # recording (a faithful replay judges every batch on its own: 40 min of the Cl2 leak cost 12 CPU-s here).
    recording = _theft(tmp_path, columnar=False)
    prefix = f"hwtest-{unique}"
    broker = f"mqtt://{machine_broker[0]}:{machine_broker[1]}"
    config = service_config(broker, db_url, prefix, f"svc-{unique}", render_process=True)  # /metrics is scraped
    drill_config = ServiceConfig()
    drill_config.database.url = db_url
    drill_registry = CollectorRegistry()
    t0 = time.time() - 120

    async def live_alarm(service: Service, device: str) -> list[dict[str, Any]]:
        """Publish a Cl2 level over high-high at ``device``; returns the live alarm rows once it is stored."""
        topic = f"{prefix}/{demo_site.site}/{device}"
        await publish(machine_broker, [(topic, senml(device, [("cl2", 2.0, "ppm")], t)) for t in (t0, t0 + 11)])

        async def stored() -> list[dict[str, Any]]:
            await service.drain()
            return [r for r in await _rows(service, alarms) if r["device_id"] == device and not r["drill"]]

        return await eventually(stored)

    async with running_service(config, demo_site) as service:
        assert await _drill_running(service) == 0
        before = await live_alarm(service, "gas-n01")
        # The replay runs at 100x (420 s of recording in ~4 s) so /metrics can be scraped while it runs.
        replay = asyncio.create_task(
            replay_recording(
                recording,
                drill_config,
                demo_site,
                ReplayOptions(speed=100),
                wall=WallClock(),
                registry=drill_registry,
                environ={},
            )
        )

        async def drill_shown() -> bool:
            return await _drill_running(service) == 1

        await eventually(drill_shown, timeout=30)
        result = await replay
        assert await _drill_running(service) == 0
        after = await live_alarm(service, "gas-n02")  # the service numbers on after the drill wrote its rows
        await service.drain()
        alarm_rows = await _rows(service, alarms)
        event_rows = await _rows(service, alarm_events)
        incident_rows = await _rows(service, incidents)
        notification_rows = await _rows(service, notifications)
        run_rows = await _rows(service, drill_runs)

    for registry in (service.registry, drill_registry):
        assert registry.get_sample_value("hazwatch_store_errors_total") == 0
        assert registry.get_sample_value("hazwatch_store_rows_rejected_total") == 0
    live = [r for r in alarm_rows if not r["drill"]]
    drill = [r for r in alarm_rows if r["drill"]]
    assert drill, "the drill must raise alarms for this test to mean anything"
    assert {r["id"] for r in before} | {r["id"] for r in after} <= {r["id"] for r in live}
    # Live rows untouched: same identity as when first stored, never tagged as a drill, numbered in the live range.
    by_id = {r["id"]: r for r in live}
    for row in before:
        assert {k: by_id[row["id"]][k] for k in IDENTITY} == {k: row[k] for k in IDENTITY}
    assert all(r["drill_run_id"] is None and r["id"] < RUN_SPAN for r in live)
    # Drill rows: tagged with their run, numbered in the run's own range.
    run = IdRange.drill_run(result.run_id)
    assert all(r["drill_run_id"] == result.run_id and run.first <= r["id"] <= run.last for r in drill)
    assert [r for r in incident_rows if r["drill"]]
    assert all((r["drill_run_id"] == result.run_id) == r["drill"] for r in incident_rows)
    assert all(run.first <= r["id"] <= run.last for r in incident_rows if r["drill"])
    assert all(r["id"] < RUN_SPAN for r in incident_rows if not r["drill"])
    drill_ids = {r["id"] for r in drill}
    assert all(e["drill_run_id"] == result.run_id for e in event_rows if e["alarm_id"] in drill_ids)
    assert all(e["drill_run_id"] is None for e in event_rows if e["alarm_id"] not in drill_ids)
    assert all((n["drill_run_id"] == result.run_id) == n["drill"] for n in notification_rows)
    [run_row] = run_rows
    assert run_row["status"] == "finished"
    assert run_row["heartbeat_at"] is not None


async def test_a_crashed_replay_does_not_keep_the_wall_in_drill_mode(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """A run left ``running`` by a killed replay stops counting once its heartbeat is stale."""
    broker = f"mqtt://{machine_broker[0]}:{machine_broker[1]}"
    config = service_config(broker, sqlite_url, f"hwtest-{unique}", f"svc-{unique}", render_process=True)
    async with running_service(config, demo_site) as service:
        now = time.time()
        stale = await runs.open_run(service.engine, "killed.jsonl", "max", now - 3600)
        assert await _drill_running(service) == 0
        await runs.beat(service.engine, stale, now)  # as if it were still going
        assert await _drill_running(service) == 1
        await runs.close_run(service.engine, stale, "finished", now, None, None)
        assert await _drill_running(service) == 0
