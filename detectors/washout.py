"""Radon-progeny washout: how fast the excess dose rate from rain must fall once the rain has stopped.

Rain scavenges the short-lived radon progeny Pb-214 (half-life 26.8 min) and Bi-214 (19.9 min) from the air and
deposits them on the ground, where they decay (half-lives: ENSDF / NNDC Nuclear Wallet Cards). Deposition from air in
which the two are near equilibrium lays down equal activities of each, and the Pb-214 on the ground feeds more
Bi-214, so the Bi-214/Pb-214 activity ratio on the ground is at least 1 when the rain stops. After that the excess
follows the Bateman solution (Bateman 1910); with a ratio of exactly 1 it decays slowest, so that case bounds every
real washout from above:

    A_Bi(t) / A_Bi(0) = k e^(-l_Pb t) - (k - 1) e^(-l_Bi t),   k = l_Bi / (l_Bi - l_Pb)

Most of the dose rate comes from Bi-214 (about 1.5 MeV of gamma rays per decay against about 0.2 MeV for Pb-214), so
the excess at time t after the rain is at most ``washout_fraction(t)`` of the excess when it stopped: about 0.4 after
one hour, 0.2 after ninety minutes and under 0.05 after three hours (Mercier et al., J. Environ. Radioact. 100, 2009;
Livesay et al., J. Environ. Radioact. 137, 2014, observe the same two-to-three-hour return to background).

How much washout can add is bounded too. Networks see rain raise the ambient dose rate by typically 10-50 % of the
station's background and rarely by more than about 100 % even in heavy showers (Mercier et al. 2009; Livesay et al.
2014; the German BfS ODL network reports rain peaks of up to about twice background), because the
progeny activity in the rained-out air column is itself bounded by the radon in it; in absolute terms the reported
peaks stay within about +100 nSv/h. The washout excess comes from the air, not from the station's soil, so at a
low-background station (30-50 nSv/h) the absolute figure, not the relative one, is the limit: the ceiling is the
larger of ``WASHOUT_MAX_EXCESS`` x background and ``WASHOUT_MAX_NSV_H``. ``washout_bound`` adds a safety factor for
stations and storms beyond the published ones, so only a rise clearly above anything washout has been seen to do is
judged by it.

That ceiling is what heavy rain does. Lighter rain brings down less: the sudden rise of the Pb-214 activity on the
ground at the onset of rain grows as the square root of the rain rate (Bottardi et al., "Rain rate and radon
daughters' activity", Atmos. Environ. 238, 117728, 2020: a power law fitted to seven months of proximal gamma-ray
spectroscopy), and it saturates in heavy rain, where the radon progeny in the air column, not the rain, is the limit
(PTB: +90 nSv/h after 14 mm in 15 min, i.e. 56 mm/h, no more than the ceiling). So the ceiling is scaled by
``rain_level(R) = min(sqrt(R / HEAVY_RAIN_MM_H), 1)``, R the largest rain rate measured at the station during the
rain (by its own rain sensor, or a weather station's within 2 km: rules/sensor_table.py): full from 10 mm/h (heavy
rain), a third of it in 1 mm/h drizzle (about +50 nSv/h). Where no rain rate is measured at the station (only gauges
kilometres away, which in convective rain can see drizzle while the station is under the core of the cell), the rate
is unknown and the heavy-rain ceiling applies.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

PB214_HALF_LIFE_S = 26.8 * 60.0
BI214_HALF_LIFE_S = 19.9 * 60.0
_L_PB = np.log(2.0) / PB214_HALF_LIFE_S
_L_BI = np.log(2.0) / BI214_HALF_LIFE_S
_K = _L_BI / (_L_BI - _L_PB)
# Share of the progeny dose rate from each nuclide, by gamma energy emitted per decay.
_W_BI = 1.5 / (1.5 + 0.2)
_W_PB = 1.0 - _W_BI
# Largest washout excess networks report, as a fraction of the station's own background (see the module docstring).
WASHOUT_MAX_EXCESS = 1.0
WASHOUT_MAX_NSV_H = 100.0  # the same ceiling in absolute terms (what limits it at low-background stations)
# Safety factor on it: the bound is 1.5x the largest published peak, so rain alone never reaches it.
WASHOUT_CAP_FACTOR = 1.5
# Rain rate from which the full ceiling applies: "heavy rain" (American Meteorological Society glossary: more than
# 7.6 mm/h; 10 mm/h is the usual round figure). Below it the ceiling falls as the square root of the rate.
HEAVY_RAIN_MM_H = 10.0


def washout_fraction(dt_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Largest fraction of a washout excess left ``dt_s`` seconds after deposition stopped (1 for dt <= 0)."""
    t = np.maximum(dt_s, 0.0)
    pb = np.exp(-_L_PB * t)
    bi = _K * pb - (_K - 1.0) * np.exp(-_L_BI * t)
    out: NDArray[np.float64] = np.minimum(_W_PB * pb + _W_BI * bi, 1.0)
    return out


def rain_level(rate_mm_h: float) -> float:
    """Share of the heavy-rain washout ceiling that rain of ``rate_mm_h`` can reach (1 for an unknown rate, inf/nan)."""
    if not rate_mm_h < np.inf:  # inf or nan: no rain rate measured at the station
        return 1.0
    return float(min(np.sqrt(max(rate_mm_h, 0.0) / HEAVY_RAIN_MM_H), 1.0))


def washout_ceiling(background: float, rate_mm_h: float = np.inf) -> float:
    """Largest washout excess (fraction of ``background``) rain of ``rate_mm_h`` can explain, safety factor in."""
    heavy = WASHOUT_CAP_FACTOR * max(WASHOUT_MAX_EXCESS, WASHOUT_MAX_NSV_H / max(background, 1.0))
    return heavy * rain_level(rate_mm_h)


def washout_bound(
    peak: float, dry_s: float, tolerance: float, margin: float, background: float, rate_mm_h: float = np.inf
) -> float:
    """Largest excess (fraction of background) washout can explain ``dry_s`` seconds after deposition stopped.

    ``peak`` is the largest excess seen while it rained; only the part of it washout can have made (up to the capped
    published ceiling for the rain's rate) may decay as washout, the rest is not washout in the first place. While
    it rains (``dry_s`` <= 0) the bound is the ceiling itself. ``tolerance`` is relative slack on the decay,
    ``margin`` absolute slack for the noise of the excess estimate; ``background`` (nSv/h) turns the absolute
    ceiling into a fraction; ``rate_mm_h`` is the largest rain rate measured at the station during the rain
    (inf: not measured there, the heavy-rain ceiling applies).
    """
    cap = washout_ceiling(background, rate_mm_h)
    if dry_s <= 0.0:
        return cap + margin
    left = float(washout_fraction(np.asarray(dry_s, np.float64)))
    return min(max(peak, 0.0), cap) * min(tolerance * left, 1.0) + margin
