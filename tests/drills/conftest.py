"""Drill test fixtures: simulate a shipped scenario (optionally shortened) and replay it into a fresh SQLite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.clock import WallClock
from daemon.config import ServiceConfig
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.drills.report import build_report
from daemon.drills.scenario import SCENARIO_LIBRARY, load_scenario
from daemon.drills.simulate_output import write_columnar, write_jsonl
from daemon.drills.simulator import Simulator
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from rules.sensor_table import SensorTable

Drill = Callable[..., Awaitable[dict[str, Any]]]


def simulate(tmp_path: Path, name: str, *, duration_s: float | None = None, columnar: bool = False) -> Path:
    """Write a shipped scenario as a recording in ``tmp_path``."""
    scenario = load_scenario(SCENARIO_LIBRARY / f"{name}.yaml")
    if duration_s is not None:
        scenario = scenario.model_copy(update={"duration_s": duration_s})
    simulator = Simulator(scenario, load_site(scenario.site_file))
    path = tmp_path / (f"{name}.hzc" if columnar else f"{name}.jsonl")
    (write_columnar if columnar else write_jsonl)(simulator, path)
    return path


async def replay_and_report(recording: Path, db_url: str, **options: Any) -> dict[str, Any]:
    """Replay a recording as a drill into ``db_url`` and build its report."""
    config = ServiceConfig()
    config.database.url = db_url
    site = load_site(config.site_file)
    result = await replay_recording(recording, config, site, ReplayOptions(**options), wall=WallClock())
    engine = create_engine(db_url)
    try:
        kinds = {s.id: s.kind.value for s in SensorTable.build(site).sensors}
        return await build_report(engine, result, kinds)
    finally:
        await engine.dispose()


@pytest.fixture
def drill(tmp_path: Path) -> Drill:
    """``await drill(name, duration_s=...)``: simulate a shipped scenario and replay it into a fresh database."""

    async def run(name: str, *, duration_s: float | None = None, columnar: bool = False) -> dict[str, Any]:
        recording = simulate(tmp_path, name, duration_s=duration_s, columnar=columnar)
        return await replay_and_report(recording, f"sqlite:///{tmp_path / (name + '.db')}")

    return run
