"""Time bins for the source-term estimator: mean gas readings with a saturation flag, and the mean wind.

The wind is averaged as a unit vector for its direction and as a scalar for its speed, and the spread of the
direction inside a bin is Yamartino's (1984) single-pass estimate, J. Climate Appl. Meteor. 23, 1362-1366:
sigma_theta = asin(eps) (1 + 0.1547 eps^3), eps = sqrt(1 - (mean sin^2 + mean cos^2)).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

MIN_DIRECTION_SD_DEG = 2.0  # vane resolution: the spread of a steadier wind is within the Briggs sigmas anyway


def bin_edges(end_s: float, bin_s: float, n_bins: int) -> NDArray[np.float64]:
    """Ends of ``n_bins`` bins of ``bin_s`` seconds, the last ending at ``end_s``."""
    return end_s - bin_s * np.arange(n_bins - 1, -1, -1, dtype=np.float64)


def bin_gas(
    times_s: NDArray[np.float64],
    column: NDArray[np.intp],
    ppm: NDArray[np.float64],
    n_detectors: int,
    bin_end_s: NDArray[np.float64],
    bin_s: float,
    full_scale_ppm: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Mean reading per (bin, detector), NaN where none, and whether any reading reached full scale."""
    n_bins = bin_end_s.shape[0]
    start = bin_end_s[0] - bin_s
    index = np.floor((times_s - start) / bin_s).astype(np.int64)
    keep = (index >= 0) & (index < n_bins) & np.isfinite(ppm)
    flat = index[keep] * n_detectors + column[keep]
    sums = np.bincount(flat, ppm[keep], n_bins * n_detectors)
    counts = np.bincount(flat, minlength=n_bins * n_detectors)
    full = ppm[keep] >= full_scale_ppm[column[keep]]
    saturated = np.bincount(flat, full.astype(np.float64), n_bins * n_detectors) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
    return mean.reshape(n_bins, n_detectors), saturated.reshape(n_bins, n_detectors)


def bin_wind(
    times_s: NDArray[np.float64],
    speed_m_s: NDArray[np.float64],
    from_deg: NDArray[np.float64],
    bin_end_s: NDArray[np.float64],
    bin_s: float,
    spread_window_s: float = 600.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Mean speed, vector-mean direction per bin, and the Yamartino direction spread over the ``spread_window_s``
    ending with each bin (a station reporting once a minute has one direction per bin, but the plume meanders
    over minutes); bins without a report take the nearest bin that has one."""
    n_bins = bin_end_s.shape[0]
    if times_s.shape[0] == 0:
        raise ValueError("no wind readings to bin")
    start = bin_end_s[0] - bin_s
    index = np.clip(np.floor((times_s - start) / bin_s).astype(np.int64), 0, n_bins - 1)
    rad = np.radians(from_deg)
    counts: NDArray[np.float64] = np.bincount(index, minlength=n_bins).astype(np.float64)
    mean_sin: NDArray[np.float64] = np.bincount(index, np.sin(rad), n_bins).astype(np.float64)
    mean_cos: NDArray[np.float64] = np.bincount(index, np.cos(rad), n_bins).astype(np.float64)
    mean_speed: NDArray[np.float64] = np.bincount(index, speed_m_s, n_bins).astype(np.float64)
    have = counts > 0
    width = max(1, round(spread_window_s / bin_s))
    cum = [np.concatenate([[0.0], np.cumsum(a)]) for a in (mean_sin, mean_cos, counts)]
    lo = np.maximum(np.arange(n_bins) + 1 - width, 0)
    hi = np.arange(n_bins) + 1
    win_sin, win_cos, win_n = ((c[hi] - c[lo]) for c in cum)
    win_n = np.maximum(win_n, 1.0)
    eps = np.sqrt(np.clip(1.0 - ((win_sin / win_n) ** 2 + (win_cos / win_n) ** 2), 0.0, 1.0))
    sd = np.degrees(np.arcsin(eps) * (1.0 + 0.1547 * eps**3))
    mean_sin[have] /= counts[have]
    mean_cos[have] /= counts[have]
    mean_speed[have] /= counts[have]
    direction = np.degrees(np.arctan2(mean_sin, mean_cos)) % 360.0
    if not have.all():
        # A bin without a wind report takes the nearest bin that has one (stations report once a minute).
        filled = np.nonzero(have)[0]
        nearest = filled[np.abs(np.arange(n_bins)[:, None] - filled[None, :]).argmin(axis=1)]
        mean_speed, direction, sd = mean_speed[nearest], direction[nearest], sd[nearest]
    return mean_speed, direction, np.maximum(sd, MIN_DIRECTION_SD_DEG)


def direction_sd_deg(directions_deg: NDArray[np.float64]) -> float:
    """Yamartino direction standard deviation of a set of directions (degrees)."""
    rad = np.radians(directions_deg)
    eps = math.sqrt(max(0.0, 1.0 - (float(np.mean(np.sin(rad))) ** 2 + float(np.mean(np.cos(rad))) ** 2)))
    return math.degrees(math.asin(eps) * (1.0 + 0.1547 * eps**3))


# Successive vane readings are not independent: the direction wanders on time scales of minutes, longer than the
# minute between a station's reports. For a first-order autoregressive series with lag-1 autocorrelation r, n samples
# carry the information of n (1 - r) / (1 + r) independent ones about their variance (Bayley & Hammersley 1946,
# J. R. Stat. Soc. Suppl. 8, 184-197; von Storch & Zwiers 1999, Statistical Analysis in Climate Research, s. 6.6).
# r is estimated from the same readings, so it is capped: 15 samples cannot tell 0.95 from 0.99.
MAX_DIRECTION_AUTOCORRELATION = 0.95


def direction_effective_samples(directions_deg: NDArray[np.float64]) -> float:
    """How many independent directions a time-ordered series of directions (degrees) is worth for its spread: n
    (1 - r) / (1 + r), r the lag-1 autocorrelation of the deviations from the circular mean (0 to
    ``MAX_DIRECTION_AUTOCORRELATION``), at least 2."""
    n = int(directions_deg.shape[0])
    if n < 3:
        return float(n)
    unit = np.exp(1j * np.radians(directions_deg))
    deviation = np.degrees(np.angle(unit * np.conj(unit.mean())))
    deviation = deviation - deviation.mean()
    power = float((deviation**2).sum())
    lag1 = float((deviation[1:] * deviation[:-1]).sum()) / power if power > 1e-9 * n else 0.0  # 0: no spread
    r = min(max(lag1, 0.0), MAX_DIRECTION_AUTOCORRELATION)
    return max(2.0, n * (1.0 - r) / (1.0 + r))
