"""The place a release is assessed in: around the detectors that see the gas, not the whole site.

A site may be a city of several chemical parks kilometres apart. A release in one park says nothing about the
detectors, candidate sources, weather stations and free-search cells of another: their zeros are no evidence
(the cloud cannot have reached them in the half hour the estimator looks back) and their candidates cannot be
the source of what this park sees. Pooling them costs time in proportion to their number (the estimator's work is
detectors x places x rates x starts) and lets another park's wind stand for this one's. The area is the box of the
detectors that see the gas, widened by ``margin_m`` on every side; the free search covers the area's gas
detectors and candidate sources as the site's grid covers the site's. A park smaller than the margin is then assessed
as a whole, exactly as if it were the whole site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.source_estimation import SearchGrid

# How far from a detector that sees the gas the source, the zero-reading detectors that bound the plume and the
# wind that carries it are looked for. Half an hour of the estimator's look-back at a light 3 m/s wind carries a
# cloud 5.4 km; a park's own detectors, sources and weather stations lie within a few kilometres of each other.
LOCAL_MARGIN_M = 6_000.0


@dataclass(frozen=True, slots=True)
class Area:
    """A box in site metres (east, north); an empty box (min > max) holds nothing."""

    east_min: float
    east_max: float
    north_min: float
    north_max: float

    @classmethod
    def around(
        cls, east_m: NDArray[np.float64], north_m: NDArray[np.float64], margin_m: float = LOCAL_MARGIN_M
    ) -> Area:
        """The box of the points given, widened by ``margin_m`` (the whole plane when there are none)."""
        if east_m.shape[0] == 0:
            return EVERYWHERE
        return cls(
            float(east_m.min()) - margin_m,
            float(east_m.max()) + margin_m,
            float(north_m.min()) - margin_m,
            float(north_m.max()) + margin_m,
        )

    def holds(self, east_m: NDArray[np.float64], north_m: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which of the points lie in the box (edges included)."""
        inside: NDArray[np.bool_] = (
            (east_m >= self.east_min)
            & (east_m <= self.east_max)
            & (north_m >= self.north_min)
            & (north_m <= self.north_max)
        )
        return inside

    def clip(self, grid: SearchGrid) -> SearchGrid:
        """The cells of ``grid`` whose centres lie in the box (west and south edges included, as ``SearchGrid``
        keeps them), as a grid on the same lattice; a box that covers the grid gives the grid itself back."""
        step, half = grid.step_m, grid.step_m / 2
        # Cell k's centre is east_min + (k + 1/2) step: skip the cells whose centre is west (south) of the box.
        skip_e = max(0, math.ceil((self.east_min - grid.east_min - half) / step))
        skip_n = max(0, math.ceil((self.north_min - grid.north_min - half) / step))
        east_max, north_max = min(grid.east_max, self.east_max), min(grid.north_max, self.north_max)
        if skip_e == 0 and skip_n == 0 and east_max == grid.east_max and north_max == grid.north_max:
            return grid
        east_min = grid.east_min + skip_e * step
        north_min = grid.north_min + skip_n * step
        return SearchGrid(east_min, max(east_max, east_min), north_min, max(north_max, north_min), step)


EVERYWHERE = Area(-math.inf, math.inf, -math.inf, math.inf)
