"""A replay's pages go to drill routes only, and really arrive there; live destinations never hear of a drill."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from daemon.clock import WallClock
from daemon.config import ServiceConfig
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.drills.report import build_report
from daemon.notify.config import NotifyConfig
from daemon.notify.render import DRILL_LINE
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from daemon.store.row_ids import IdRange
from rules.sensor_table import SensorTable
from tests.drills.conftest import ScenarioRuns
from tests.notify.notify_support import Receiver, start_receiver

Documents = list[dict[str, Any]]

# The theft raises an alarm and an incident that reaches orange, with its pages, in a recording that replays in well
# under a CPU-second (45 min of the Cl2 leak, which this used before, cost about 9).
SCENARIO = "source-theft-out-of-park"


async def _receiver(into: Documents) -> Receiver:
    async def hook(request: web.Request) -> web.Response:
        into.append(await request.json())
        return web.Response(text="ok")

    return await start_receiver(hook)


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Documents, Receiver, Documents]]:
    """A live duty webhook and a drill-room webhook, real HTTP servers that keep what they receive."""
    live_docs: Documents = []
    drill_docs: Documents = []
    live, drill = await _receiver(live_docs), await _receiver(drill_docs)
    yield live, live_docs, drill, drill_docs
    for receiver in (live, drill):
        assert receiver.runner is not None
        await receiver.runner.cleanup()


def _config(db: Path, live: Receiver, drill: Receiver | None) -> ServiceConfig:
    """One live route that takes every alarm, and (optionally) one drill route that takes every drill page."""
    config = ServiceConfig()
    config.database.url = f"sqlite:///{db}"
    people: list[dict[str, Any]] = [{"name": "duty", "channels": [{"type": "webhook", "url": live.url + "/duty"}]}]
    routes: list[dict[str, Any]] = [{"name": "everything", "recipients": ["duty"]}]
    if drill is not None:
        people.append({"name": "drill-room", "channels": [{"type": "webhook", "url": drill.url + "/drill"}]})
        routes.append({"name": "drills", "recipients": ["drill-room"], "drill": True})
    config.notify = NotifyConfig.model_validate({"poll_interval_s": 0.2, "people": people, "routes": routes})
    return config


async def _replay(recording: Path, config: ServiceConfig) -> dict[str, Any]:
    site = load_site(config.site_file)
    result = await replay_recording(recording, config, site, ReplayOptions(), wall=WallClock(), environ={})
    engine = create_engine(config.database.url)
    try:
        return await build_report(engine, result, {s.id: s.kind.value for s in SensorTable.build(site).sensors})
    finally:
        await engine.dispose()


async def test_a_drill_pages_the_drill_webhook_and_never_the_live_one(
    tmp_path: Path, scenario_runs: ScenarioRuns, receivers: tuple[Receiver, Documents, Receiver, Documents]
) -> None:
    live, live_docs, drill, drill_docs = receivers
    recording = scenario_runs.recording(SCENARIO)
    report = await _replay(recording, _config(tmp_path / "drill.db", live, drill))

    assert live_docs == [], "a drill reached a live destination"
    assert drill_docs, "the drill route received nothing"
    for document in drill_docs:
        assert document["drill"] is True
        assert document["text"].splitlines()[0] == DRILL_LINE
        assert document["title"].startswith(DRILL_LINE)
    events = {document["event"] for document in drill_docs}
    assert "alarm" in events, events  # the direct alarm route, drill side
    assert {"open", "tier_change"} & events, events  # the plan engine's incident pages
    [incident] = [i for i in report["incidents"] if i["tier_history"][-1]["tier"] == "orange"]
    paged = {d["facts"]["incident_id"] for d in drill_docs if d["event"] != "alarm"}
    assert incident["id"] in paged

    assert report["delivery"]["drill_routes"] == ["drills"]
    sent = [n for n in report["notifications"] if n["channel"] == "webhook"]
    assert len(sent) == len(drill_docs)  # each page once
    assert all(n["state"] == "delivered" and n["recipient"] == "drill-room" for n in sent)
    # Delivery times are on the recording's clock: the replay sends each page before it feeds the next message, so
    # a page is delivered at (within a timer tick of) the recording time it was raised at, even at speed max.
    assert all(0 <= n["delivered_at"] - n["created_at"] <= 10 for n in sent)
    assert any(n["delivered_at"] is not None for n in incident["notifications"])
    # The roster is still paged on the console only, never on its own channels.
    recorded = [n for n in report["notifications"] if n["channel"] != "webhook"]
    assert recorded
    assert {n["channel"] for n in recorded} == {"console"}
    assert all(n["recipient"].startswith("drill:") or n["recipient"] == "duty-console" for n in recorded)
    # Every row of the run carries it, and the ids the replay assigned are in its own range.
    run = IdRange.drill_run(report["drill_run"])
    assert all(run.first <= a["id"] <= run.last for a in report["alarms"])
    assert all(run.first <= i["id"] <= run.last for i in report["incidents"])


async def test_without_a_drill_route_pages_stay_on_the_console_and_the_replay_says_so_once(
    tmp_path: Path,
    scenario_runs: ScenarioRuns,
    receivers: tuple[Receiver, Documents, Receiver, Documents],
    caplog: pytest.LogCaptureFixture,
) -> None:
    live, live_docs, _, _ = receivers
    recording = scenario_runs.recording(SCENARIO)
    with caplog.at_level(logging.INFO, logger="daemon.drills.delivery"):
        report = await _replay(recording, _config(tmp_path / "console.db", live, None))
    assert live_docs == []
    said = [r for r in caplog.records if "no drill route is configured" in r.getMessage()]
    assert len(said) == 1
    assert report["delivery"]["drill_routes"] == []
    assert "console only" in report["delivery"]["note"]
    assert report["notifications"]
    assert {(n["channel"], n["state"], n["drill"]) for n in report["notifications"]} == {("console", "pending", True)}
