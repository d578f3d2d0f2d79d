"""Binning readings and wind for the source-term estimator."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.estimation_bins import bin_edges, bin_gas, bin_wind, direction_effective_samples


def test_gas_bins_hold_means_gaps_and_saturation() -> None:
    """Means per minute and detector, NaN where nothing came, and full scale flagged."""
    ends = bin_edges(180.0, 60.0, 3)
    assert ends.tolist() == [60.0, 120.0, 180.0]
    times = np.array([10.0, 20.0, 70.0, 130.0, 150.0])
    column = np.array([0, 0, 0, 1, 1])
    ppm = np.array([1.0, 3.0, 5.0, 20.0, 10.0])
    mean, saturated = bin_gas(times, column, ppm, 2, ends, 60.0, np.array([50.0, 20.0]))
    assert mean[0, 0] == pytest.approx(2.0)
    assert mean[1, 0] == pytest.approx(5.0)
    assert np.isnan(mean[2, 0])
    assert np.isnan(mean[0, 1])
    assert mean[2, 1] == pytest.approx(15.0)
    assert saturated[2, 1]
    assert not saturated[:, 0].any()


def test_wind_direction_is_a_vector_mean() -> None:
    """350 and 10 degrees average to north, not south, and the spread is small."""
    ends = bin_edges(60.0, 60.0, 1)
    speed, direction, sd = bin_wind(np.array([10.0, 20.0]), np.array([3.0, 5.0]), np.array([350.0, 10.0]), ends, 60.0)
    assert speed[0] == pytest.approx(4.0)
    assert min(direction[0], 360 - direction[0]) == pytest.approx(0.0, abs=1e-6)
    assert 9.0 < sd[0] < 11.0


def _wander(r: float, n: int, seed: int) -> np.ndarray:
    """n directions about 350 degrees (across north) wandering as an AR(1) series with lag-1 autocorrelation r."""
    rng = np.random.default_rng(seed)
    out = np.empty(n)
    out[0] = rng.normal(0.0, 8.0)
    for i in range(1, n):
        out[i] = r * out[i - 1] + rng.normal(0.0, 8.0 * np.sqrt(1.0 - r**2))
    return (350.0 + out) % 360.0


def test_independent_directions_count_in_full_and_wandering_ones_as_fewer() -> None:
    """Independent directions are worth about their number; a wander with lag-1 autocorrelation 0.8 (a 5-minute
    correlation time sampled once a minute) about n (1 - 0.8) / (1 + 0.8) = n / 9; across north as anywhere."""
    independent = [direction_effective_samples(_wander(0.0, 600, seed)) for seed in range(5)]
    wandering = [direction_effective_samples(_wander(0.8, 600, seed)) for seed in range(5)]
    assert 450.0 < float(np.median(independent)) <= 600.0
    assert 50.0 < float(np.median(wandering)) < 90.0
    assert direction_effective_samples(np.full(15, 90.0)) == 15.0  # no spread: nothing to discount
    assert direction_effective_samples(np.array([10.0, 20.0])) == 2.0
