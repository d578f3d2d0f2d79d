"""A backlog of old readings, delivered after an outage, is processed without false alarms."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.chain.build import build_intake
from detectors.readings import FLAG_CLOCK_SKEW, ReadingBatch
from rules.site import Site
from tests.helpers import senml
from tests.seam import Chain


async def test_hour_old_backlog_is_neither_offline_nor_skewed(chain: Chain) -> None:
    """Devices that delivered an hour of buffered readings just now are online, and their clocks are fine."""
    table, pipeline, now = chain.table, chain.pipeline, chain.clock.now()
    gamma = [i for i, s in enumerate(table.sensors) if s.kind.value == "gamma_dose_rate"]
    times = np.arange(now - 3600, now - 1800, 60.0)
    rng = np.random.default_rng(3)
    sensors = np.repeat(np.array(gamma, np.int32), times.shape[0])
    batch = ReadingBatch(
        sensors,
        np.tile(times, len(gamma)),
        90 + 5 * rng.random(sensors.shape[0]),
        np.zeros(sensors.shape[0], np.uint16),
    )
    pipeline.process(batch, now)
    pipeline.tick(now + 1)
    on = pipeline.flow.state.conditions_on
    assert not [key for key in on if key[0] == "quality.offline"]
    assert not [key for key in on if key[0] == "quality.clock_skew"]
    assert not (pipeline.latest_flags[gamma] & FLAG_CLOCK_SKEW).any()
    # Silence from now on is noticed: three report intervals later, the stations are offline.
    pipeline.tick(now + 4 * 60)
    offline = {sensor for condition, sensor in on if condition == "quality.offline"}
    assert offline == set(gamma)


async def test_batch_window_grows_while_readings_arrive_late_and_shrinks_when_they_catch_up(
    chain: Chain, demo_site: Site
) -> None:
    """A backlog is drained in big batches; fresh readings go back to the short window (alarm latency)."""
    config, pipeline, writer, metrics, clock, intake = (
        chain.config,
        chain.pipeline,
        chain.writer,
        chain.metrics,
        chain.clock,
        chain.intake,
    )
    now = clock.now()
    base, late = config.ingest.batch_max_delay_s, config.ingest.batch_max_delay_late_s
    window = metrics.registry.get_sample_value

    def deliver(lateness: float) -> float:
        for device in ("gamma-01", "gamma-02", "gamma-03"):
            payload = senml(device, [("dose_rate", 90.0, "nSv/h")], now - lateness)
            intake.accept(f"hazwatch/{demo_site.site}/{device}", payload, clock.now())
        intake.flush()
        return intake.batch_window

    assert deliver(0.05) == base
    assert deliver(3600.0) == late  # an outage's backlog: as big as allowed
    assert window("hazwatch_ingest_batch_window_seconds") == late
    assert deliver(1.5) == pytest.approx(0.15)  # catching up: a tenth of the lateness
    assert deliver(0.1) == base
    assert window("hazwatch_ingest_batch_window_seconds") == base
    drill = build_intake(config, pipeline, writer, metrics, clock, live=False)
    drill.accept(f"hazwatch/{demo_site.site}/gamma-01", senml("gamma-01", [("dose_rate", 90.0, None)], now - 3600), now)
    drill.flush()
    assert drill.batch_window == base  # replays keep their windows: batch boundaries stay reproducible
