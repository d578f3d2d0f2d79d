"""SensorTable.core_config() turns the demo site into a working detection-core configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from detectors.config import GAMMA, LATITUDE, LONGITUDE, RAIN, SOURCE_DOSE, SUBSTANCE_ORDER
from detectors.core import DetectionCore
from detectors.readings import ReadingBatch
from rules.sensor_table import SensorTable
from rules.site import Site

DEMO = Path(__file__).parents[2] / "daemon" / "sites" / "demo-park.yaml"


def _table() -> SensorTable:
    return SensorTable.build(Site.model_validate(yaml.safe_load(DEMO.read_text())))


def test_demo_site_config() -> None:
    """Gases get their substance limits, gamma stations a rain gauge and neighbours, sources baselines and fences."""
    table = _table()
    config = table.core_config()
    assert config.n_sensors == len(table)
    cl2 = table.index["gas-n01-cl2"]
    assert SUBSTANCE_ORDER[config.substance[cl2]] == "Cl2"
    assert config.gas_level1[cl2] == np.float64(1.0 * 24.45 / 70.90)
    # AEGL-1, -2, -3 at 10 / 30 / 60 min, 4 h, 8 h (US EPA final AEGLs for chlorine).
    assert config.gas_aegl[cl2].tolist() == [
        *[0.5] * 5,
        *[2.8, 2.8, 2.0, 1.0, 0.71],
        *[50.0, 28.0, 20.0, 10.0, 7.1],
    ]
    gamma = np.flatnonzero(config.kind == GAMMA)
    assert (config.kind[config.rain_sensor[gamma]] == RAIN).all()
    # Every gauge within the rain radius, the nearest first (demo stations have no rain sensor of their own).
    gauges = [config.rain_gauge_index[config.rain_gauge_offsets[i] : config.rain_gauge_offsets[i + 1]] for i in gamma]
    assert all(g.shape[0] >= 1 and g[0] == config.rain_sensor[i] for g, i in zip(gauges, gamma, strict=True))
    assert all((config.kind[g] == RAIN).all() for g in gauges)
    assert (np.diff(config.neighbour_offsets)[gamma] > 0).all()
    dose = np.flatnonzero(config.kind == SOURCE_DOSE)
    assert np.isfinite(config.source_missing_level[dose]).all()
    cam = table.index["src-cam-01-dose"]
    assert config.source_missing_level[cam] == max(100 + 3 * 15, 0.2 * 1500.0)
    cam_device = config.device[cam]
    assert config.device_first_sensor[cam_device] == cam
    assert config.geofence_radius_m[cam_device] == 600.0
    assert config.device_is_source[cam_device]


def test_demo_site_runs_quietly_on_ordinary_readings() -> None:
    """An hour of ordinary readings at every channel raises no hazard condition."""
    table = _table()
    config = table.core_config()
    core = DetectionCore(config)
    rng = np.random.default_rng(0)
    n = len(table)
    kinds = config.kind
    typical = np.array([100.0, 400.0, 0.0, 3.0, 180.0, 0.0, 15.0, 12.6, 1.0, 0.0, 0.0, 0.0, 1.0])
    spread = np.array([5.0, 10.0, 0.0, 0.5, 20.0, 0.0, 0.3, 0.02, 0.0, 0.0, 0.0, 0.0, 0.1])
    hazard = set()
    for step in range(60):
        value = typical[kinds] + spread[kinds] * rng.standard_normal(n)
        # Mobile sources sit at their fence centre; fixed positions are the device positions.
        lat_kind, lon_kind = kinds == LATITUDE, kinds == LONGITUDE
        value[lat_kind] = config.lat[lat_kind]
        value[lon_kind] = config.lon[lon_kind]
        baseline = np.isfinite(config.source_baseline)
        value[baseline] = config.source_baseline[baseline] * (1 + 0.02 * rng.standard_normal(int(baseline.sum())))
        batch = ReadingBatch(
            np.arange(n, dtype=np.int32), np.full(n, 1.75e9 + 60 * step), value, np.zeros(n, np.uint16)
        )
        for events in core.process(batch).conditions:
            if not events.condition.startswith("quality."):
                hazard.add(events.condition)
    assert hazard == set()


def test_the_rain_rate_at_a_gamma_station_comes_from_a_weather_station_within_2_km_only() -> None:
    """Demo park: gamma-07 is 0.95 km from weather station wx-03, whose rain rate stands for the rain there (the
    washout ceiling scales with it); gamma-01's nearest weather station is 2.5 km off, so the rate at gamma-01 is
    unknown (-1) although wx-01's gauge still tells it whether it rains."""
    table = _table()
    config = table.core_config()
    assert config.rain_rate_sensor[table.index["gamma-07-dose"]] == table.index["wx-03-rain"]
    gamma_01 = table.index["gamma-01-dose"]
    assert config.rain_rate_sensor[gamma_01] == -1
    assert config.rain_sensor[gamma_01] == table.index["wx-01-rain"]
    gamma = np.flatnonzero(config.kind == GAMMA)
    rated = config.rain_rate_sensor[gamma]
    assert (config.kind[rated[rated >= 0]] == RAIN).all()
    assert (config.rain_rate_sensor[config.kind != GAMMA] == -1).all()
