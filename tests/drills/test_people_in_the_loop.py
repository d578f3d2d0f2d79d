"""What the duty team does on the drill console during a drill run is in the record: who, what, when (on the
exercise clock) and how long after what called for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import AlarmSetup
from daemon.clock import ManualClock, WallClock
from daemon.config import ServiceConfig
from daemon.drills.console_feedback import without_lines_of
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.drills.report import ReportContext, build_report
from daemon.drills.report_html import render_html
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from daemon.store.schema import checklist_items, drill_runs, notifications
from daemon.web.api.operations import StoreOperations
from plans.incident import IncidentChanges, NotificationIntent, TimelineEntry
from rules.sensor_table import SensorTable
from tests.drills.test_faithful_replay import _theft

WALL_START = 1_800_000_000.0  # when the drill started on the wall clock the console stamps actions with


async def test_console_actions_during_a_drill_run_are_recorded_with_who_when_and_delay(
    tmp_path: Path, sqlite_url: str
) -> None:
    recording = _theft(tmp_path, columnar=True)
    config = ServiceConfig()
    config.database.url = sqlite_url
    site = load_site(config.site_file)
    table = SensorTable.build(site)
    result = await replay_recording(recording, config, site, ReplayOptions(), wall=WallClock())
    engine = create_engine(config.database.url)
    try:
        # The run was at 1x, started at WALL_START: the console's wall-clock stamps map onto the exercise clock.
        async with engine.begin() as connection:
            await connection.execute(
                update(drill_runs).where(drill_runs.c.id == result.run_id).values(speed="1", started_at=WALL_START)
            )
            page = (
                await connection.execute(
                    select(notifications.c.id, notifications.c.incident_id, notifications.c.created_at)
                    .where(notifications.c.drill_run_id == result.run_id, notifications.c.role == "duty_officer")
                    .order_by(notifications.c.id)
                )
            ).first()
            assert page is not None
            item = (
                await connection.execute(
                    select(checklist_items.c.id).where(checklist_items.c.incident_id == page.incident_id)
                )
            ).first()
            assert item is not None
        to_wall = WALL_START - result.sim_start
        operations = StoreOperations(engine, [s.id for s in table.sensors])
        await operations.acknowledge_notification(page.id, "li-na", page.created_at + 42.0 + to_wall)
        await operations.comment_incident(page.incident_id, "li-na", page.created_at + 60.0 + to_wall, "on my way")
        await operations.tick_checklist_item(page.incident_id, item.id, "li-na", page.created_at + 90.0 + to_wall)
        await operations.confirm_level(page.incident_id, "II", "zhao-min", page.created_at + 120.0 + to_wall)
        context = ReportContext(AlarmSetup.load(config.alarms).roster, table)
        report = await build_report(engine, result, {s.id: s.kind.value for s in table.sensors}, context)
    finally:
        await engine.dispose()
    actions = report["human_actions"]
    by_what = {a["what"].split(":")[0].split(" the ")[0]: a for a in actions}
    assert by_what["acknowledged"]["actor_name"] == "李娜"
    assert by_what["acknowledged"]["delay_s"] == 42.0
    assert by_what["acknowledged"]["since"] == "page sent"
    assert {a["actor_name"] for a in actions} == {"李娜", "赵敏"}
    assert len(actions) == 4
    assert [a["time"] for a in actions] == sorted(a["time"] for a in actions)
    assert all(result.sim_start <= a["time"] <= result.sim_end + 200 for a in actions)  # exercise clock
    page_html = render_html(report)
    assert "李娜" in page_html
    assert "42.0 s" in page_html


async def _paced_theft(
    recording: Path, db: Path, on_wait: Callable[[ManualClock, AsyncEngine], Awaitable[None]] | None
) -> dict[str, Any]:
    """The theft replayed at 60x on a manual wall clock that moves only while the replay waits; ``on_wait`` is the
    duty team at the console, called (with the wall and the drill's database) whenever the replay waits."""
    config = ServiceConfig()
    config.database.url = f"sqlite:///{db}"
    site = load_site(config.site_file)
    table = SensorTable.build(site)
    wall = ManualClock(WALL_START)
    engine = create_engine(config.database.url)

    async def sleep(seconds: float) -> None:
        wall.advance(seconds)
        if on_wait is not None:
            await on_wait(wall, engine)

    try:
        result = await replay_recording(recording, config, site, ReplayOptions(speed=60.0), wall=wall, sleep=sleep)
        context = ReportContext(AlarmSetup.load(config.alarms).roster, table)
        return await build_report(engine, result, {s.id: s.kind.value for s in table.sensors}, context)
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_a_page_acknowledged_on_the_console_during_a_paced_drill_stops_its_escalation(tmp_path: Path) -> None:
    """Live, an acknowledged page stops escalating; in a drill at 60x the console's acknowledgement reaches the
    replay's incident engine the same way. Without it, the same drill escalates once the ack deadline passes."""
    recording = _theft(tmp_path, columnar=True, duration_s=900.0)
    unanswered = await _paced_theft(recording, tmp_path / "unanswered.db", None)
    [incident] = unanswered["incidents"]
    assert incident["escalations"], "the unanswered page escalates once its deadline passes"
    first_escalation = min(e["time"] for e in incident["escalations"])

    acked: list[float] = []

    async def duty_officer(wall: ManualClock, engine: AsyncEngine) -> None:
        if acked:
            return
        async with engine.connect() as connection:
            page = (
                await connection.execute(
                    select(notifications.c.id).where(
                        notifications.c.role == "duty_officer", notifications.c.incident_id.is_not(None)
                    )
                )
            ).first()
        if page is not None:  # the console stamps the wall clock, as it does live
            await StoreOperations(engine, []).acknowledge_notification(page.id, "li-na", wall.now())
            acked.append(wall.now())

    answered = await _paced_theft(recording, tmp_path / "answered.db", duty_officer)
    assert acked, "the duty officer saw the page on the drill console"
    [incident] = answered["incidents"]
    ack_at = answered["replay"]["sim_start"] + (acked[0] - WALL_START) * 60.0
    assert ack_at < first_escalation  # acknowledged before the deadline the unanswered run missed
    assert incident["escalations"] == []
    # The acknowledgement is recorded once (the console's line), not again by the engine.
    assert [e["type"] for e in incident["timeline"]].count("notification_ack") == 1


def test_the_engines_own_lines_are_kept_and_the_persons_line_is_not_stored_twice() -> None:
    """A confirmation the console already stored: the engine's tier line (system) and its pages stay, with their
    structured details re-indexed; the person's own line goes."""
    person = TimelineEntry("inc-1", 10.0, "level_confirmed", "zhao-min", "level II confirmed")
    tier = TimelineEntry("inc-1", 10.0, "tier_change", "system", "orange -> red")
    note = cast(NotificationIntent, object())  # passed through untouched: its fields do not matter here
    changes = IncidentChanges(
        timeline=[person, tier], notifications=[note], details={0: {"level": "II"}, 1: {"from": "orange"}}
    )
    kept = without_lines_of(changes, "zhao-min")
    assert kept.timeline == [tier]
    assert kept.details == {0: {"from": "orange"}}
    assert kept.notifications == [note]
