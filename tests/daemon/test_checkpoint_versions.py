"""A checkpoint written by an older version is refused at load, not half-loaded.

Pickle restores an object's attributes as they were saved: state saved before a detector gained a field (the gamma
detector's rain rate, say) loads into the new class without that field and fails only at the first reading that
needs it, so after an upgrade the service would stop judging gamma. The load finds the missing field and starts
fresh instead, saying why.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from daemon.chain import checkpoint
from daemon.chain.build import AlarmSetup, build_pipeline, save
from daemon.clock import ManualClock
from daemon.config import AlarmConfig
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.writer import StoreWriter
from detectors.readings import ReadingBatch
from detectors.substances import SUBSTANCES
from rules.sensor_table import SensorTable
from rules.site import Site


def test_a_fresh_state_lacks_no_field() -> None:
    assert checkpoint.missing_fields({"x": [1, 2.0, "a"]}) == []


async def test_state_saved_without_a_field_its_class_now_declares_is_not_resumed(
    sqlite_url: str, demo_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    table = SensorTable.build(demo_site)
    metrics = Metrics(CollectorRegistry())
    setup = AlarmSetup.load(AlarmConfig())
    clock = ManualClock(10_000.0)
    engine = create_engine(sqlite_url)
    await migrate(engine)
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
    task = asyncio.create_task(writer.run())
    try:
        pipeline = await build_pipeline(engine, table, setup, writer, metrics, clock, drill=False)
        cl2 = table.index["gas-n01-cl2"]
        high = 6 * SUBSTANCES["Cl2"].occupational_limit_ppm
        pipeline.process(ReadingBatch.from_lists([cl2] * 2, [100.0, 120.0], [high, high]))
        assert pipeline.flow.state.episodes  # an alarm is active: there is state worth resuming
        save(pipeline, setup, writer, clock.now())
        await writer.flush()
        assert checkpoint.missing_fields((pipeline.detector, pipeline.flow.state)) == []
        resumed = await build_pipeline(engine, table, setup, writer, metrics, clock, drill=False)
        assert set(resumed.flow.state.episodes) == set(pipeline.flow.state.episodes)  # same version: resumed

        # As an older version saved it: its gamma detector had no rain-rate field yet.
        del pipeline.detector.gamma.wet_rate
        save(pipeline, setup, writer, clock.now())
        await writer.flush()
        with caplog.at_level(logging.WARNING, logger="daemon.chain.checkpoint"):
            fresh = await build_pipeline(engine, table, setup, writer, metrics, clock, drill=False)
        assert "detectors.gamma.GammaDetector.wet_rate" in caplog.text
        assert "starting with fresh alarm state" in caplog.text
        assert hasattr(fresh.detector.gamma, "wet_rate")
        assert not fresh.flow.state.episodes
    finally:
        writer.close()
        await task
        await engine.dispose()
