"""Gaussian plume: known values, symmetry, stability ordering, units, validity range."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.plume import (
    STABILITY_CLASSES,
    Terrain,
    briggs_sigma_y_slope,
    briggs_sigmas,
    g_m3_to_ppm,
    ground_concentration_g_m3,
    local_metres,
    plume_reliable,
)


def test_briggs_open_country_d_at_one_km() -> None:
    """Briggs D, open country, x = 1 km: sigma_y = 0.08x/sqrt(1.1) = 76.3 m, sigma_z = 0.06x/sqrt(2.5) = 37.9 m."""
    sy, sz = briggs_sigmas(1000.0, "D")
    assert sy == pytest.approx(76.28, rel=1e-3)
    assert sz == pytest.approx(37.95, rel=1e-3)


def test_centreline_ground_release_matches_closed_form() -> None:
    """Ground-level release on the centreline: C = Q / (pi u sigma_y sigma_z)."""
    sy, sz = briggs_sigmas(1000.0, "D")
    c = ground_concentration_g_m3([1000.0], [0.0], 100.0, 5.0, 270.0, "D")  # wind from the west: plume goes east
    assert c[0] == pytest.approx(100.0 / (np.pi * 5.0 * sy * sz), rel=1e-9)


def test_upwind_is_zero_and_crosswind_is_symmetric() -> None:
    """Nothing upwind; equal concentrations either side of the axis; less off-axis."""
    c = ground_concentration_g_m3([-500.0, 500.0, 500.0, 500.0], [0.0, 0.0, 80.0, -80.0], 10.0, 3.0, 270.0, "C")
    assert c[0] == 0.0
    assert c[2] == pytest.approx(c[3])
    assert c[1] > c[2] > 0


def test_stable_air_carries_ground_release_further() -> None:
    """For a ground release 2 km downwind, F > E > D > C > B > A (less mixing, higher concentration)."""
    c = [ground_concentration_g_m3([2000.0], [0.0], 1.0, 2.0, 270.0, s)[0] for s in STABILITY_CLASSES]
    assert c == sorted(c)
    assert c[-1] > 10 * c[0]


def test_urban_terrain_dilutes_more() -> None:
    """Urban roughness spreads the plume: lower centreline concentration than open country."""
    open_c = ground_concentration_g_m3([1000.0], [0.0], 1.0, 4.0, 270.0, "D")[0]
    urban_c = ground_concentration_g_m3([1000.0], [0.0], 1.0, 4.0, 270.0, "D", terrain=Terrain.URBAN)[0]
    assert urban_c < open_c


def test_elevated_release_has_lower_ground_concentration_nearby() -> None:
    """A 50 m stack gives far less at 200 m than a ground release."""
    ground = ground_concentration_g_m3([200.0], [0.0], 1.0, 4.0, 270.0, "D")[0]
    stack = ground_concentration_g_m3([200.0], [0.0], 1.0, 4.0, 270.0, "D", release_height_m=50.0)[0]
    assert stack < ground / 10


def test_wind_direction_convention() -> None:
    """Wind *from* the north carries the plume south."""
    c = ground_concentration_g_m3([0.0, 0.0], [-1000.0, 1000.0], 1.0, 4.0, 0.0, "D")
    assert c[0] > 0
    assert c[1] == 0


def test_ppm_conversion_and_local_metres() -> None:
    """1 mg/m3 of Cl2 is 24.45/70.9 ppm; 0.001 deg of latitude is about 111 m."""
    assert g_m3_to_ppm(1e-3, 70.90) == pytest.approx(24.45 / 70.90)
    east, north = local_metres(31.901, 121.1, 31.9, 121.1)
    assert north == pytest.approx(111.2, rel=1e-2)
    assert east == pytest.approx(0.0)


def test_validity_range_and_errors() -> None:
    """Below 1.5 m/s or within 100 m the model is flagged unreliable; calm wind or unknown classes are errors."""
    assert plume_reliable([1.0, 1.5, 3.0], [500.0, 500.0, 50.0]).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="wind"):
        ground_concentration_g_m3([100.0], [0.0], 1.0, 0.0, 270.0, "D")
    with pytest.raises(ValueError, match="stability"):
        briggs_sigmas(100.0, "G")


@pytest.mark.parametrize("terrain", list(Terrain))
@pytest.mark.parametrize("stability", STABILITY_CLASSES)
def test_sigma_y_grows_no_faster_than_its_initial_slope(stability: str, terrain: Terrain) -> None:
    """sigma_y / x never exceeds the slope at the source (the zones' flank cut relies on it)."""
    x = np.geomspace(1.0, 100_000.0, 200)
    sigma_y, _ = briggs_sigmas(x, stability, terrain)
    slope = briggs_sigma_y_slope(stability, terrain)
    assert (sigma_y / x <= slope).all()
    assert sigma_y[0] / x[0] == pytest.approx(slope, rel=1e-3)
