"""Where is a gamma point source, and how strong: a search area from the environmental stations that see it.

For a rise at gamma stations without rain, each station reads its own background plus S exp(-mu r) / r^2, S the
source's dose rate at 1 m (nSv/h at 1 m) and mu the linear attenuation coefficient of air: 662 keV (Cs-137) in air
at sea-level density has mu/rho = 0.0775 cm2/g (Hubbell & Seltzer, NIST X-ray mass attenuation coefficients, NISTIR
5632), i.e. mu = 0.0093 /m. Build-up in air is ignored, which underestimates S by a factor of up to 2-3 at several
hundred metres (a stated limit). For each grid cell the model is linear in S, so S is the non-negative weighted
least-squares value, and the cell's likelihood comes from the residuals; the posterior over cells (uniform prior)
gives the 95 % search area. Reading uncertainty: counting noise and the background's own variability, taken as
sigma^2 = (0.05 background)^2 + (0.1 excess)^2 + background nSv/h x 1 (a Poisson-like term).
Pure numpy: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

AIR_MU_PER_M_CS137 = 0.0093
# The strongest source that can be lost, stolen or dumped: IAEA category 1 mobile sources (teletherapy heads,
# a few hundred TBq of Co-60) give some tens of Sv/h at 1 m (Co-60: about 0.36 mSv/h per GBq at 1 m); 1000 Sv/h
# leaves a wide margin. Without a bound, one station's rise is "explained" by an absurd source far away.
MAX_STRENGTH_NSV_H_AT_1M = 1.0e12
MIN_DISTANCE_M = 1.0


@dataclass(frozen=True, slots=True)
class GammaSourceEstimate:
    """The most probable position and strength, and the 95 % search area as grid cells."""

    east_m: float
    north_m: float
    strength_nsv_h_at_1m: float  # at the most probable position
    area_east_m: NDArray[np.float64]  # cells of the 95 % search area
    area_north_m: NDArray[np.float64]
    cell_step_m: float
    stations_seeing: int


def estimate_gamma_source(
    station_east_m: NDArray[np.float64],
    station_north_m: NDArray[np.float64],
    dose_rate_nsv_h: NDArray[np.float64],
    background_nsv_h: NDArray[np.float64],
    cells_east_m: NDArray[np.float64],
    cells_north_m: NDArray[np.float64],
    cell_step_m: float,
    mu_per_m: float = AIR_MU_PER_M_CS137,
    max_strength_nsv_h_at_1m: float = MAX_STRENGTH_NSV_H_AT_1M,
) -> GammaSourceEstimate:
    """Posterior over grid cells for a point source from station dose rates above their backgrounds."""
    excess = dose_rate_nsv_h - background_nsv_h
    sigma2 = (0.05 * background_nsv_h) ** 2 + (0.1 * np.maximum(excess, 0.0)) ** 2 + background_nsv_h
    weight = 1.0 / sigma2
    seeing = int((excess > 3.0 * np.sqrt(sigma2)).sum())
    r = np.maximum(
        np.hypot(station_east_m[None, :] - cells_east_m[:, None], station_north_m[None, :] - cells_north_m[:, None]),
        MIN_DISTANCE_M,
    )
    g = np.exp(-mu_per_m * r) / r**2  # dose per unit strength, (cells, stations)
    best_fit = (g * weight * excess).sum(axis=1) / (g**2 * weight).sum(axis=1)
    strength = np.clip(best_fit, 0.0, max_strength_nsv_h_at_1m)
    chi2 = ((excess[None, :] - strength[:, None] * g) ** 2 * weight).sum(axis=1)
    log_post = -0.5 * chi2
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    order = np.argsort(-post)
    inside = order[: int(np.searchsorted(np.cumsum(post[order]), 0.95) + 1)]
    best = int(order[0])
    return GammaSourceEstimate(
        float(cells_east_m[best]),
        float(cells_north_m[best]),
        float(strength[best]),
        cells_east_m[inside],
        cells_north_m[inside],
        cell_step_m,
        seeing,
    )
