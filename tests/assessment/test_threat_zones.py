"""Threat zones, people in them, arrival times and protective-action advice."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry

from daemon.assessment.threat_zones import (
    ADVICE_LABEL,
    PlumeState,
    ReceptorArea,
    assess_receptor,
    concentration_ppm,
    footprint,
    footprint_radius,
    indoor_mean_ppm,
    possible_footprint,
    zone_levels,
)
from detectors.substances import SUBSTANCES

CL2 = SUBSTANCES["Cl2"]
# 350 g/s of chlorine, wind from the south at 3 m/s, class D, released 10 minutes ago.
PLUME = PlumeState(0.0, 0.0, 2.0, 350.0, 3.0, 180.0, "D", CL2.molar_mass_g_mol, 600.0)


def test_levels_are_the_60_minute_aegls_with_erpg_standing_in() -> None:
    """Cl2 uses AEGL-3/2/1 60 min; phosgene has no AEGL-1 and no ERPG-1, so it gets only two zones."""
    assert [(z.name, z.ppm) for z in zone_levels(CL2)] == [("AEGL-3", 20.0), ("AEGL-2", 2.0), ("AEGL-1", 0.5)]
    assert [z.name for z in zone_levels(SUBSTANCES["COCl2"])] == ["AEGL-3", "AEGL-2"]


def test_footprint_is_where_the_plume_exceeds_the_level() -> None:
    """Points north of the source inside the zone exceed the level; points beside or upwind do not."""
    zone = footprint(PLUME, 2.0)
    assert not zone.is_empty
    north = np.array([500.0, 1000.0, 1500.0])
    inside = concentration_ppm(PLUME, np.zeros(3), north)
    for y, c in zip(north, inside, strict=True):
        assert zone.contains(Point(0.0, y)) == (c > 2.0)
    assert not zone.contains(Point(0.0, -300.0))  # upwind
    assert not zone.contains(Point(800.0, 500.0))  # far to the side
    # Zones nest: AEGL-3 inside AEGL-2 inside AEGL-1.
    assert footprint(PLUME, 2.0).buffer(1.0).contains(footprint(PLUME, 20.0))
    assert footprint(PLUME, 0.5).buffer(1.0).contains(footprint(PLUME, 2.0))


def test_possible_zone_covers_the_expected_one() -> None:
    """The uncertainty zone (upper rate, wind spread, other sources) contains the expected zone and more."""
    expected = footprint(PLUME, 2.0)
    possible = possible_footprint(PLUME, 2.0, 1000.0, 8.0, [(-300.0, 0.0)])
    assert possible.buffer(1.0).contains(expected)
    assert possible.area > 2 * expected.area


def test_zone_reach_is_limited_by_the_cloud_travel() -> None:
    """A release that started 1 s ago at 1 m/s reaches at most one hour of travel, about 3.6 km."""
    young = PlumeState(0.0, 0.0, 2.0, 5000.0, 1.0, 180.0, "F", CL2.molar_mass_g_mol, 1.0)
    zone = footprint(young, 0.5)
    assert zone.bounds[3] <= 3601.0 + 1.0


def receptor(kind: str, north_min: float, north_max: float, people: int = 1000) -> ReceptorArea:
    """A 400 m wide receptor straddling the plume axis."""
    return ReceptorArea(f"r-{kind}", kind, kind, box(-200.0, north_min, 200.0, north_max), people, 0.5, 30.0)


def zones(levels: list[float], plume: PlumeState = PLUME) -> tuple[dict[str, BaseGeometry], dict[str, BaseGeometry]]:
    """Expected and possible zones per level name."""
    names = [z.name for z in zone_levels(CL2)]
    expected: dict[str, BaseGeometry] = {name: footprint(plume, ppm) for name, ppm in zip(names, levels, strict=True)}
    possible = {
        name: possible_footprint(plume, ppm, plume.rate_g_s * 3, 8.0, [])
        for name, ppm in zip(names, levels, strict=True)
    }
    return expected, possible


def test_receptor_in_the_aegl2_zone_counts_people_and_arrival() -> None:
    """Homes 1.2-1.6 km north lie in the AEGL-2 zone; part of their people are counted; the cloud, 10 minutes
    out at 3 m/s, has already covered the 1.2 km to them (arrival 0)."""
    expected, possible = zones([20.0, 2.0, 0.5])
    impact = assess_receptor(receptor("residential", 1200.0, 1600.0), PLUME, expected, possible, zone_levels(CL2))
    assert impact.expected_zone == "AEGL-2"
    assert 0 < impact.people_by_zone["AEGL-2"] < 1000
    assert impact.arrival_min == 0.0
    assert impact.advice in ("shelter in place", "evacuate")
    assert ADVICE_LABEL == "advice for the duty officer, not an order"


def test_upwind_receptor_needs_no_action() -> None:
    """A school south of the source is outside every zone."""
    expected, possible = zones([20.0, 2.0, 0.5])
    impact = assess_receptor(receptor("school", -1500.0, -1200.0), PLUME, expected, possible, zone_levels(CL2))
    assert impact.expected_zone is None
    assert impact.possible_zone is None
    assert impact.advice == "no action"


def test_indoor_concentration_follows_the_infiltration_model() -> None:
    """Wilson (1987): 0.5 air changes per hour for one hour keeps the hour mean at 21 % of outdoors."""
    assert indoor_mean_ppm(10.0, 0.5, 1.0) == pytest.approx(10.0 * (1 - (1 - np.exp(-0.5)) / 0.5))
    assert indoor_mean_ppm(10.0, 0.5, 1.0) == pytest.approx(2.13, abs=0.01)


def test_advice_evacuates_only_when_there_is_time_and_shelter_is_not_enough() -> None:
    """Far-off homes in a heavy cloud (indoors over AEGL-2, the cloud an hour away) are told to evacuate;
    the same homes with the cloud minutes away are told to shelter first."""
    far = PlumeState(0.0, 0.0, 2.0, 20000.0, 1.5, 180.0, "F", CL2.molar_mass_g_mol, 0.0)
    expected, possible = zones([20.0, 2.0, 0.5], far)
    homes = receptor("residential", 5000.0, 5400.0)
    impact = assess_receptor(homes, far, expected, possible, zone_levels(CL2))
    assert impact.indoor_ppm > 2.0
    assert impact.arrival_min is not None
    assert impact.arrival_min > 30.0
    assert impact.advice == "evacuate"
    soon = PlumeState(0.0, 0.0, 2.0, 20000.0, 1.5, 180.0, "F", CL2.molar_mass_g_mol, 3300.0)
    expected, possible = zones([20.0, 2.0, 0.5], soon)
    impact = assess_receptor(homes, soon, expected, possible, zone_levels(CL2))
    assert impact.advice == "shelter in place"


@pytest.mark.parametrize("stability", ["A", "D", "F"])
def test_footprint_radius_is_the_footprints_own(stability: str) -> None:
    """The reach of a footprint from its source, found without building the shape when its outline is simple,
    is the built shape's, bit for bit: ground-level and raised releases (whose outline runs out along the axis to
    where the level is first reached), small and huge rates, every direction, and none when nothing exceeds."""
    built_ones = raised = 0
    cases = itertools.product((0.0, 2.0, 15.0, 40.0), (0.3, 5.0, 350.0, 30_000.0), (0.5, 20.0), (0.0, 137.0, 185.0))
    for height, rate, level, wind_from in cases:
        plume = PlumeState(120.0, -40.0, height, rate, 2.5, wind_from, stability, CL2.molar_mass_g_mol, 900.0)
        shape = footprint(plume, level)
        ring = None if shape.is_empty else np.asarray(shape.exterior.coords)
        built = None if ring is None else float(np.hypot(ring[:, 0] - 120.0, ring[:, 1] + 40.0).max())
        assert footprint_radius(plume, level) == built
        built_ones += built is not None
        raised += built is not None and height > 0
    assert built_ones > 40  # the comparison covers footprints
    assert raised > 10  # raised releases among them
