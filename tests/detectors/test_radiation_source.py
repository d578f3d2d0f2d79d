"""A gamma point source located from the stations that see it."""

from __future__ import annotations

import numpy as np

from detectors.radiation_source import AIR_MU_PER_M_CS137, MAX_STRENGTH_NSV_H_AT_1M, estimate_gamma_source


def test_point_source_is_inside_the_search_area() -> None:
    """A 2e9 nSv/h-at-1-m source (a strong Cs-137 gauge) 300 m from a ring of stations: the search area holds it,
    the most probable cell is within 200 m, and the strength is within a factor of 2."""
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    st_e, st_n = 800 * np.cos(angles), 800 * np.sin(angles)
    background = np.array([80.0, 95.0, 110.0, 70.0, 90.0, 100.0, 85.0, 120.0])
    true_e, true_n, strength = 300.0, -150.0, 2.0e9
    r = np.hypot(st_e - true_e, st_n - true_n)
    rng = np.random.default_rng(4)
    dose = background + strength * np.exp(-AIR_MU_PER_M_CS137 * r) / r**2
    dose = dose * (1 + 0.03 * rng.standard_normal(8))
    step = 50.0
    ee, nn = np.meshgrid(np.arange(-1000, 1001, step), np.arange(-1000, 1001, step))
    estimate = estimate_gamma_source(st_e, st_n, dose, background, ee.ravel(), nn.ravel(), step)
    assert estimate.stations_seeing >= 2
    assert np.hypot(estimate.east_m - true_e, estimate.north_m - true_n) < 200.0
    assert 0.5 * strength < estimate.strength_nsv_h_at_1m < 2.0 * strength
    near = np.hypot(estimate.area_east_m - true_e, estimate.area_north_m - true_n) <= step
    assert near.any()


def test_background_only_gives_a_wide_area() -> None:
    """Stations at background: nobody sees a source and the search area is most of the grid."""
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    st_e, st_n = 800 * np.cos(angles), 800 * np.sin(angles)
    background = np.full(6, 100.0)
    step = 100.0
    ee, nn = np.meshgrid(np.arange(-1000, 1001, step), np.arange(-1000, 1001, step))
    estimate = estimate_gamma_source(st_e, st_n, background.copy(), background, ee.ravel(), nn.ravel(), step)
    assert estimate.stations_seeing == 0
    assert estimate.area_east_m.shape[0] > 0.5 * ee.size


def test_one_station_rise_is_not_explained_by_an_absurd_far_source() -> None:
    """One station of a ring reads 1,500 nSv/h over its background, the others nothing: no cell's strength exceeds
    the bound, and the search area stays near that station (within a few hundred metres), away from the others."""
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    st_e, st_n = 1500 * np.cos(angles), 1500 * np.sin(angles)
    background = np.full(8, 90.0)
    dose = background.copy()
    dose[0] += 1500.0
    step = 50.0
    ee, nn = np.meshgrid(np.arange(-2500, 2501, step), np.arange(-2500, 2501, step))
    estimate = estimate_gamma_source(st_e, st_n, dose, background, ee.ravel(), nn.ravel(), step)
    assert estimate.stations_seeing == 1
    assert estimate.strength_nsv_h_at_1m <= MAX_STRENGTH_NSV_H_AT_1M
    distance = np.hypot(estimate.area_east_m - st_e[0], estimate.area_north_m - st_n[0])
    assert distance.max() < 1000.0
    others = np.hypot(estimate.area_east_m[:, None] - st_e[None, 1:], estimate.area_north_m[:, None] - st_n[None, 1:])
    assert others.min() > 200.0
