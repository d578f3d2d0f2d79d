"""Zones and receptor probabilities drawn from the posterior mixture (places x rates x wind direction)."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point, box

from daemon.assessment.mixture_zones import (
    MixtureWind,
    ZoneRaster,
    _exceedance,
    assess_receptor_mixture,
    assess_receptors_mixture,
    exceedance,
    probability_zones,
    reach_probability,
    receptor_points,
    unit_fields,
)
from daemon.assessment.threat_zones import PlumeState, ReceptorArea, concentration_ppm, footprint, zone_levels
from detectors.source_estimation import Hypothesis
from detectors.substances import SUBSTANCES

CL2 = SUBSTANCES["Cl2"]
NOW = 1_800_000_000.0
WIND = MixtureWind(3.0, 180.0, 0.0, "D", CL2.molar_mass_g_mol)  # from the south: plumes go north
RATES = np.geomspace(1.0, 10_000.0, 41)


def place(east: float, probability: float, rate: float) -> Hypothesis:
    """A place holding ``probability`` with all of its rate posterior on the grid value nearest ``rate``."""
    weights = np.zeros_like(RATES)
    weights[int(np.argmin(np.abs(np.log(RATES / rate))))] = 1.0
    return Hypothesis(None, east, 0.0, 2.0, probability, RATES, weights, NOW - 600.0)


def test_one_place_with_a_known_rate_gives_its_plume_zone() -> None:
    """A single place with a sharp rate: the probability is 1 where its plume exceeds the level and 0 elsewhere
    (the direction spread, floored at 5 degrees, only blurs the edges)."""
    h = place(0.0, 1.0, 316.2)
    rate = float(RATES[h.rate_weights.argmax()])
    north = np.array([300.0, 800.0, 20_000.0])
    p = exceedance((h,), WIND, 2.0, np.zeros(3), north, NOW)
    plume = PlumeState(0.0, 0.0, 2.0, rate, 3.0, 180.0, "D", CL2.molar_mass_g_mol, 600.0)
    assert concentration_ppm(plume, np.zeros(1), north[:1])[0] > 2.0
    assert p[0] == pytest.approx(1.0)
    assert p[2] == 0.0  # beyond the hour's reach
    assert exceedance((h,), WIND, 2.0, np.array([0.0]), np.array([-500.0]), NOW)[0] == 0.0  # upwind


def test_two_places_split_the_expected_and_possible_zones() -> None:
    """60 % on a place in the west, 40 % on one 1.5 km east: the 50 % zone covers only the west plume, the 5 %
    zone both; a receptor in the east plume is 'possible', not 'expected', with probability near 0.4."""
    west, east = place(-750.0, 0.6, 300.0), place(750.0, 0.4, 300.0)
    expected, possible = probability_zones((west, east), WIND, 2.0, NOW)
    assert expected.contains(Point(-750.0, 500.0))
    assert not expected.contains(Point(750.0, 500.0))
    assert possible.contains(Point(750.0, 500.0))
    assert possible.contains(Point(-750.0, 500.0))
    school = ReceptorArea("s", "School", "school", box(700.0, 450.0, 800.0, 550.0), 300, 1.0, 20.0)
    levels = zone_levels(CL2)
    impact = assess_receptor_mixture(school, (west, east), WIND, levels, {"AEGL-1": expected}, NOW)
    assert impact.zone_probability["AEGL-2"] == pytest.approx(0.4, abs=0.02)
    assert impact.expected_zone is None or impact.expected_zone == "AEGL-1"
    assert impact.possible_zone in ("AEGL-3", "AEGL-2")
    assert impact.people_by_zone.get("AEGL-2", 0) == 0


def test_an_open_rate_spreads_the_probability() -> None:
    """One place whose rate is uniform over four decades: the 50 % zone is the plume at the median rate, and a
    point that only the top decade reaches has a probability of at most a quarter, not 0 or 1."""
    weights = np.full_like(RATES, 1.0 / RATES.shape[0])
    h = Hypothesis(None, 0.0, 0.0, 2.0, 1.0, RATES, weights, NOW - 600.0)
    plume = PlumeState(0.0, 0.0, 2.0, 1.0, 3.0, 180.0, "D", CL2.molar_mass_g_mol, 600.0)
    north = np.linspace(200.0, 5000.0, 40)
    unit = concentration_ppm(plume, np.zeros_like(north), north)
    needed = 2.0 / unit
    # The point where exceeding needs >= 1000 g/s: only the top quarter of the log-uniform grid gets there.
    i = int(np.argmin(np.abs(needed - 1000.0)))
    p = exceedance((h,), WIND, 2.0, np.zeros(1), north[i : i + 1], NOW)[0]
    share = float(weights[needed[i] < RATES].sum())
    # The wind-direction spread can only take probability away from a centreline point, at most to the centre
    # direction's share.
    assert 0.25 * share < p <= share + 1e-9
    assert 0.1 < p < 0.4


def test_a_thin_tail_of_huge_rates_does_not_coarsen_the_expected_zone() -> None:
    """All but 1e-5 of the rate posterior at ~300 g/s, the rest at 10 kg/s (the estimator's grids reach 30 kg/s).
    The raster once spanned what the largest rate with any weight could reach (tens of km, cells of ~300 m, wider
    than the plume 1 km out), and the expected zone of a located release came out empty (cl2 release e2e test)."""
    weights = np.zeros_like(RATES)
    weights[int(np.argmin(np.abs(np.log(RATES / 300.0))))] = 1.0 - 1e-5
    weights[-1] = 1e-5
    h = Hypothesis(None, 0.0, 0.0, 2.0, 1.0, RATES, weights, NOW - 600.0)
    expected, _ = probability_zones((h,), WIND, 2.0, NOW)
    assert expected.contains(Point(0.0, 500.0))


def test_a_wide_receptor_is_reached_more_surely_than_any_one_of_its_points() -> None:
    """With the wind direction uncertain (sd 8 degrees), a 600 m wide estate 1 km downwind is inside the zone for
    most directions, each through a different part of it: the probability that the zone reaches it is that, not the
    largest probability of any single point (which counts only the directions through that point)."""
    wind = MixtureWind(3.0, 180.0, 8.0, "D", CL2.molar_mass_g_mol)
    h = place(0.0, 1.0, 300.0)
    estate = ReceptorArea("e", "Estate", "residential", box(-300.0, 1000.0, 300.0, 1300.0), 2000, 0.5, 30.0)
    levels = zone_levels(CL2)
    impact = assess_receptor_mixture(estate, (h,), wind, levels, {"AEGL-1": box(0, 0, 1, 1)}, NOW)
    east, north = receptor_points(estate.outline)
    per_point = float(exceedance((h,), wind, levels[1].ppm, east, north, NOW).max())
    assert levels[1].name == "AEGL-2"
    assert impact.zone_probability["AEGL-2"] > per_point + 0.1
    assert impact.zone_probability["AEGL-2"] > 0.9


def test_receptors_assessed_together_get_what_each_gets_alone() -> None:
    """The plume is evaluated once on every receptor's points together: each receptor's share (its highest value,
    its mean exceedance, its median peak) must be its own points', whatever their number and order."""
    wind = MixtureWind(3.0, 180.0, 8.0, "D", CL2.molar_mass_g_mol)
    west, east = place(-750.0, 0.6, 300.0), place(750.0, 0.4, 300.0)
    receptors = [
        ReceptorArea("a", "Upwind", "school", box(-100.0, -900.0, 100.0, -700.0), 300, 1.0, 20.0),
        ReceptorArea("b", "Estate", "residential", box(-1100.0, 800.0, -400.0, 1300.0), 2000, 0.5, 30.0),
        ReceptorArea("c", "Small", "hospital", box(740.0, 600.0, 760.0, 620.0), 150, 0.5, 120.0),
        ReceptorArea("d", "Far", "workplace", Point(0.0, 15_000.0).buffer(400.0), 800, 1.0, 20.0),
    ]
    levels = zone_levels(CL2)
    expected = {"AEGL-1": probability_zones((west, east), wind, levels[-1].ppm, NOW)[0]}
    together = assess_receptors_mixture(receptors, (west, east), wind, levels, expected, NOW)
    alone = [assess_receptor_mixture(r, (west, east), wind, levels, expected, NOW) for r in receptors]
    assert together == alone
    assert {r.id for r in together if r.possible_zone} == {"b", "c"}  # the comparison covers reached and missed
    assert reach_probability((), wind, 2.0, np.zeros(3), np.ones(3), NOW) == 0.0  # no place: nothing reaches


@pytest.mark.parametrize("n_points", [7, 5_000])
def test_unit_fields_are_the_plume_of_each_place_and_direction(n_points: int) -> None:
    """The fields computed for every (place, direction) at once equal ``concentration_ppm`` of each one's plume
    (places at different heights and ages, points around and beyond the cloud's reach, few or many points)."""
    rng = np.random.default_rng(3)
    places = tuple(
        Hypothesis(None, float(e), float(n), 2.0 + i, 0.25, RATES, np.full(RATES.shape, 1 / 41), NOW - 300.0 * (i + 1))
        for i, (e, n) in enumerate(rng.uniform(-800.0, 800.0, (4, 2)))
    )
    wind = MixtureWind(2.5, 230.0, 9.0, "E", CL2.molar_mass_g_mol)
    east, north = rng.uniform(-20_000.0, 20_000.0, (2, n_points))
    fields = unit_fields(places, wind, east, north, NOW)
    assert len(fields) == 4 * 7
    assert sum(f.direction_weight for f in fields) == pytest.approx(4.0)
    for index, field in enumerate(fields):
        h = places[index // 7]
        assert field.hypothesis is h
        offset = float(np.linspace(-2.0, 2.0, 7)[index % 7]) * 9.0  # +-2 sd on seven directions
        plume = PlumeState(
            h.east_m, h.north_m, h.height_m, 1.0, 2.5, 230.0 + offset, "E", CL2.molar_mass_g_mol, NOW - h.start_s
        )
        np.testing.assert_array_equal(field.ppm_per_g_s, concentration_ppm(plume, east, north))
    assert any((f.ppm_per_g_s > 0).any() for f in fields)
    assert any((f.ppm_per_g_s == 0).any() for f in fields)


def test_a_tail_above_five_percent_does_not_coarsen_the_expected_zone() -> None:
    """90 % of the rate posterior at ~300 g/s and 10 % at 10 kg/s (a class-uncertain posterior's upper tail): the
    possible zone reaches tens of km, and a raster over that box has cells of ~250 m. The expected zone gets its
    own raster over what it can reach, so it is the 300 g/s plume's footprint (in the shared raster it came out a
    few coarse cells or empty)."""
    weights = np.zeros_like(RATES)
    weights[int(np.argmin(np.abs(np.log(RATES / 300.0))))] = 0.9
    weights[-1] = 0.1
    h = Hypothesis(None, 0.0, 0.0, 2.0, 1.0, RATES, weights, NOW - 600.0)
    narrow = MixtureWind(3.0, 180.0, 0.0, "E", CL2.molar_mass_g_mol)
    expected, possible = probability_zones((h,), narrow, 2.0, NOW)
    rate = float(RATES[int(np.argmin(np.abs(np.log(RATES / 300.0))))])
    plume = PlumeState(0.0, 0.0, 2.0, rate, 3.0, 180.0, "E", CL2.molar_mass_g_mol, 600.0)
    truth = footprint(plume, 2.0)
    assert possible.bounds[3] - possible.bounds[1] > 10_000.0  # the tail's reach
    assert expected.contains(Point(0.0, 500.0))
    assert expected.symmetric_difference(truth).area < 0.35 * truth.area


def test_a_light_place_with_a_huge_rate_does_not_coarsen_the_expected_zone() -> None:
    """92 % of the posterior on a place at ~300 g/s, 8 % on a place 1 km east at 10 kg/s (a far free-search cell
    that only a huge rate would fit). The light place cannot bring any point to 50 %, but its own median rate
    reaches the cloud's whole hour of travel: a raster over that box had cells wider than the heavy place's
    plume, and its expected zone came out coarse or empty (the Cl2 drill once the rate posteriors carried the
    wind's uncertainty). The expected zone is the heavy place's footprint."""
    heavy, light = place(0.0, 0.92, 300.0), place(1000.0, 0.08, 10_000.0)
    narrow = MixtureWind(3.0, 180.0, 0.0, "E", CL2.molar_mass_g_mol)
    expected, possible = probability_zones((heavy, light), narrow, 2.0, NOW)
    assert possible.contains(Point(1000.0, 3000.0))  # the light place is only possible
    assert not expected.contains(Point(1000.0, 3000.0))
    # The expected zone on a 10-m raster over the heavy place's footprint: P >= 50 % there, cell by cell.
    rate = float(RATES[heavy.rate_weights.argmax()])
    west, south, east, north = footprint(
        PlumeState(0.0, 0.0, 2.0, rate, 3.0, 180.0, "E", CL2.molar_mass_g_mol, 600.0), 2.0
    ).bounds
    ee, nn = np.meshgrid(np.arange(west - 50.0, east + 50.0, 10.0), np.arange(south - 50.0, north + 50.0, 10.0))
    fine = exceedance((heavy, light), narrow, 2.0, ee.ravel(), nn.ravel(), NOW) >= 0.5
    assert fine.sum() * 100.0 == pytest.approx(expected.area, rel=0.25)
    assert all(expected.contains(Point(0.0, n)) for n in (300.0, 1000.0))


@pytest.mark.parametrize("stability", ["A", "D", "F"])
def test_the_flank_cut_changes_no_probability(stability: str) -> None:
    """Leaving points more than ten sigma_y off each plume's axis at zero gives the same exceedance, bit for bit,
    as computing them (on a raster around two places with wide rate posteriors up to the grid's top)."""
    places = (
        Hypothesis(None, 0.0, 0.0, 2.0, 0.7, RATES, np.full(RATES.shape, 1 / 41), NOW - 600.0),
        Hypothesis(None, 400.0, -200.0, 5.0, 0.3, RATES, np.full(RATES.shape, 1 / 41), NOW - 1200.0),
    )
    wind = MixtureWind(2.0, 200.0, 6.0, stability, CL2.molar_mass_g_mol)
    ee, nn = np.meshgrid(np.linspace(-6000.0, 6000.0, 90), np.linspace(-6000.0, 6000.0, 90))
    east, north = ee.ravel(), nn.ravel()
    for level in (0.5, 20.0):
        cut = exceedance(places, wind, level, east, north, NOW)
        full = _exceedance(unit_fields(places, wind, east, north, NOW), level, east.shape)
        np.testing.assert_array_equal(cut, full)
        assert (cut > 0).any()


@pytest.mark.parametrize(("stability", "direction_sd"), [("A", 0.0), ("D", 6.0), ("F", 15.0)])
def test_the_raster_gives_every_cell_the_exceedance_of_its_centre(stability: str, direction_sd: float) -> None:
    """The zone raster evaluates only the cells a plume can bring over the level, and every cell still gets what
    ``exceedance`` gives its centre, bit for bit: places at ground level and raised, young and old, sharp and wide
    rate posteriors (one reaching the grid's top), levels from AEGL-1 to far above any plume, rasters coarse and
    fine, the wind from any quarter."""
    rng = np.random.default_rng(11)
    sharp = np.zeros_like(RATES)
    sharp[20] = 1.0
    tail = np.full(RATES.shape, 1e-6)
    tail[15] = 1.0 - 1e-6 * (RATES.shape[0] - 1)
    places = (
        Hypothesis(None, 0.0, 0.0, 2.0, 0.6, RATES, sharp, NOW - 600.0),
        Hypothesis(None, 400.0, -250.0, 25.0, 0.3, RATES, np.full(RATES.shape, 1 / 41), NOW - 3000.0),
        Hypothesis(None, -300.0, 500.0, 0.0, 0.1, RATES, tail, NOW - 60.0),
    )
    covered = 0
    for wind_from in (180.0, 47.0, 301.0):
        wind = MixtureWind(2.0, wind_from, direction_sd, stability, CL2.molar_mass_g_mol)
        for level, cells, extent in ((0.5, 120, 15_000.0), (20.0, 80, 3_000.0), (2.0, 33, 800.0), (1e6, 50, 2_000.0)):
            e0, n0 = rng.uniform(-extent, 0.0, 2)
            cell = 2.0 * extent / cells
            east = np.arange(e0 + cell / 2, e0 + 2.0 * extent, cell)
            north = np.arange(n0 + cell / 2, n0 + 2.0 * extent, cell)
            ee, nn = np.meshgrid(east, north)
            fast = ZoneRaster(east, north).exceedance(places, wind, level, NOW)
            every = exceedance(places, wind, level, ee.ravel(), nn.ravel(), NOW).reshape(ee.shape)
            np.testing.assert_array_equal(fast, every)
            covered += int((every > 0).any())
    assert covered >= 6  # most rasters hold some of a zone
