"""Threat zones for the next hour, the people in them, and the protective action to advise.

Shapely geometry, so it lives in daemon/: the pure core (detectors/) takes numpy and scipy only.

A zone is where the ground-level concentration of the Gaussian plume (``detectors.plume``) from the estimated
source exceeds a level, as NOAA's ALOHA draws them (red AEGL-3, orange AEGL-2, yellow AEGL-1; ERPG where no
AEGL is published), using the 60-minute AEGLs (US EPA, Acute Exposure Guideline Levels, compiled final values)
for a one-hour outlook. The zone reaches as far as the cloud travels by the end of the outlook. The "possible"
zone is the union of footprints at the upper 95 % rate, over the wind direction +- 2 standard deviations and
every candidate source in the 95 % region: where the cloud may be, not where it is expected.

Protective-action advice follows the evacuate-or-shelter reasoning of Sorensen, Shumpert & Vogt (2004),
"Planning for protective action decision making: evacuate or shelter-in-place", J. Hazardous Materials A109,
1-11: sheltering works when the cloud passes within a few hours and the building is tight, because the indoor
concentration of a building with air exchange rate lambda (1/h) under a steady outdoor concentration C for T
hours averages C (1 - (1 - exp(-lambda T)) / (lambda T)) (the single-zone infiltration model of Wilson 1987,
"Sheltering in place from airborne hazards", Oak Ridge National Laboratory); evacuation is advised only when
it can be completed before the cloud arrives. Default air exchange rates (ventilation off) follow Chan, Nazaroff,
Price, Sohn & Gadgil (2005), Atmos. Environ. 39, 3445-3455 (median US dwelling about 0.5/h). It is advice for
the duty officer, never an order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from detectors.plume import Terrain, briggs_sigmas
from detectors.substances import MOLAR_VOLUME_L, Substance

OUTLOOK_S = 3600.0
MAX_REACH_M = 20_000.0
# A footprint outline at least this wide everywhere is a simple polygon whatever the rounding of its vertices
# (site coordinates round at ~1e-11 m).
SIMPLE_OUTLINE_M = 1e-6
ADVICE_LABEL = "advice for the duty officer, not an order"
# Ventilation off (Chan et al. 2005 for dwellings; larger, leakier buildings higher) and minutes to get
# everyone out (planning figures for a city emergency plan; tune per site in the site file).
DEFAULT_AIR_CHANGES_PER_HOUR = {
    "residential": 0.5,
    "school": 1.0,
    "hospital": 0.5,
    "nursing_home": 0.5,
    "workplace": 1.0,
}
DEFAULT_EVACUATION_MIN = {
    "residential": 30.0,
    "school": 20.0,
    "hospital": 120.0,
    "nursing_home": 90.0,
    "workplace": 20.0,
}


@dataclass(frozen=True, slots=True)
class ZoneLevel:
    """One threat level: name (AEGL-3 ...), concentration in ppm, and which guideline it comes from."""

    name: str
    ppm: float
    guideline: str


def zone_levels(substance: Substance) -> list[ZoneLevel]:
    """AEGL-3/2/1 (60 min), highest first; ERPG where an AEGL is not published."""
    levels = [
        ZoneLevel("AEGL-3", substance.aegl3[2], "AEGL-3 60 min"),
        ZoneLevel("AEGL-2", substance.aegl2[2], "AEGL-2 60 min"),
    ]
    if substance.aegl1_60min is not None:
        levels.append(ZoneLevel("AEGL-1", substance.aegl1_60min, "AEGL-1 60 min"))
    elif substance.erpg[0] is not None:
        levels.append(ZoneLevel("ERPG-1", substance.erpg[0], "ERPG-1 (no AEGL-1 published)"))
    return levels


@dataclass(frozen=True, slots=True)
class PlumeState:
    """The release the zones are drawn for, in site metres."""

    east_m: float
    north_m: float
    height_m: float
    rate_g_s: float
    wind_speed_m_s: float
    wind_from_deg: float
    stability: str
    molar_mass_g_mol: float
    travelled_s: float  # seconds since the release started (the cloud's age now)
    terrain: Terrain = Terrain.OPEN_COUNTRY


def footprint(plume: PlumeState, level_ppm: float, outlook_s: float = OUTLOOK_S) -> Polygon:
    """Where the ground-level concentration exceeds ``level_ppm`` within the outlook (site metres)."""
    outline = _footprint_outline(plume, level_ppm, outlook_s)
    if outline is None:
        return Polygon()
    east, north, _ = outline
    shape = Polygon(np.column_stack([east, north])).buffer(0)
    return shape if isinstance(shape, Polygon) else Polygon()


def footprint_radius(plume: PlumeState, level_ppm: float, outlook_s: float = OUTLOOK_S) -> float | None:
    """How far from the source ``footprint`` reaches (its vertices' largest distance), None when it is empty.

    Without building the shape when the outline is one lobe nowhere narrower than SIMPLE_OUTLINE_M (after a spike
    of no width along the axis when the level is first reached further out): ``buffer(0)`` keeps the lobe with
    its vertices and drops the spike, whose points are nearer the source, so the distance is the outline's. When
    the outline pinches between lobes ``buffer(0)`` may drop parts or give up (a multipolygon: no footprint), and
    the shape is built as ``footprint`` does."""
    outline = _footprint_outline(plume, level_ppm, outlook_s)
    if outline is None:
        return None
    east, north, narrowest = outline
    if narrowest > SIMPLE_OUTLINE_M:
        return float(np.hypot(east - plume.east_m, north - plume.north_m).max())
    shape = footprint(plume, level_ppm, outlook_s)
    if shape.is_empty:
        return None
    ring = np.asarray(shape.exterior.coords)
    return float(np.hypot(ring[:, 0] - plume.east_m, ring[:, 1] - plume.north_m).max())


def _footprint_outline(
    plume: PlumeState, level_ppm: float, outlook_s: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
    """The footprint's outline (east, north of its vertices: the source, then out along one side and back along
    the other) and the narrowest half-width of its lobe from where the level is first reached (0: it pinches);
    None when the level is reached nowhere."""
    reach = min(MAX_REACH_M, max(plume.wind_speed_m_s, 0.5) * (plume.travelled_s + outlook_s))
    if reach <= 10.0:
        return None
    x = np.geomspace(10.0, reach, 160)
    sigma_y, sigma_z = briggs_sigmas(x, plume.stability, plume.terrain)
    to_ppm = 1000.0 * MOLAR_VOLUME_L / plume.molar_mass_g_mol
    centre = (
        plume.rate_g_s
        / (math.pi * max(plume.wind_speed_m_s, 0.5) * sigma_y * sigma_z)
        * np.exp(-0.5 * (plume.height_m / sigma_z) ** 2)
        * to_ppm
    )
    over = centre > level_ppm
    if not over.any():
        return None
    half = np.where(over, sigma_y * np.sqrt(2.0 * np.log(np.maximum(centre / level_ppm, 1.0))), 0.0)
    where = np.nonzero(over)[0]
    first, last = int(where[0]), int(where[-1])
    xs, ws = x[: last + 1], half[: last + 1]
    along = np.concatenate([[0.0], xs, xs[::-1]])
    across = np.concatenate([[0.0], ws, -ws[::-1]])
    towards = math.radians(plume.wind_from_deg + 180.0)
    east = plume.east_m + along * math.sin(towards) - across * math.cos(towards)
    north = plume.north_m + along * math.cos(towards) + across * math.sin(towards)
    # Where the level is first reached further out (a raised release), the outline runs out to there along the
    # axis and back: a spike of no width, nearer the source than any point of the lobe.
    return east, north, float(ws[first:].min())


def possible_footprint(
    plume: PlumeState,
    level_ppm: float,
    upper_rate_g_s: float,
    direction_sd_deg: float,
    other_sources: list[tuple[float, float]],
    outlook_s: float = OUTLOOK_S,
) -> BaseGeometry:
    """Union of footprints at the upper rate, over directions +- 2 sd and the other sources still possible."""
    shapes: list[BaseGeometry] = []
    spread = 2.0 * max(direction_sd_deg, 5.0)
    for east, north in [(plume.east_m, plume.north_m), *other_sources]:
        for offset in np.linspace(-spread, spread, 5):
            shifted = PlumeState(
                east, north, plume.height_m, upper_rate_g_s, plume.wind_speed_m_s,
                plume.wind_from_deg + float(offset), plume.stability, plume.molar_mass_g_mol, plume.travelled_s,
                plume.terrain,
            )  # fmt: skip
            shapes.append(footprint(shifted, level_ppm, outlook_s))
    merged = shapely.unary_union([s for s in shapes if not s.is_empty])
    # Consecutive direction footprints leave slivers between them; the hull of each source's fan closes them.
    return merged.convex_hull if not merged.is_empty else merged


def concentration_ppm(
    plume: PlumeState, east_m: NDArray[np.float64], north_m: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Ground-level plume concentration (ppm) at site points."""
    towards = math.radians(plume.wind_from_deg + 180.0)
    de, dn = np.broadcast_arrays(east_m - plume.east_m, north_m - plume.north_m)
    x = de * math.sin(towards) + dn * math.cos(towards)
    out = np.zeros(x.shape, np.float64)
    reached = (x > 1.0) & (x <= max(plume.wind_speed_m_s, 0.5) * (plume.travelled_s + OUTLOOK_S))
    # The plume only where the cloud is: upwind and beyond the cloud's reach stay zero. Half or more of a zone
    # raster is there, and the sigma curves' powers and the exponential are most of the assessment's time.
    x, de, dn = x[reached], de[reached], dn[reached]
    y = -de * math.cos(towards) + dn * math.sin(towards)
    sigma_y, sigma_z = briggs_sigmas(x, plume.stability, plume.terrain)
    c = (
        plume.rate_g_s
        / (math.pi * max(plume.wind_speed_m_s, 0.5) * sigma_y * sigma_z)
        * np.exp(-0.5 * (y / sigma_y) ** 2 - 0.5 * (plume.height_m / sigma_z) ** 2)
        * 1000.0
        * MOLAR_VOLUME_L
        / plume.molar_mass_g_mol
    )
    out[reached] = c
    return out


@dataclass(frozen=True, slots=True)
class ReceptorArea:
    """A receptor in site metres."""

    id: str
    name: str
    type: str
    outline: Polygon
    population: int
    air_changes_per_hour: float
    evacuation_min: float


@dataclass(frozen=True, slots=True)
class ReceptorImpact:
    """What the zones mean for one receptor."""

    id: str
    name: str
    type: str
    population: int
    expected_zone: str | None  # highest level whose expected zone reaches it
    possible_zone: str | None  # highest level whose possible (uncertainty) zone reaches it
    people_by_zone: dict[str, int]  # expected zones: people inside (population spread evenly)
    arrival_min: float | None  # minutes from now until the expected cloud reaches it (0: already there)
    outdoor_ppm: float  # highest expected outdoor concentration over it
    indoor_ppm: float  # hour-mean indoor concentration if sheltering (ventilation off)
    advice: str
    advice_reason: str
    # Per level, the probability that the receptor's most exposed point exceeds it (from the source posterior);
    # empty when the zones come from a single plume.
    zone_probability: dict[str, float] = field(default_factory=dict)


def indoor_mean_ppm(outdoor_ppm: float, air_changes_per_hour: float, hours: float) -> float:
    """Mean indoor concentration over ``hours`` under a steady outdoor one (single-zone infiltration, Wilson 1987)."""
    lt = air_changes_per_hour * hours
    if lt <= 0:
        return 0.0
    return outdoor_ppm * (1.0 - (1.0 - math.exp(-lt)) / lt)


def assess_receptor(
    receptor: ReceptorArea,
    plume: PlumeState,
    expected: dict[str, BaseGeometry],
    possible: dict[str, BaseGeometry],
    levels: list[ZoneLevel],
) -> ReceptorImpact:
    """Zones, people, arrival time, concentrations and advice for one receptor."""
    outline = receptor.outline
    area = outline.area or 1.0
    people: dict[str, int] = {}
    expected_zone = possible_zone = None
    for level in levels:  # highest first
        zone = expected[level.name]
        if not zone.is_empty and zone.intersects(outline):
            people[level.name] = round(receptor.population * zone.intersection(outline).area / area)
            expected_zone = expected_zone or level.name
        if possible_zone is None and not possible[level.name].is_empty and possible[level.name].intersects(outline):
            possible_zone = level.name
    ring = np.asarray(outline.exterior.coords)
    points = np.vstack([ring, [outline.centroid.x, outline.centroid.y]])
    outdoor = float(concentration_ppm(plume, points[:, 0], points[:, 1]).max())
    arrival = None
    if expected_zone is not None:
        inside = expected[levels[-1].name].intersection(outline)
        nearest = nearest_points(inside, shapely.Point(plume.east_m, plume.north_m))[0]
        distance = math.hypot(nearest.x - plume.east_m, nearest.y - plume.north_m)
        arrival = max(0.0, distance / max(plume.wind_speed_m_s, 0.5) - plume.travelled_s) / 60.0
    hours = 1.0
    indoor = indoor_mean_ppm(outdoor, receptor.air_changes_per_hour, hours)
    advice, reason = advice_for(receptor, expected_zone or possible_zone, arrival, indoor, levels)
    return ReceptorImpact(
        receptor.id, receptor.name, receptor.type, receptor.population, expected_zone, possible_zone, people,
        arrival, outdoor, indoor, advice, reason,
    )  # fmt: skip


def advice_for(
    receptor: ReceptorArea, zone: str | None, arrival_min: float | None, indoor_ppm: float, levels: list[ZoneLevel]
) -> tuple[str, str]:
    """Shelter, evacuate or nothing for a receptor in ``zone`` (None: outside), and why."""
    if zone is None:
        return "no action", "outside every zone, including the uncertainty zone"
    aegl2 = next(level.ppm for level in levels if level.name == "AEGL-2")
    if arrival_min is None:
        return "prepare to shelter in place", f"only inside the uncertainty zone ({zone}); close windows, stay alert"
    if indoor_ppm < aegl2:
        return (
            "shelter in place",
            f"indoors with ventilation off ({receptor.air_changes_per_hour:g}/h) the hour mean stays near "
            f"{indoor_ppm:.2g} ppm, below AEGL-2 ({aegl2:g} ppm)",
        )
    if arrival_min > receptor.evacuation_min:
        return (
            "evacuate",
            f"indoors would reach {indoor_ppm:.2g} ppm (over AEGL-2) and the cloud is {arrival_min:.0f} min away, "
            f"more than the {receptor.evacuation_min:g} min needed to get out",
        )
    return (
        "shelter in place",
        f"the cloud arrives in {arrival_min:.0f} min, before the {receptor.evacuation_min:g} min an evacuation takes; "
        f"indoors ({indoor_ppm:.2g} ppm) is still far below outdoors: shelter, then evacuate when the cloud has passed",
    )


def site_polygon(east_m: NDArray[np.float64], north_m: NDArray[np.float64]) -> Polygon:
    """A polygon from outline vertices in site metres."""
    return Polygon(np.column_stack([east_m, north_m]))


def region_shape(
    cells_east_m: NDArray[np.float64],
    cells_north_m: NDArray[np.float64],
    step_m: float,
    points: list[tuple[float, float]],
    point_radius_m: float = 50.0,
) -> BaseGeometry:
    """The 95 % credible region as one shape: free-search cells as squares, candidates as small discs."""
    boxes = shapely.box(
        cells_east_m - step_m / 2, cells_north_m - step_m / 2, cells_east_m + step_m / 2, cells_north_m + step_m / 2
    )
    discs = [shapely.Point(e, n).buffer(point_radius_m) for e, n in points]
    return shapely.unary_union([*np.atleast_1d(boxes).tolist(), *discs])


def as_multipolygon(shape: BaseGeometry) -> MultiPolygon:
    """Any area shape as a MultiPolygon (empty when it has no area)."""
    if isinstance(shape, MultiPolygon):
        return shape
    if isinstance(shape, Polygon):
        return MultiPolygon([shape]) if not shape.is_empty else MultiPolygon()
    parts = [g for g in getattr(shape, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(parts)
