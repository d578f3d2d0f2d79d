"""Replays are deterministic drills: the same file gives the same alarms, and every stored row is marked drill."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.store.engine import create_engine
from daemon.store.reading_chunks import count_query
from daemon.store.schema import alarm_events, alarms, drill_runs, notifications, quarantine, reading_chunks
from tests.drills.conftest import ScenarioRuns, replay_and_report

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


@pytest.mark.slow
async def test_two_replays_of_one_file_give_identical_alarms(scenario_runs: ScenarioRuns, tmp_path: Path) -> None:
    first = await scenario_runs.run("stolen-radiography-source")  # the session's replay of the scenario
    assert first.db is not None
    second = tmp_path / "second.db"
    await replay_and_report(first.recording, f"sqlite:///{second}")
    for table, order in ((alarms, ["raised_at", "rule", "sensor_id"]), (alarm_events, ["time", "to_state", "reason"])):
        assert _rows(first.db, table, order) == _rows(second, table, order)
    assert _rows(second, alarms, ["raised_at"]), "the scenario must raise alarms for this test to mean anything"


@pytest.mark.slow
async def test_replaying_twice_into_one_database_reports_only_its_own_run(
    scenario_runs: ScenarioRuns, tmp_path: Path
) -> None:
    # The theft: an alarm, an incident and its pages in a replay of well under a CPU-second (Cl2's cost 13).
    shared = await scenario_runs.run("source-theft-out-of-park")
    assert shared.db is not None
    db = tmp_path / "shared.db"
    shutil.copyfile(shared.db, db)  # the session's database, with its run, plus a second run of the same file
    second = await replay_and_report(shared.recording, f"sqlite:///{db}")
    first = shared.report
    strip = [{k: v for k, v in a.items() if k not in ("id", "transitions")} for a in first["alarms"]]
    assert strip
    assert strip == [{k: v for k, v in a.items() if k not in ("id", "transitions")} for a in second["alarms"]]
    assert second["drill_run"] == first["drill_run"] + 1
    assert {a["id"] for a in first["alarms"]}.isdisjoint({a["id"] for a in second["alarms"]})
    # Plan page ids repeat between replays of one file: the second run's pages are its own, not taken as duplicates.
    assert first["notifications"]
    assert len(second["notifications"]) == len(first["notifications"])
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            pages = connection.execute(
                sa.select(notifications.c.drill_run_id, sa.func.count()).group_by(notifications.c.drill_run_id)
            ).all()
    finally:
        engine.dispose()
    assert dict(pages) == {
        first["drill_run"]: len(first["notifications"]),
        second["drill_run"]: len(first["notifications"]),
    }


@pytest.mark.slow
async def test_every_stored_row_of_a_replay_is_a_drill_row(scenario_runs: ScenarioRuns) -> None:
    run = await scenario_runs.run("sensor-fault-day", duration_s=8 * 3600)
    assert run.db is not None
    result = run.result
    assert run.sample("hazwatch_drill_running") == 0
    engine = sa.create_engine(f"sqlite:///{run.db}")
    try:
        with engine.connect() as connection:
            for table in (reading_chunks, alarms, alarm_events, quarantine):
                flags = connection.execute(sa.select(table.c.drill, sa.func.count()).group_by(table.c.drill)).all()
                assert all(drill for drill, _ in flags), (table.name, flags)
            assert connection.execute(count_query()).scalar() == result.readings
            # the malformed payloads were quarantined with their raw bytes, as drill rows
            bad = connection.execute(sa.select(quarantine.c.payload, quarantine.c.reason)).all()
            assert any(payload.startswith(b"\xff\xfe") for payload, _ in bad)
            run_row = connection.execute(sa.select(drill_runs)).mappings().one()
            assert run_row["status"] == "finished"
            assert run_row["sim_start"] == result.sim_start
    finally:
        engine.dispose()


@pytest.mark.slow
async def test_from_and_to_limit_the_replayed_span(scenario_runs: ScenarioRuns, tmp_path: Path) -> None:
    run = await scenario_runs.run("cl2-leak-orange")
    full = run.report
    start = full["replay"]["sim_start"]
    part = await replay_and_report(
        run.recording, f"sqlite:///{tmp_path / 'part.db'}", start=start + 600, end=start + 1200
    )
    assert start + 600 <= part["replay"]["sim_start"]
    assert part["replay"]["sim_end"] < start + 1200
    assert 0 < part["replay"]["readings"] < full["replay"]["readings"]


@pytest.mark.slow
async def test_drill_pages_are_recorded_but_never_addressed_to_real_channels(scenario_runs: ScenarioRuns) -> None:
    """The Cl2 drill opens an incident and pages the roster: every page is a drill row on the console only."""
    db = (await scenario_runs.run("cl2-leak-orange")).db
    engine = create_engine(f"sqlite:///{db}")
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(sa.select(notifications.c.channel, notifications.c.drill))).all()
    finally:
        await engine.dispose()
    assert rows, "the drill should page someone"
    assert {(channel, drill) for channel, drill in rows} == {("console", True)}
