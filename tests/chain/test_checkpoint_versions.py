"""A checkpoint written by an older version is refused at load, not half-loaded.

Pickle restores an object's attributes as they were saved: state saved before a detector gained a field (the gamma
detector's rain rate, say) loads into the new class without that field and fails only at the first reading that
needs it, so after an upgrade the service would stop judging gamma. The load finds the missing field and starts
fresh instead, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from daemon.chain import checkpoint
from daemon.chain.build import AlarmSetup, build_pipeline, fresh_state
from daemon.chain.checkpoint import save
from daemon.chain.flow_state import Episode, FlowState
from daemon.chain.pipeline import Pipeline
from daemon.clock import ManualClock
from daemon.config import AlarmConfig
from daemon.metrics.instruments import Metrics
from daemon.store.engine import create_engine, migrate
from daemon.store.writer import StoreWriter
from detectors.readings import ReadingBatch
from detectors.substances import SUBSTANCES
from rules.book import FloodDetector
from rules.sensor_table import SensorTable
from rules.site import Site


def test_a_fresh_state_lacks_no_field() -> None:
    assert checkpoint.missing_fields({"x": [1, 2.0, "a"]}) == []


async def test_state_saved_without_a_field_its_class_now_declares_is_not_resumed(
    sqlite_url: str, demo_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    async with _chain(sqlite_url, demo_site) as (table, setup, writer, clock, build):
        pipeline = await build()
        cl2 = table.index["gas-n01-cl2"]
        high = 6 * SUBSTANCES["Cl2"].occupational_limit_ppm
        pipeline.process(ReadingBatch.from_lists([cl2] * 2, [100.0, 120.0], [high, high]), clock.now())
        assert pipeline.flow.state.episodes  # an alarm is active: there is state worth resuming
        configuration = setup.checkpoint_configuration(table, pipeline.detector.config)
        save(pipeline, configuration, writer, clock.now())
        await writer.flush()
        assert checkpoint.missing_fields((pipeline.detector, pipeline.flow.state)) == []
        resumed = await build()
        assert set(resumed.flow.state.episodes) == set(pipeline.flow.state.episodes)  # same version: resumed

        # As an older version saved it: its gamma detector had no rain-rate field yet.
        del pipeline.detector.gamma.wet_rate
        save(pipeline, configuration, writer, clock.now())
        await writer.flush()
        with caplog.at_level(logging.WARNING, logger="daemon.chain.checkpoint"):
            fresh = await build()
        assert "detectors.gamma.GammaDetector.wet_rate" in caplog.text
        assert "starting with fresh alarm state" in caplog.text
        assert hasattr(fresh.detector.gamma, "wet_rate")
        assert not fresh.flow.state.episodes


async def test_a_checkpoint_names_the_configuration_and_resumes_the_same_state(
    sqlite_url: str, demo_site: Site
) -> None:
    """The site, rules, plan, roster, sensor table and detector tables are not copied into a checkpoint (at 10,000
    sensors copying them cost half a second of the event loop per checkpoint): the resumed state refers to the
    running configuration's own objects, and every value in it, carried or made again from the configuration, is
    the one saved."""
    async with _chain(sqlite_url, demo_site) as (table, setup, writer, clock, build):
        pipeline = await build()
        cl2 = table.index["gas-n01-cl2"]
        gamma = next(i for i, s in enumerate(table.sensors) if s.kind == "gamma_dose_rate")
        high = 6 * SUBSTANCES["Cl2"].occupational_limit_ppm
        pipeline.process(
            ReadingBatch.from_lists([cl2, cl2, gamma], [100.0, 120.0, 120.0], [high, high, 90.0]), clock.now()
        )
        saved = pipeline.flow.state
        assert saved.episodes
        configuration = setup.checkpoint_configuration(table, pipeline.detector.config)
        save(pipeline, configuration, writer, clock.now())
        await writer.flush()

        resumed = await build()
        state = resumed.flow.state
        assert state.rules.table is table
        assert state.book.table is table
        assert state.incidents.table is table
        assert state.rules.rules is setup.rules
        assert state.incidents.plan is setup.plan
        assert _differences((resumed.detector, state), (pipeline.detector, saved), "") == []


def test_a_checkpoint_naming_the_old_module_of_the_flow_state_loads(demo_site: Site) -> None:
    """``FlowState`` and ``Episode`` lived in ``daemon.chain.alarm_flow`` (gone now): such a checkpoint loads."""
    table = SensorTable.build(demo_site)
    setup = AlarmSetup.load(AlarmConfig())
    state = fresh_state(table, setup, drill=False)[1]
    state.episodes["a"] = Episode(7, "high")
    configuration = setup.checkpoint_configuration(table, table.core_config())
    new, old = b"daemon.chain.flow_state", b"daemon.chain.alarm_flow"  # the same length: the pickle stays well formed
    data = configuration.dumps(state)
    assert data.count(new) == 1  # the module is written once and referred to by memo after
    loaded = configuration.loads(data.replace(new, old))
    assert type(loaded) is FlowState
    assert loaded.episodes == {"a": Episode(7, "high")}


def test_a_checkpoint_naming_the_old_module_of_the_flood_detector_loads(
    demo_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FloodDetector`` lived in ``rules.flood`` (gone now, merged into ``rules.book``): such a checkpoint loads."""
    table = SensorTable.build(demo_site)
    setup = AlarmSetup.load(AlarmConfig())
    state = fresh_state(table, setup, drill=False)[1]
    state.book.flood.add(5.0)
    configuration = setup.checkpoint_configuration(table, table.core_config())
    old = types.ModuleType("rules.flood")
    old.FloodDetector = FloodDetector  # type: ignore[attr-defined]
    with monkeypatch.context() as patch:  # pickle names the class where its __module__ says it lives
        patch.setitem(sys.modules, "rules.flood", old)
        patch.setattr(FloodDetector, "__module__", "rules.flood")
        data = configuration.dumps(state)
    assert b"rules.flood" in data
    loaded = configuration.loads(data)
    assert type(loaded.book.flood) is FloodDetector
    assert list(loaded.book.flood.times) == [5.0]


@contextlib.asynccontextmanager
async def _chain(
    url: str, site: Site
) -> AsyncIterator[tuple[SensorTable, AlarmSetup, StoreWriter, ManualClock, Callable[[], Awaitable[Pipeline]]]]:
    """A database, a running writer and a way to build (or resume) the live chain on them."""
    table = SensorTable.build(site)
    metrics = Metrics(CollectorRegistry())
    setup = AlarmSetup.load(AlarmConfig())
    clock = ManualClock(10_000.0)
    engine = create_engine(url)
    await migrate(engine)
    writer = StoreWriter(engine, [s.id for s in table.sensors], metrics)
    task = asyncio.create_task(writer.run())

    async def build() -> Pipeline:
        return await build_pipeline(engine, table, setup, writer, metrics, clock, drill=False)

    try:
        yield table, setup, writer, clock, build
    finally:
        writer.close()
        await task
        await engine.dispose()


def _differences(got: object, want: object, path: str) -> list[str]:
    """Where two object graphs differ (arrays and floats compared with NaN equal to NaN)."""
    if got is want:
        return []
    if type(got) is not type(want):
        return [f"{path}: {type(got).__name__} vs {type(want).__name__}"]
    if isinstance(got, np.ndarray):
        assert isinstance(want, np.ndarray)
        same = got.shape == want.shape and np.array_equal(got, want, equal_nan=got.dtype.kind in "fc")
        return [] if same else [f"{path}: arrays differ"]
    if isinstance(got, float):
        assert isinstance(want, float)
        return [] if got == want or (math.isnan(got) and math.isnan(want)) else [f"{path}: {got} vs {want}"]
    if isinstance(got, dict):
        assert isinstance(want, dict)
        if list(got) != list(want):
            return [f"{path}: keys differ"]
        return [d for k in got for d in _differences(got[k], want[k], f"{path}[{k!r}]")]
    if isinstance(got, list | tuple):
        assert isinstance(want, list | tuple)
        if len(got) != len(want):
            return [f"{path}: lengths differ"]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in _differences(g, w, f"{path}[{i}]")]
    if dataclasses.is_dataclass(got):
        return _differences(_fields(got), _fields(want), path)
    if hasattr(got, "__dict__") and not callable(got):
        return _differences(vars(got), vars(want), path)
    return [] if got == want else [f"{path}: {got!r} vs {want!r}"]


def _fields(obj: Any) -> dict[str, object]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if hasattr(obj, f.name)}
