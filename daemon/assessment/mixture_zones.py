"""Threat zones and receptor exposure from the whole source posterior, not from one point estimate.

The estimate (``detectors.source_estimation``) is a mixture: places (listed candidates, free-search cells) with
their posterior probabilities, each with a posterior over the release rate. The concentration of the Gaussian
plume is linear in the rate, so the probability that a point exceeds a level L is, exactly within the model,

    P(C > L) = sum_h p_h sum_d w_d P(Q > L / k_hd(point) | h)

with k_hd the plume per unit rate from place h in wind direction d. The mean wind of the coming hour is uncertain
too: it is integrated over a normal direction error whose standard deviation is how much the minute-mean wind
wandered over the last quarter hour (the caller passes it), floored at 5 degrees (a vane's bias), on seven
equally spaced directions over +-2 sd weighted by the normal density (a three-point rule would give a narrow
plume's centreline only its 2/3 centre weight).
The "expected" zone of a level is where P >= 50 %, the "possible" zone where P >= 5 % (cf. the probabilistic
hazard areas of Hutchinson, Oh & Chen 2017, Information Fusion 36, 130-148, and ALOHA's confidence lines). A
receptor is in a zone when the level is exceeded somewhere on it with that probability (per place and direction
the smallest rate that reaches any of its points, then the mixture); the plan triggers read that probability.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from daemon.assessment.threat_zones import (
    OUTLOOK_S,
    PlumeState,
    ReceptorArea,
    ReceptorImpact,
    ZoneLevel,
    advice_for,
    footprint_radius,
    indoor_mean_ppm,
)
from detectors.plume import Terrain, briggs_sigma_y_slope, briggs_sigmas
from detectors.source_estimation import Hypothesis
from detectors.substances import MOLAR_VOLUME_L

EXPECTED_PROBABILITY = 0.5  # the expected zone: more likely than not over the level
POSSIBLE_PROBABILITY = 0.05  # the uncertainty zone
MIN_DIRECTION_SD_DEG = 5.0
_DIR_OFFSETS = np.linspace(-2.0, 2.0, 7)
_DIR_WEIGHTS = np.exp(-0.5 * _DIR_OFFSETS**2) / np.exp(-0.5 * _DIR_OFFSETS**2).sum()
RASTER_CELLS = 120  # zone raster cells per side (the extent sets the cell size)
MIN_CELL_M = 10.0
RECEPTOR_GRID = 7  # interior sample points per side of a receptor's bounding box
# Points further than this many sigma_y off a plume's axis get zero without computing it: exp(-50) of the axis
# concentration, which no rate up to 30 kg/s brings to a level above 1e-12 ppm (a probability exactly 0 either way).
FLANK_SIGMAS = 10.0
# The cells where a place's plume can exceed a level are bounded on LIVE_SEGMENTS stretches downwind, each from
# LIVE_STEPS geometric steps of the plume's length (more segments hug the plume closer and cost more runs).
LIVE_SEGMENTS = 12
LIVE_STEPS = 256
# A run of cells found in closed form is widened by this much of a cell each side: its rounding is ~1e-12 of a
# cell (the point-by-point test decides on the cells inside).
RUN_SLACK = 1e-3
UNIT_FIELD_CHUNK = 20_000  # (place, direction) x points evaluated at once (a raster: one row at a time)


@dataclass(frozen=True, slots=True)
class MixtureWind:
    """The wind the outlook assumes: latest mean speed and direction, the error of that direction, the class."""

    speed_m_s: float
    from_deg: float
    direction_sd_deg: float
    stability: str
    molar_mass_g_mol: float
    terrain: Terrain = Terrain.OPEN_COUNTRY


def _plume(h: Hypothesis, wind: MixtureWind, offset_deg: float, rate: float, now_s: float) -> PlumeState:
    return PlumeState(
        h.east_m, h.north_m, h.height_m, rate, wind.speed_m_s, wind.from_deg + offset_deg, wind.stability,
        wind.molar_mass_g_mol, max(0.0, now_s - h.start_s), wind.terrain,
    )  # fmt: skip


def _offsets(wind: MixtureWind) -> list[tuple[float, float]]:
    sd = max(wind.direction_sd_deg, MIN_DIRECTION_SD_DEG)
    return [(float(o) * sd, float(w)) for o, w in zip(_DIR_OFFSETS, _DIR_WEIGHTS, strict=True)]


def _survival(h: Hypothesis, threshold_g_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(Q > threshold | h) from the rate posterior on its grid."""
    tail = np.concatenate([np.cumsum(h.rate_weights[::-1])[::-1], [0.0]])
    index = np.searchsorted(h.rates_g_s, threshold_g_s, side="right")
    out: NDArray[np.float64] = tail[index]
    return out


@dataclass(frozen=True, slots=True)
class UnitField:
    """One place in one wind direction: its weight in the mixture (place probability, direction weight) and the
    concentration per unit release rate (ppm per g/s) at the points; the same for every level, so a receptor's
    measures share them."""

    hypothesis: Hypothesis
    direction_weight: float
    ppm_per_g_s: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Pairs:
    """Every (place, direction) of the mixture, place by place and each place's directions in the order of
    ``_offsets``, and what its plume needs: the unit vector it blows towards, the source, the release height and
    how far the cloud gets within the outlook."""

    wind: MixtureWind
    hypotheses: list[Hypothesis]
    weights: list[float]
    sin_t: NDArray[np.float64]
    cos_t: NDArray[np.float64]
    source_e: NDArray[np.float64]
    source_n: NDArray[np.float64]
    height: NDArray[np.float64]
    reach: NDArray[np.float64]

    @classmethod
    def of(cls, hypotheses: tuple[Hypothesis, ...], wind: MixtureWind, now_s: float) -> _Pairs:
        """The pairs of ``hypotheses`` under ``wind`` at ``now_s``."""
        pairs = [(h, offset, weight) for h in hypotheses for offset, weight in _offsets(wind)]
        towards = [math.radians(wind.from_deg + offset + 180.0) for _, offset, _ in pairs]
        speed = max(wind.speed_m_s, 0.5)
        return cls(
            wind,
            [h for h, _, _ in pairs],
            [weight for _, _, weight in pairs],
            np.array([math.sin(t) for t in towards]),
            np.array([math.cos(t) for t in towards]),
            np.array([h.east_m for h, _, _ in pairs]),
            np.array([h.north_m for h, _, _ in pairs]),
            np.array([h.height_m for h, _, _ in pairs]),
            np.array([speed * (max(0.0, now_s - h.start_s) + OUTLOOK_S) for h, _, _ in pairs]),
        )

    def ppm_per_g_s(
        self, row: NDArray[np.intp], de: NDArray[np.float64], dn: NDArray[np.float64], flank_sigmas: float | None
    ) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        """Which of the points (offsets ``de``, ``dn`` from the source of pair ``row``, which broadcasts against
        them) the plume reaches, and its ppm per g/s at those in ``flatnonzero`` order: ``concentration_ppm``'s
        arithmetic in its order, point by point (so any way of choosing the points gives the same values)."""
        wind = self.wind
        sin_t, cos_t = self.sin_t[row], self.cos_t[row]
        x = de * sin_t + dn * cos_t
        sin_t, cos_t = np.broadcast_to(sin_t, x.shape), np.broadcast_to(cos_t, x.shape)
        # The plume only where the cloud is: upwind and beyond the cloud's reach stay zero.
        reached = (x > 1.0) & (x <= self.reach[row])
        if flank_sigmas is not None:
            # Far on the flank the plume is exp(-flank^2 / 2) of its axis or less (sigma_y <= slope x): no rate on
            # the grids (<= 30 kg/s) lifts that to any level, so those points are left at zero without the sigmas.
            across = np.abs(-de * cos_t + dn * sin_t)
            reached &= across <= flank_sigmas * briggs_sigma_y_slope(wind.stability, wind.terrain) * x
        xs, des, dns = x[reached], de[reached], dn[reached]
        ys = -des * cos_t[reached] + dns * sin_t[reached]
        sigma_y, sigma_z = briggs_sigmas(xs, wind.stability, wind.terrain)
        c = (
            1.0
            / (math.pi * max(wind.speed_m_s, 0.5) * sigma_y * sigma_z)
            * np.exp(
                -0.5 * (ys / sigma_y) ** 2 - 0.5 * (np.broadcast_to(self.height[row], x.shape)[reached] / sigma_z) ** 2
            )
            * 1000.0
            * MOLAR_VOLUME_L
            / wind.molar_mass_g_mol
        )
        return reached, c


def unit_fields(
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    east_m: NDArray[np.float64],
    north_m: NDArray[np.float64],
    now_s: float,
    flank_sigmas: float | None = None,
) -> list[UnitField]:
    """The plume per unit rate at the points, for every place and wind direction of the mixture: what
    ``concentration_ppm`` gives for each (place, direction), the same arithmetic in the same order, computed for all
    of them at once (one call per field cost more in calls than in arithmetic on a receptor's hundred points, and a
    gas drill made ~20k of them)."""
    pairs = _Pairs.of(hypotheses, wind, now_s)
    rows = len(pairs.hypotheses)
    if not rows:
        return []
    points = east_m.shape[0]
    out = np.zeros((rows, points), np.float64)
    chunk = max(1, UNIT_FIELD_CHUNK // max(points, 1))
    for first in range(0, rows, chunk):
        row = np.arange(first, min(rows, first + chunk))[:, None]
        de = east_m[None, :] - pairs.source_e[row]
        dn = north_m[None, :] - pairs.source_n[row]
        reached, c = pairs.ppm_per_g_s(row, de, dn, flank_sigmas)
        out[first : first + row.shape[0]].ravel()[np.flatnonzero(reached)] = c
    return [UnitField(h, w, out[i]) for i, (h, w) in enumerate(zip(pairs.hypotheses, pairs.weights, strict=True))]


def exceedance(
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    level_ppm: float,
    east_m: NDArray[np.float64],
    north_m: NDArray[np.float64],
    now_s: float,
) -> NDArray[np.float64]:
    """Probability that the hour-outlook concentration at each point exceeds ``level_ppm``."""
    fields = unit_fields(hypotheses, wind, east_m, north_m, now_s, FLANK_SIGMAS)
    return _exceedance(fields, level_ppm, east_m.shape)


def _exceedance(fields: list[UnitField], level_ppm: float, shape: tuple[int, ...]) -> NDArray[np.float64]:
    values = np.stack([field.ppm_per_g_s for field in fields]) if fields else np.zeros((0, math.prod(shape)))
    return np.clip(_mixture_sum(fields, values, level_ppm).reshape(shape), 0.0, 1.0)


def _mixture_sum(fields: list[UnitField], values: NDArray[np.float64], level_ppm: float) -> NDArray[np.float64]:
    """Per column of ``values`` (field x column: each field's ppm per g/s there), the sum over the fields of place
    probability x direction weight x P(Q > level / value), the fields that do not reach it (0) left out."""
    field_index, column = np.nonzero(values > 0)  # field by field, columns in order
    return _summed_shares(
        [field.hypothesis for field in fields],
        [field.direction_weight for field in fields],
        field_index,
        column,
        values[field_index, column],
        level_ppm,
        values.shape[1],
    )


def _summed_shares(
    hypotheses: list[Hypothesis],
    weights: list[float],
    field_index: NDArray[np.intp],
    column: NDArray[np.intp],
    ppm_per_g_s: NDArray[np.float64],
    level_ppm: float,
    columns: int,
) -> NDArray[np.float64]:
    """Per column, the sum of place probability x direction weight x P(Q > level / ppm per g/s) over the (field,
    column, ppm per g/s) given, field by field (``field_index`` non-decreasing; field i is ``hypotheses[i]`` blown
    with direction weight ``weights[i]``, a place's directions next to each other).

    Field after field, and in each field in the order given, as adding each share to a running total would
    (bincount adds its weights in the order given); a place's directions in one pass through its survival
    function."""
    share = np.empty(ppm_per_g_s.shape, np.float64)
    ends = np.searchsorted(field_index, np.arange(len(hypotheses) + 1))
    first = 0
    while first < len(hypotheses):  # runs of fields of one place
        h = hypotheses[first]
        last = first + 1
        while last < len(hypotheses) and hypotheses[last] is h:
            last += 1
        part = slice(int(ends[first]), int(ends[last]))
        weight = np.array([h.probability * w for w in weights[first:last]])
        needed = level_ppm / np.maximum(ppm_per_g_s[part], 1e-300)
        share[part] = weight[field_index[part] - first] * _survival(h, needed)
        first = last
    return np.bincount(column, share, minlength=columns).astype(np.float64, copy=False)


def reach_probability(
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    level_ppm: float,
    east_m: NDArray[np.float64],
    north_m: NDArray[np.float64],
    now_s: float,
) -> float:
    """Probability that the concentration exceeds ``level_ppm`` somewhere among the points (the zone reaches the
    area they sample): per place and wind direction the smallest rate that does it anywhere, then the mixture.
    The largest per-point probability is smaller whenever the direction is uncertain: each direction puts the plume
    on a different part of a wide receptor, and a per-point probability counts only the directions through that
    point."""
    return _reach_probability(unit_fields(hypotheses, wind, east_m, north_m, now_s), level_ppm)


@dataclass(frozen=True, slots=True)
class ZoneRaster:
    """The cell centres ``np.meshgrid(east_m, north_m)`` of a zone's raster (evenly spaced axes)."""

    east_m: NDArray[np.float64]
    north_m: NDArray[np.float64]

    def exceedance(
        self, hypotheses: tuple[Hypothesis, ...], wind: MixtureWind, level_ppm: float, now_s: float
    ) -> NDArray[np.float64]:
        """``exceedance`` at every cell centre, as an array of shape (north, east): the same value, bit for bit,
        from only the cells where some rate of a place's posterior can exceed the level.

        Everywhere else a (place, direction) adds P(Q > needed) = 0 to the cell, so leaving it out changes no sum.
        The cells that can are, segment by segment downwind, within a bound on the level's half-width
        (``_live_segments``): rectangles in the plume's axes, so on each raster row one run of cells per segment,
        found in closed form. Those cells (RUN_SLACK more each side for rounding) are evaluated point by point with
        the same arithmetic and the same test as ``exceedance``. (Evaluating every (place, direction) on every
        cell took most of a zone's time: the level is reached on a few per cent of them.)"""
        east_m, north_m = self.east_m, self.north_m
        shape = (north_m.shape[0], east_m.shape[0])
        pairs = _Pairs.of(hypotheses, wind, now_s)
        if not pairs.hypotheses or not shape[0] or not shape[1]:
            return np.zeros(shape, np.float64)
        row, north_index, east_index = self._cells(pairs, _live_segments(pairs, level_ppm))
        de = east_m[east_index] - pairs.source_e[row]
        dn = north_m[north_index] - pairs.source_n[row]
        reached, ppm_per_g_s = pairs.ppm_per_g_s(row, de, dn, FLANK_SIGMAS)
        # As ``_exceedance``: only where the plume is, each field's share added in the fields' order (bincount
        # adds its weights in the order given, so every cell's sum is the one of adding field after field).
        at = np.flatnonzero(reached)[ppm_per_g_s > 0]
        row, cell, ppm_per_g_s = row[at], north_index[at] * shape[1] + east_index[at], ppm_per_g_s[ppm_per_g_s > 0]
        summed = _summed_shares(pairs.hypotheses, pairs.weights, row, cell, ppm_per_g_s, level_ppm, shape[0] * shape[1])
        return np.clip(summed.reshape(shape), 0.0, 1.0)

    def _cells(
        self, pairs: _Pairs, segments: _LiveSegments
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
        """The cells (pair, north index, east index) that may be in some segment of their pair, each once per pair,
        pair by pair (the fields' order): a segment is held in the rectangle x_from <= x <= x_to, |y| <= its
        half-width (in the plume's own axes), whose rows are found from its extent and on each row a run of cells in
        closed form; a row takes the span of its segments' runs, and RUN_SLACK of a cell more each side (the closed
        form rounds differently from the point-by-point test, which decides)."""
        east_m, north_m = self.east_m, self.north_m
        columns, rows = east_m.shape[0], north_m.shape[0]
        step_e = float(east_m[1] - east_m[0]) if columns > 1 else 1.0
        step_n = float(north_m[1] - north_m[0]) if rows > 1 else 1.0
        pair, segment = np.nonzero(segments.half_width > 0)
        sin_t, cos_t = pairs.sin_t[pair], pairs.cos_t[pair]
        x_from, x_to = segments.start[pair, segment], segments.start[pair, segment + 1]
        w = segments.half_width[pair, segment]
        # The rows the rectangle spans: its centre's north +- half its extent north (north = x cos + y sin).
        north_mid = pairs.source_n[pair] + (x_from + x_to) / 2.0 * cos_t
        north_span = (x_to - x_from) / 2.0 * np.abs(cos_t) + w * np.abs(sin_t)
        first_row = np.clip(np.ceil((north_mid - north_span - north_m[0]) / step_n - RUN_SLACK), 0.0, float(rows))
        last_row = np.clip(np.floor((north_mid + north_span - north_m[0]) / step_n + RUN_SLACK), -1.0, float(rows - 1))
        count = np.maximum(last_row - first_row + 1.0, 0.0).astype(np.intp)
        which = np.repeat(np.arange(count.shape[0]), count)
        north_index = np.repeat(first_row.astype(np.intp), count) + _within(count)
        pair, sin_t, cos_t, x_from, x_to, w = (v[which] for v in (pair, sin_t, cos_t, x_from, x_to, w))
        # Along a raster row x and y are linear in the column j: x = x0 + j dx, y = y0 + j dy.
        de0 = east_m[0] - pairs.source_e[pair]
        dn = north_m[north_index] - pairs.source_n[pair]
        x0, y0 = de0 * sin_t + dn * cos_t, -de0 * cos_t + dn * sin_t
        dx, dy = step_e * sin_t, -step_e * cos_t
        first = np.zeros(x0.shape, np.float64)
        last = np.full(x0.shape, float(columns - 1))
        # Each side as a + b j >= 0; a side parallel to the row holds on all of it or on none.
        with np.errstate(divide="ignore", invalid="ignore"):
            for a, b in ((x0 - x_from, dx), (x_to - x0, -dx), (w - y0, -dy), (w + y0, dy)):
                root = -a / b
                rising, falling = b > 1e-12 * step_e, b < -1e-12 * step_e
                first = np.where(rising, np.maximum(first, root), first)
                last = np.where(falling, np.minimum(last, root), last)
                last = np.where(~rising & ~falling & (a < -1e-6 * (np.abs(x0) + np.abs(y0) + step_e)), -1.0, last)
        # One run per (pair, row): the span of its segments' runs.
        key = pair * rows + north_index
        lo_of = np.full(len(pairs.hypotheses) * rows, np.inf)
        hi_of = np.full(len(pairs.hypotheses) * rows, -np.inf)
        empty = last < first
        np.minimum.at(lo_of, key[~empty], first[~empty])
        np.maximum.at(hi_of, key[~empty], last[~empty])
        lo = np.clip(np.ceil(lo_of - RUN_SLACK), 0.0, float(columns))
        hi = np.clip(np.floor(hi_of + RUN_SLACK), -1.0, float(columns - 1))
        count = np.maximum(hi - lo + 1.0, 0.0).astype(np.intp)
        which = np.repeat(np.arange(count.shape[0]), count)
        east_index = np.repeat(lo.astype(np.intp), count) + _within(count)
        return which // rows, which % rows, east_index


@dataclass(frozen=True, slots=True)
class _LiveSegments:
    """Per pair, LIVE_SEGMENTS stretches downwind [start[s], start[s + 1]] and on each a bound on |y| beyond
    which no rate of the place's posterior exceeds the level (0: nothing exceeds on the stretch)."""

    start: NDArray[np.float64]  # (pairs, LIVE_SEGMENTS + 1)
    half_width: NDArray[np.float64]  # (pairs, LIVE_SEGMENTS)


def _live_segments(pairs: _Pairs, level_ppm: float) -> _LiveSegments:
    """Where each pair's plume can exceed ``level_ppm`` at the highest rate its posterior gives any weight.

    Bounds, not estimates: the axis concentration is at most G(x) = Q to_ppm / (pi u sigma_y sigma_z) (the
    release height only lowers it), which falls with x because Briggs's sigmas grow with x (each is
    a x (1 + b x)^p with b >= 0 and p >= -1). So past the first x where G <= level nothing exceeds it, and on
    [x0, x1] the half-width sigma_y sqrt(2 ln(G / level)) is at most sigma_y(x1) sqrt(2 ln(G(x0) / level)); a
    fine geometric grid of x up to the cloud's reach gives those per step, a segment takes its steps' largest.
    Each bound gets a little slack, far more than the rounding of the concentration."""
    wind = pairs.wind
    # A place's directions (its len(_DIR_OFFSETS) pairs in a row) share its reach and its top rate: the bounds are
    # per place, then per pair.
    places = pairs.hypotheses[:: len(_DIR_OFFSETS)]
    top = np.zeros(len(places), np.float64)
    for index, h in enumerate(places):
        weighted = np.flatnonzero(h.rate_weights > 0)
        top[index] = h.rates_g_s[weighted[-1]] if weighted.shape[0] else 0.0
    reach = np.maximum(pairs.reach[:: len(_DIR_OFFSETS)], 1.0)
    x = np.exp(np.linspace(0.0, 1.0, LIVE_STEPS + 1)[None, :] * np.log(reach)[:, None])
    x[:, 0], x[:, -1] = 1.0, reach
    sigma_y, sigma_z = briggs_sigmas(x, wind.stability, wind.terrain)
    speed = max(wind.speed_m_s, 0.5)
    to_ppm = 1000.0 * MOLAR_VOLUME_L / wind.molar_mass_g_mol
    ratio = top[:, None] * to_ppm / (math.pi * speed * sigma_y * sigma_z) / level_ppm  # G(x) / level
    # Steps [x_i, x_i+1] from the source up to the first x_i where G <= level (the rest: nothing there).
    over = ratio[:, :-1] > 1.0
    live = np.where(over.all(axis=1), LIVE_STEPS, np.argmin(over, axis=1))
    half = np.where(over, sigma_y[:, 1:] * np.sqrt(2.0 * np.log(np.where(over, ratio[:, :-1], 1.0))), 0.0)
    cuts = np.rint(np.linspace(0.0, 1.0, LIVE_SEGMENTS + 1)[None, :] * live[:, None]).astype(np.intp)
    start = np.take_along_axis(x, cuts, axis=1)
    start[:, -1] = start[:, -1] * (1.0 + 1e-9) + 1.0
    step = np.arange(LIVE_STEPS)[None, :]
    half_width = np.zeros((len(places), LIVE_SEGMENTS), np.float64)
    for s in range(LIVE_SEGMENTS):  # each segment's widest step (none: nothing exceeds there)
        inside = (step >= cuts[:, s : s + 1]) & (step < cuts[:, s + 1 : s + 2])
        half_width[:, s] = np.where(inside, half, 0.0).max(axis=1)
    half_width = np.where(half_width > 0, half_width * (1.0 + 1e-9) + 1.0, 0.0)
    start = np.repeat(start, len(_DIR_OFFSETS), axis=0)
    half_width = np.repeat(half_width, len(_DIR_OFFSETS), axis=0)
    return _LiveSegments(start, half_width)


def _within(count: NDArray[np.intp]) -> NDArray[np.intp]:
    """0, 1, ..., count[i] - 1 for each i in turn (the positions inside runs of those lengths)."""
    out: NDArray[np.intp] = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return out


def _reach_probability(fields: list[UnitField], level_ppm: float) -> float:
    peaks = np.array([float(field.ppm_per_g_s.max()) for field in fields])
    return float(_reach_probabilities(fields, peaks, level_ppm, 1)[0])


def _reach_probabilities(
    fields: list[UnitField], peaks: NDArray[np.float64], level_ppm: float, areas: int
) -> NDArray[np.float64]:
    """``_reach_probability`` for ``areas`` areas at once: ``peaks[f]`` holds field f's highest value on each area
    (no fields, no places: 0 everywhere)."""
    return np.minimum(1.0, _mixture_sum(fields, peaks.reshape(len(fields), areas), level_ppm))


def _bounds(
    hypotheses: tuple[Hypothesis, ...], wind: MixtureWind, level_ppm: float, now_s: float, min_probability: float
) -> tuple[float, float, float, float] | None:
    """A box holding every place where P(C > level) can reach ``min_probability``, in any direction.

    The mixture is an average over places, so a point reaches it only if some place's P(Q > needed rate) does: the
    rate that matters is one grid step above the highest rate with at least that much posterior at or above it.
    (The highest rate with any weight at all, up to 30 kg/s, made the box ~40 km wide and the raster cells ~330 m,
    wider than a plume 1 km out, so the expected zone of a well-located release could come out empty.)

    That box still lets a place with 1 % of the posterior set it (its own median rate reaching far), so it is cut
    by a second one that weighs the places: outside the reach of a set of places at tail tau = p/2, P <= (its
    mass) + tau (1 - its mass), so P >= p needs places of mass at least m = (p - tau) / (1 - tau) reaching the point
    at tail tau, and one of them is among the most probable places holding more than 1 - m. For the expected zone
    (p = 50 %) that is the places holding two thirds, at their upper quartile rate. (With the class's and the
    wind's uncertainty in the rate posteriors, the light places' boxes reached the cloud's whole hour of travel:
    a 40 km box, 330 m cells, and the expected AEGL-2 zone of the Cl2 drill came out empty.) Both boxes hold every
    such point, so their intersection does."""
    every = _reach_boxes(hypotheses, wind, level_ppm, now_s, min_probability)
    tau = min_probability / 2.0
    mass = (min_probability - tau) / (1.0 - tau)
    order = sorted(hypotheses, key=lambda h: -h.probability)
    held = np.cumsum([h.probability for h in order]) / max(sum(h.probability for h in order), 1e-300)
    heavy = tuple(order[: int(np.searchsorted(held, 1.0 - mass, side="right")) + 1])
    weighed = _reach_boxes(heavy, wind, level_ppm, now_s, tau)
    if not every or not weighed:
        return None
    a, b = np.array(every), np.array(weighed)
    box = (
        max(float(a[:, 0].min()), float(b[:, 0].min())),
        max(float(a[:, 1].min()), float(b[:, 1].min())),
        min(float(a[:, 2].max()), float(b[:, 2].max())),
        min(float(a[:, 3].max()), float(b[:, 3].max())),
    )
    return box if box[0] < box[2] and box[1] < box[3] else None


def _reach_boxes(
    hypotheses: tuple[Hypothesis, ...], wind: MixtureWind, level_ppm: float, now_s: float, tail: float
) -> list[tuple[float, float, float, float]]:
    """Per place, the box (in any direction) its footprint reaches at the rate one grid step above the highest
    with at least ``tail`` of its posterior at or above it."""
    boxes = []
    for h in hypotheses:
        above = np.cumsum(h.rate_weights[::-1])[::-1]
        reaching = np.nonzero(above >= tail)[0]
        top = float(h.rates_g_s[min(int(reaching[-1]) + 1, h.rates_g_s.shape[0] - 1)]) if reaching.shape[0] else 0.0
        if top <= 0.0:
            continue
        radius = footprint_radius(_plume(h, wind, 0.0, top, now_s), level_ppm)
        if radius is None:
            continue
        boxes.append((h.east_m - radius, h.north_m - radius, h.east_m + radius, h.north_m + radius))
    return boxes


def probability_zones(
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    level_ppm: float,
    now_s: float,
    thresholds: tuple[float, ...] = (EXPECTED_PROBABILITY, POSSIBLE_PROBABILITY),
) -> list[BaseGeometry]:
    """The areas where P(concentration > level) reaches each threshold, as shapes (a raster, merged by rows).

    Each threshold gets its own raster over the box it can reach: the possible (5 %) zone's box spans what the
    rate posterior's upper tail reaches, ~30 km for an AEGL-2 of Cl2 with the class uncertain, and its 120 cells
    of ~250 m are wider than the expected zone a few hundred metres from the source, which then fell between the
    cells' centres and came out empty while the smaller AEGL-3 expected zone did not."""
    return [_probability_zone(hypotheses, wind, level_ppm, now_s, threshold) for threshold in thresholds]


def _probability_zone(
    hypotheses: tuple[Hypothesis, ...], wind: MixtureWind, level_ppm: float, now_s: float, threshold: float
) -> BaseGeometry:
    bounds = _bounds(hypotheses, wind, level_ppm, now_s, threshold)
    if bounds is None:
        return Polygon()
    e0, n0, e1, n1 = bounds
    cell = max(MIN_CELL_M, max(e1 - e0, n1 - n0) / RASTER_CELLS)
    east = np.arange(e0 + cell / 2, e1, cell)
    north = np.arange(n0 + cell / 2, n1, cell)
    prob = ZoneRaster(east, north).exceedance(hypotheses, wind, level_ppm, now_s)
    # Each row's runs of cells over the threshold as one box, all rows at once (row by row, run by run).
    on = np.zeros((prob.shape[0], prob.shape[1] + 2), np.int8)
    on[:, 1:-1] = prob >= threshold
    rows, edges = np.nonzero(np.diff(on, axis=1))
    row, first, last = rows[::2], edges[::2], edges[1::2]
    if row.shape[0] == 0:
        return Polygon()
    y = north[row]
    boxes = shapely.box(east[first] - cell / 2, y - cell / 2, east[last - 1] + cell / 2, y + cell / 2)
    return shapely.unary_union(boxes)


@functools.lru_cache(maxsize=4096)
def _receptor_points(outline: Polygon) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``receptor_points``, once per outline (a site's receptors are assessed every minute of an alarm), read-only."""
    east, north = receptor_points(outline)
    east.setflags(write=False)
    north.setflags(write=False)
    return east, north


def receptor_points(outline: Polygon) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Sample points of a receptor: its vertices, centroid and a grid over its inside."""
    ring = np.asarray(outline.exterior.coords)
    e0, n0, e1, n1 = outline.bounds
    ge, gn = np.meshgrid(np.linspace(e0, e1, RECEPTOR_GRID), np.linspace(n0, n1, RECEPTOR_GRID))
    inside = shapely.contains_xy(outline, ge.ravel(), gn.ravel())
    east = np.concatenate([ring[:, 0], [outline.centroid.x], ge.ravel()[inside]])
    north = np.concatenate([ring[:, 1], [outline.centroid.y], gn.ravel()[inside]])
    return east, north


def _median_peak_ppms(fields: list[UnitField], peaks: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per area, the mixture's median of the highest concentration over its points (``peaks``: field x area, each
    field's highest value there): each place's rate grid scaled by the peak, weighed by place probability,
    direction weight and rate posterior, sorted, and the value where the cumulative weight reaches half."""
    rates = np.concatenate([field.hypothesis.rates_g_s for field in fields])
    of_field = np.repeat(np.arange(len(fields)), [field.hypothesis.rates_g_s.shape[0] for field in fields])
    weights = np.concatenate(
        [field.hypothesis.probability * field.direction_weight * field.hypothesis.rate_weights for field in fields]
    )
    values = peaks[of_field, :].T * rates[None, :]  # area x (field, rate)
    order = np.argsort(values, axis=1)
    cdf = np.cumsum(weights[order], axis=1)
    # The first value whose cumulative weight reaches half the total (the cumulative weights never fall).
    index = np.minimum((cdf < 0.5 * cdf[:, -1:]).sum(axis=1), values.shape[1] - 1)
    median: NDArray[np.float64] = np.take_along_axis(values, order, axis=1)[np.arange(values.shape[0]), index]
    return median


def assess_receptor_mixture(
    receptor: ReceptorArea,
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    levels: list[ZoneLevel],
    expected: dict[str, BaseGeometry],
    now_s: float,
) -> ReceptorImpact:
    """``assess_receptors_mixture`` for one receptor."""
    return assess_receptors_mixture([receptor], hypotheses, wind, levels, expected, now_s)[0]


def assess_receptors_mixture(
    receptors: list[ReceptorArea],
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    levels: list[ZoneLevel],
    expected: dict[str, BaseGeometry],
    now_s: float,
) -> list[ReceptorImpact]:
    """Per receptor and level the probability that the zone reaches the receptor (the level exceeded somewhere on
    it), the expected people over the level when that is >= 50 %, arrival of the zone, the median outdoor and
    sheltered concentrations, and advice. The plume is evaluated once on every receptor's points together (the same
    for every level): per receptor it cost more in calls than in arithmetic."""
    if not receptors:
        return []
    points = [_receptor_points(r.outline) for r in receptors]
    east = np.concatenate([e for e, _ in points])
    north = np.concatenate([n for _, n in points])
    starts = np.cumsum([0, *(e.shape[0] for e, _ in points)])
    fields = unit_fields(hypotheses, wind, east, north, now_s)
    ppm = np.stack([field.ppm_per_g_s for field in fields]) if fields else np.zeros((0, east.shape[0]))
    # Each field's highest value on each receptor (every receptor has at least its outline's vertices).
    peaks = np.maximum.reduceat(ppm, starts[:-1], axis=1) if fields else np.zeros((0, len(receptors)))
    reaching = {level.name: _reach_probabilities(fields, peaks, level.ppm, len(receptors)) for level in levels}
    # The points' exceedance counts the people of a receptor the zone reaches more likely than not, and only
    # theirs: only those points are summed.
    exceeding: list[dict[str, NDArray[np.float64]]] = [{} for _ in receptors]
    for level in levels:
        reached = np.flatnonzero(reaching[level.name] >= EXPECTED_PROBABILITY).tolist()
        if reached:
            columns = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in reached])
            each = np.clip(_mixture_sum(fields, ppm[:, columns], level.ppm), 0.0, 1.0)
            ends = np.cumsum([0, *(starts[i + 1] - starts[i] for i in reached)])
            for k, i in enumerate(reached):
                exceeding[i][level.name] = each[ends[k] : ends[k + 1]]
    outdoor = _median_peak_ppms(fields, peaks).tolist() if fields else [0.0] * len(receptors)
    impacts = []
    for i, receptor in enumerate(receptors):
        reach = {name: float(p[i]) for name, p in reaching.items()}
        impacts.append(
            _receptor_impact(receptor, hypotheses, wind, levels, expected, now_s, reach, exceeding[i], outdoor[i])
        )
    return impacts


def _receptor_impact(
    receptor: ReceptorArea,
    hypotheses: tuple[Hypothesis, ...],
    wind: MixtureWind,
    levels: list[ZoneLevel],
    expected: dict[str, BaseGeometry],
    now_s: float,
    reaching: dict[str, float],
    exceeding: dict[str, NDArray[np.float64]],
    outdoor: float,
) -> ReceptorImpact:
    """One receptor's impact from its reach probabilities, per-point exceedances and median peak per level."""
    probability: dict[str, float] = {}
    people: dict[str, int] = {}
    expected_zone = possible_zone = None
    for level in levels:  # highest first
        reach = reaching[level.name]
        probability[level.name] = round(reach, 4)
        if reach >= EXPECTED_PROBABILITY:
            expected_zone = expected_zone or level.name
            # Where on the receptor is uncertain: the expected number of people over the level.
            people[level.name] = round(receptor.population * float(np.mean(exceeding[level.name])))
        if reach >= POSSIBLE_PROBABILITY:
            possible_zone = possible_zone or level.name
    arrival = None
    zone = expected[levels[-1].name]
    if expected_zone is not None and not zone.is_empty and zone.intersects(receptor.outline):
        top = max(hypotheses, key=lambda h: h.probability)
        nearest = nearest_points(zone.intersection(receptor.outline), shapely.Point(top.east_m, top.north_m))[0]
        distance = math.hypot(nearest.x - top.east_m, nearest.y - top.north_m)
        arrival = max(0.0, distance / max(wind.speed_m_s, 0.5) - max(0.0, now_s - top.start_s)) / 60.0
    elif expected_zone is not None:
        arrival = 0.0
    indoor = indoor_mean_ppm(outdoor, receptor.air_changes_per_hour, OUTLOOK_S / 3600.0)
    advice, reason = advice_for(receptor, expected_zone or possible_zone, arrival, indoor, levels)
    return ReceptorImpact(
        receptor.id, receptor.name, receptor.type, receptor.population, expected_zone, possible_zone, people,
        arrival, outdoor, indoor, advice, reason, probability,
    )  # fmt: skip
