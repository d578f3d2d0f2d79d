"""Replays are deterministic drills: the same file gives the same alarms, and every stored row is marked drill."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from daemon.clock import WallClock
from daemon.config import ServiceConfig
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from daemon.store.reading_chunks import count_query
from daemon.store.schema import alarm_events, alarms, drill_runs, notifications, quarantine, reading_chunks
from tests.drills.conftest import replay_and_report, simulate

# Faithful replays judge every message in its own 20 ms batch: a scenario of hours takes minutes on a loaded
# machine, more than the suite's default timeout.
pytestmark = pytest.mark.timeout(600)

VOLATILE = {"id", "alarm_id"}


def _rows(db: Path, table: sa.Table, order: list[str]) -> list[dict[str, object]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(table).order_by(*[table.c[c] for c in order])).mappings().all()
            return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]
    finally:
        engine.dispose()


async def test_two_replays_of_one_file_give_identical_alarms(tmp_path: Path) -> None:
    recording = simulate(tmp_path, "stolen-radiography-source", duration_s=4800)
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    await replay_and_report(recording, f"sqlite:///{first}")
    await replay_and_report(recording, f"sqlite:///{second}")
    for table, order in ((alarms, ["raised_at", "rule", "sensor_id"]), (alarm_events, ["time", "to_state", "reason"])):
        assert _rows(first, table, order) == _rows(second, table, order)
    assert _rows(first, alarms, ["raised_at"]), "the scenario must raise alarms for this test to mean anything"


async def test_replaying_twice_into_one_database_reports_only_its_own_run(tmp_path: Path) -> None:
    recording = simulate(tmp_path, "cl2-leak-orange", duration_s=3600)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = await replay_and_report(recording, db)
    second = await replay_and_report(recording, db)
    strip = [{k: v for k, v in a.items() if k not in ("id", "transitions")} for a in first["alarms"]]
    assert strip == [{k: v for k, v in a.items() if k not in ("id", "transitions")} for a in second["alarms"]]
    assert second["drill_run"] == first["drill_run"] + 1
    assert {a["id"] for a in first["alarms"]}.isdisjoint({a["id"] for a in second["alarms"]})


async def test_every_stored_row_of_a_replay_is_a_drill_row(tmp_path: Path) -> None:
    recording = simulate(tmp_path, "sensor-fault-day", duration_s=2 * 3600)
    db = tmp_path / "drill.db"
    registry = CollectorRegistry()
    config = ServiceConfig()
    config.database.url = f"sqlite:///{db}"
    result = await replay_recording(
        recording, config, load_site(config.site_file), ReplayOptions(), wall=WallClock(), registry=registry
    )
    assert registry.get_sample_value("hazwatch_drill_running") == 0
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            for table in (reading_chunks, alarms, alarm_events, quarantine):
                flags = connection.execute(sa.select(table.c.drill, sa.func.count()).group_by(table.c.drill)).all()
                assert all(drill for drill, _ in flags), (table.name, flags)
            assert connection.execute(count_query()).scalar() == result.readings
            # the malformed payloads were quarantined with their raw bytes, as drill rows
            bad = connection.execute(sa.select(quarantine.c.payload, quarantine.c.reason)).all()
            assert any(payload.startswith(b"\xff\xfe") for payload, _ in bad)
            run = connection.execute(sa.select(drill_runs)).mappings().one()
            assert run["status"] == "finished"
            assert run["sim_start"] == result.sim_start
    finally:
        engine.dispose()


async def test_columnar_replay_gives_the_same_alarms_as_json_lines(tmp_path: Path) -> None:
    jsonl = simulate(tmp_path, "hf-night-low-wind", duration_s=4200)
    columnar = simulate(tmp_path, "hf-night-low-wind", duration_s=4200, columnar=True)
    by_lines = await replay_and_report(jsonl, f"sqlite:///{tmp_path / 'lines.db'}")
    by_columns = await replay_and_report(columnar, f"sqlite:///{tmp_path / 'columns.db'}")
    assert by_lines["replay"]["readings"] == by_columns["replay"]["readings"]

    def key(report: dict[str, object]) -> list[tuple[object, ...]]:
        return [(a["sensor"], a["rule"], a["raised_at"], a["cleared_at"]) for a in report["alarms"]]  # type: ignore[attr-defined]

    assert key(by_lines) == key(by_columns)
    assert key(by_lines)


async def test_from_and_to_limit_the_replayed_span(tmp_path: Path) -> None:
    recording = simulate(tmp_path, "cl2-leak-orange", duration_s=3600)
    full = await replay_and_report(recording, f"sqlite:///{tmp_path / 'full.db'}")
    start = full["replay"]["sim_start"]
    part = await replay_and_report(recording, f"sqlite:///{tmp_path / 'part.db'}", start=start + 600, end=start + 1200)
    assert start + 600 <= part["replay"]["sim_start"]
    assert part["replay"]["sim_end"] < start + 1200
    assert 0 < part["replay"]["readings"] < full["replay"]["readings"]


async def test_drill_pages_are_recorded_but_never_addressed_to_real_channels(tmp_path: Path) -> None:
    """The Cl2 drill opens an incident and pages the roster: every page is a drill row on the console only."""
    recording = simulate(tmp_path, "cl2-leak-orange", duration_s=3600)
    db = tmp_path / "pages.db"
    await replay_and_report(recording, f"sqlite:///{db}")
    engine = create_engine(f"sqlite:///{db}")
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(sa.select(notifications.c.channel, notifications.c.drill))).all()
    finally:
        await engine.dispose()
    assert rows, "the drill should page someone"
    assert {(channel, drill) for channel, drill in rows} == {("console", True)}
