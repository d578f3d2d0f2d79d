"""An update while no detector sees the gas (an alarm's tail): "not enough information" without binning the wind,
the same answer as with it, and the same error when the wind is missing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from daemon.assessment.runner import BIN_S, N_BINS, AssessmentRunner, MissingInputError
from daemon.chain.pipeline import AlarmFlow
from detectors.estimation_bins import bin_edges
from detectors.kinds import KIND_CODES, Kind
from detectors.source_estimation import BinnedWind, EstimateStatus, GasObservations, SearchGrid, estimate_source
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.assessment.test_local_area import _readings


def _quiet_readings(site: Site) -> tuple[tuple[np.ndarray, ...], float]:
    """The shipped Cl2 scenario's readings up to 10 s before its release starts: gas detectors read clean air."""
    return _readings(site, -10.0 / 60.0)


def _same(a: object, b: object) -> bool:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a):
        return bool(np.isnan(b))
    return a == b


@pytest.mark.slow
def test_no_gas_seen_gives_the_estimate_the_binned_wind_would(demo_site: Site) -> None:
    runner = AssessmentRunner(SensorTable.build(demo_site), AlarmFlow.__new__(AlarmFlow))  # assess reads no flow
    (sensor, when, value, flags), now = _quiet_readings(demo_site)
    assessment = runner.assess("Cl2", now, (sensor, when, value, flags))
    estimate = assessment.estimate
    assert estimate.status is EstimateStatus.NOT_ENOUGH_INFORMATION
    assert estimate.detectors_seeing == 0
    assert estimate.detectors_total > 0
    assert all(shape.is_empty for shape in assessment.expected.values())
    assert assessment.plume is None
    assert assessment.receptors == ()

    # What the runner skips: the estimator, given this window's real binned wind or a wind of NaNs, answers the
    # same (it decides from the gas alone when no detector sees it).
    ends = bin_edges(now, BIN_S, N_BINS)
    real = runner._wind(sensor, when, value, ends, now)
    assert np.isfinite(real.speed_m_s).all()
    nowhere = BinnedWind(np.full(N_BINS, np.nan), np.full(N_BINS, np.nan), "F", ends)
    n = len(assessment.sensors)
    obs = GasObservations(
        np.zeros(n), np.linspace(0.0, 500.0, n), ends, BIN_S, np.zeros((N_BINS, n)), np.zeros((N_BINS, n), np.bool_),
        np.full(n, np.inf), np.full(n, 0.05), np.full(n, 0.05),
    )  # fmt: skip
    grid = SearchGrid(-1000.0, 1000.0, -1000.0, 1000.0, 100.0)
    with_wind = estimate_source(obs, real, [], grid, 70.9, now)
    assert _same(with_wind, estimate_source(obs, nowhere, [], grid, 70.9, now))
    assert with_wind.reason == estimate.reason


@pytest.mark.slow
def test_no_gas_seen_and_no_wind_is_still_the_missing_wind_error(demo_site: Site) -> None:
    table = SensorTable.build(demo_site)
    runner = AssessmentRunner(table, AlarmFlow.__new__(AlarmFlow))
    (sensor, when, value, flags), now = _quiet_readings(demo_site)
    vane = table.kind[sensor] == KIND_CODES[Kind.WIND_DIRECTION]
    assert vane.any()
    keep = ~vane
    with pytest.raises(MissingInputError, match="no wind readings"):
        runner.assess("Cl2", now, (sensor[keep], when[keep], value[keep], flags[keep]))
