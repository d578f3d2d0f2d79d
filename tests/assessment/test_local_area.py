"""A release is assessed where it happens: another park's detectors, sources, cells and wind change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.assessment.area import Area
from daemon.assessment.runner import AssessmentRunner
from daemon.assessment.window import Readings
from daemon.chain.pipeline import AlarmFlow
from daemon.drills.scenario import SCENARIO_LIBRARY, load_scenario
from daemon.drills.simulator import Simulator
from daemon.sites.city import city_site
from detectors.kinds import KIND_CODES, Kind
from detectors.source_estimation import SearchGrid
from rules.sensor_table import SensorTable
from rules.site import Site

DEMO_SENSORS = 103  # the demo park's sensors: city_site(2 * 103) is the demo park and a copy 12 km east


def _readings(site: Site, minutes: float) -> tuple[Readings, float]:
    """The Cl2 leak of the shipped scenario on ``site``: every reading of its first ``minutes`` after the release
    starts, and that moment."""
    scenario = load_scenario(SCENARIO_LIBRARY / "cl2-leak-orange.yaml")
    now = scenario.start_unix + 1200.0 + 60.0 * minutes
    parts = []
    for batch, _, first, _, _ in Simulator(scenario, site).batches():
        if first >= now:
            break
        keep = batch.time < now
        parts.append((batch.sensor[keep], batch.time[keep], batch.value[keep], batch.flags[keep]))
    sensor, when, value, flags = (np.concatenate(p) for p in zip(*parts, strict=True))
    return (sensor.astype(np.int32), when, value, flags), now


def _runner(site: Site) -> AssessmentRunner:
    return AssessmentRunner(SensorTable.build(site), AlarmFlow.__new__(AlarmFlow))  # assess() reads no flow state


@pytest.mark.slow
def test_a_second_park_changes_nothing_in_the_first_parks_estimate(demo_site: Site) -> None:
    """The demo park alone, and the same park with a copy of itself 12 km east whose Cl2 detectors read zero and
    whose wind blows from elsewhere: the same source, rate and start, from the first park's detectors only."""
    (sensor, when, value, flags), now = _readings(demo_site, 12)
    alone = _runner(demo_site).assess("Cl2", now, (sensor, when, value, flags))

    city = Site.model_validate(city_site(2 * DEMO_SENSORS))
    runner = _runner(city)
    table = runner.table
    assert len(table) == 2 * DEMO_SENSORS
    demo_ids = [s.id for s in SensorTable.build(demo_site).sensors]
    index = {s.id: i for i, s in enumerate(table.sensors)}
    mine = np.array([index[demo_ids[i]] for i in sensor.tolist()], np.int32)
    # The copy's readings: each of the first park's, on the copy's sensor of the same place in its layout.
    twin = mine + DEMO_SENSORS
    assert all(
        table.sensors[int(t)].id.startswith(demo_ids[int(s)]) for s, t in zip(sensor[:50], twin[:50], strict=True)
    )
    kind = table.kind[twin]
    twin_value = np.where(kind == KIND_CODES[Kind.GAS], 0.0, value)
    wind_dir = kind == KIND_CODES[Kind.WIND_DIRECTION]
    twin_value = np.where(wind_dir, (value + 150.0) % 360.0, twin_value)
    both = (
        np.concatenate([mine, twin]),
        np.concatenate([when, when]),
        np.concatenate([value, twin_value]),
        np.concatenate([flags, flags]),
    )
    together = runner.assess("Cl2", now, both)

    a, b = alone.estimate, together.estimate
    assert a.status is not a.status.NOT_ENOUGH_INFORMATION, a.status
    assert (b.status, b.best_candidate, b.region_candidates) == (a.status, a.best_candidate, a.region_candidates)
    assert b.rate_g_s == pytest.approx(a.rate_g_s, rel=1e-9)
    assert (b.east_m, b.north_m, b.start_s) == pytest.approx((a.east_m, a.north_m, a.start_s), rel=1e-9, abs=1e-6)
    # Judged on the first park's Cl2 detectors alone (the copy's zeros are another place's).
    assert [table.sensors[i].id for i in together.sensors] == [demo_ids[i] for i in alone.sensors]


@pytest.mark.parametrize(
    ("box", "expect_same"),
    [
        ((-1e9, 1e9, -1e9, 1e9), True),
        ((-1000.0, 1000.0, -600.0, 800.0), True),
        ((-250.0, 250.0, -90.0, 650.0), False),
        ((-900.0, 300.0, -500.0, 700.0), False),
        ((5e3, 6e3, 5e3, 6e3), False),
    ],
)
def test_the_area_keeps_the_grid_cells_whose_centres_lie_in_it(
    box: tuple[float, float, float, float], expect_same: bool
) -> None:
    """Clipping keeps the very cells of the whole grid (same lattice) whose centres lie in the box, west and south
    edges included as the grid's own, and gives the grid itself back when the box covers it."""
    grid = SearchGrid(-1000.0, 1000.0, -600.0, 800.0, 200.0)
    area = Area(*box)
    clipped = area.clip(grid)
    assert (clipped is grid) == expect_same
    east, north = grid.centres()
    overlap = (east >= area.east_min) & (east < area.east_max) & (north >= area.north_min) & (north < area.north_max)
    got_e, got_n = clipped.centres()
    np.testing.assert_allclose(np.sort(got_e * 1e4 + got_n), np.sort(east[overlap] * 1e4 + north[overlap]))
