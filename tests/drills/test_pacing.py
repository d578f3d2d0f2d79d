"""``--speed 60``: the recording's clock runs 60 times as fast as the wall's, no faster and no slower."""

from __future__ import annotations

import bisect
from pathlib import Path

import pytest

from daemon.clock import ManualClock, WallClock
from daemon.config import ServiceConfig
from daemon.drills.recording import RecordingReader
from daemon.drills.replay import ReplayOptions, replay_recording
from daemon.site_file import load_site
from tests.drills.conftest import simulate

SPEED = 60.0


def _gap(times: list[float], t: float) -> float:
    """Distance from ``t`` to the nearest of the sorted ``times``."""
    i = bisect.bisect_left(times, t)
    return min(abs(times[j] - t) for j in (i - 1, i) if 0 <= j < len(times))


def _config(db_url: str) -> ServiceConfig:
    config = ServiceConfig()
    config.database.url = db_url
    return config


@pytest.mark.parametrize("columnar", [False, True], ids=["jsonl", "hzc"])
async def test_speed_60_keeps_the_recording_clock_at_sixty_times_an_injected_wall(
    tmp_path: Path, sqlite_url: str, columnar: bool
) -> None:
    """With a manual wall clock that moves only while the replay waits, every wait ends exactly on schedule,
    whichever form the recording has."""
    lines = simulate(tmp_path, "cl2-leak-orange", duration_s=300)
    with RecordingReader(lines) as reader:
        received = sorted({message.received for message in reader})
    recording = simulate(tmp_path, "cl2-leak-orange", duration_s=300, columnar=True) if columnar else lines
    wall = ManualClock(1_000_000.0)
    woke_at: list[float] = []

    async def sleep(seconds: float) -> None:
        wall.advance(seconds)
        woke_at.append(wall.now())

    config = _config(sqlite_url)
    result = await replay_recording(
        recording, config, load_site(config.site_file), ReplayOptions(speed=SPEED), wall=wall, sleep=sleep
    )
    span = result.sim_end - result.sim_start
    assert span > 250
    assert len(woke_at) > 50  # it waited between messages rather than running flat out
    # The wall only moved while the replay waited, so the whole run took exactly the span / 60 (to the slack).
    assert abs(result.wall_seconds - span / SPEED) <= 0.011
    # Each wait ended when something was due, mapped onto the wall at 60x: a message's arrival, the close of the
    # batch it opened (20 ms later, as live), or a timer tick (every second from the start, as live).
    window = config.ingest.batch_max_delay_s
    ticks = [result.sim_start + k * config.alarms.tick_interval_s for k in range(int(span) + 2)]
    due = sorted({*received, *(t + window for t in received), *ticks})
    for woke in woke_at:
        assert _gap(due, result.sim_start + (woke - 1_000_000.0) * SPEED) < 1e-3


@pytest.mark.parametrize("columnar", [False, True], ids=["jsonl", "hzc"])
async def test_speed_60_takes_about_a_sixtieth_of_the_recording_on_the_real_wall(
    tmp_path: Path, sqlite_url: str, columnar: bool
) -> None:
    """Two minutes of recording take about two seconds (generous bounds: a loaded machine only adds time)."""
    recording = simulate(tmp_path, "cl2-leak-orange", duration_s=120, columnar=columnar)
    config = _config(sqlite_url)
    result = await replay_recording(
        recording, config, load_site(config.site_file), ReplayOptions(speed=SPEED), wall=WallClock()
    )
    span = result.sim_end - result.sim_start
    assert span > 100
    assert span / SPEED - 0.05 <= result.wall_seconds <= span / SPEED + 8.0
