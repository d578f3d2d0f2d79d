"""The benchmark's ground truth: a meandering puff model, deliberately unlike the estimator's steady plume.

Puffs are released every ``STEP_S`` seconds and carried by a wind whose direction wanders as an Ornstein-Uhlenbeck
process (standard deviation per stability class after the sigma-theta ranges of the US EPA's "Meteorological
Monitoring Guidance for Regulatory Modeling Applications", EPA-454/R-99-005, 2000, table 6-8) and whose speed
fluctuates by 10 %. Each puff grows with its travel distance by the power laws of Martin (1976), "Comments on the
change of concentration standard deviations with distance", JAPCA 26(2), 145-147, scaled down to the puff's
relative spread (the meander supplies the rest). Readings get a per-detector gain error, noise, a baseline offset,
quantisation and saturation at full scale, as fixed electrochemical cells do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.substances import MOLAR_VOLUME_L

STEP_S = 10.0
# Martin (1976): sigma_y = a x^0.894, sigma_z = c x^d + f, x in km, sigma in m (c, d, f below/above 1 km).
_MARTIN_A = {"A": 213.0, "B": 156.0, "C": 104.0, "D": 68.0, "E": 50.5, "F": 34.0}
_MARTIN_Z = {
    "A": ((440.8, 1.941, 9.27), (459.7, 2.094, -9.6)),
    "B": ((106.6, 1.149, 3.3), (108.2, 1.098, 2.0)),
    "C": ((61.0, 0.911, 0.0), (61.0, 0.911, 0.0)),
    "D": ((33.2, 0.725, -1.7), (44.5, 0.516, -13.0)),
    "E": ((22.8, 0.678, -1.3), (55.4, 0.305, -34.0)),
    "F": ((14.35, 0.740, -0.35), (62.6, 0.180, -48.6)),
}
# Wind-direction standard deviation by class (EPA-454/R-99-005 table 6-8 gives 22.5 / 17.5 / 12.5 / 7.5 / 3.8 / 2.1).
SIGMA_THETA_DEG = {"A": 22.5, "B": 17.5, "C": 12.5, "D": 7.5, "E": 3.8, "F": 2.1}
PUFF_SHARE = 0.6  # the puff's own spread as a share of the plume's (the meander is explicit)


def martin_sigmas(distance_m: NDArray[np.float64], stability: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Martin (1976) sigma_y, sigma_z (m) at travel distances (m)."""
    x_km = np.maximum(distance_m, 1.0) / 1000.0
    sigma_y = _MARTIN_A[stability] * x_km**0.894
    (c1, d1, f1), (c2, d2, f2) = _MARTIN_Z[stability]
    sigma_z = np.where(x_km < 1.0, c1 * x_km**d1 + f1, c2 * x_km**d2 + f2)
    return np.maximum(sigma_y, 0.5), np.maximum(sigma_z, 0.5)


@dataclass(frozen=True, slots=True)
class TrueRelease:
    """One simulated release and its weather."""

    east_m: float
    north_m: float
    height_m: float
    rate_g_s: float
    start_s: float
    wind_speed_m_s: float
    wind_from_deg: float
    stability: str
    molar_mass_g_mol: float


@dataclass(frozen=True, slots=True)
class SimulatedSeries:
    """10-s readings (steps x detectors) and the true wind per step."""

    times_s: NDArray[np.float64]
    ppm: NDArray[np.float64]
    wind_speed_m_s: NDArray[np.float64]
    wind_from_deg: NDArray[np.float64]


def simulate(
    release: TrueRelease,
    det_east_m: NDArray[np.float64],
    det_north_m: NDArray[np.float64],
    end_s: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """True concentrations (ppm) at the detectors every STEP_S from 0 to ``end_s``, and the wind."""
    times = np.arange(0.0, end_s, STEP_S)
    n = times.shape[0]
    sd = math.radians(SIGMA_THETA_DEG[release.stability])
    tau = 300.0
    phi = math.exp(-STEP_S / tau)
    wander = np.zeros(n)
    wander[0] = rng.normal(0.0, sd)
    shocks = rng.normal(0.0, sd * math.sqrt(1 - phi**2), n)
    for i in range(1, n):
        wander[i] = phi * wander[i - 1] + shocks[i]
    speed = release.wind_speed_m_s * (1.0 + 0.1 * rng.standard_normal(n)).clip(0.5, None)
    towards = np.radians(release.wind_from_deg + 180.0) + wander
    ve, vn = speed * np.sin(towards), speed * np.cos(towards)
    emitted = times >= release.start_s
    conc = np.zeros((n, det_east_m.shape[0]))
    mass = release.rate_g_s * STEP_S
    to_ppm = 1000.0 * MOLAR_VOLUME_L / release.molar_mass_g_mol
    # Puff k released at step k; its centre and travel distance after step i are cumulative sums of the wind.
    de_steps = ve * STEP_S
    dn_steps = vn * STEP_S
    dist_steps = speed * STEP_S
    cum_e, cum_n, cum_d = np.cumsum(de_steps), np.cumsum(dn_steps), np.cumsum(dist_steps)
    puff_ids = np.nonzero(emitted)[0]
    for i in range(n):
        born = puff_ids[puff_ids <= i]
        if born.shape[0] == 0:
            continue
        pe = release.east_m + cum_e[i] - cum_e[born] + 0.5 * de_steps[born]
        pn = release.north_m + cum_n[i] - cum_n[born] + 0.5 * dn_steps[born]
        travel = cum_d[i] - cum_d[born] + 0.5 * dist_steps[born]
        sy, sz = martin_sigmas(travel, release.stability)
        sy = np.maximum(sy * PUFF_SHARE, 5.0)
        r2 = (det_east_m[None, :] - pe[:, None]) ** 2 + (det_north_m[None, :] - pn[:, None]) ** 2
        puff = mass / ((2 * math.pi) ** 1.5 * sy**2 * sz) * 2.0 * np.exp(-0.5 * (release.height_m / sz) ** 2)
        conc[i] = (puff[:, None] * np.exp(-0.5 * r2 / (sy[:, None] ** 2))).sum(axis=0) * to_ppm
    return times, conc, speed, np.degrees(towards) - 180.0


def measure(
    true_ppm: NDArray[np.float64],
    full_scale_ppm: NDArray[np.float64],
    noise_ppm: NDArray[np.float64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """What the detectors report: gain error (lognormal, 15 %), 5 % reading noise, additive noise and offset,
    quantisation at a tenth of the noise, clipped at zero and at full scale."""
    n_det = true_ppm.shape[1]
    gain = np.exp(rng.normal(0.0, 0.15, n_det))
    offset = rng.uniform(0.0, 0.3, n_det) * noise_ppm
    reading = true_ppm * gain * (1.0 + 0.05 * rng.standard_normal(true_ppm.shape))
    reading = reading + offset + noise_ppm * 0.3 * rng.standard_normal(true_ppm.shape)
    step = noise_ppm / 10.0
    reading = np.round(reading / step) * step
    clipped: NDArray[np.float64] = np.clip(reading, 0.0, full_scale_ppm[None, :])
    return clipped
