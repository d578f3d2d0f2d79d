"""Gaussian plume ground-level concentration for the simulator.

Stand-in until ``detectors/plume.py`` (branch ``detectors``) lands; the simulator calls only
``plume_concentration_g_m3`` so switching is a one-line change. Pasquill-Gifford classes A-F with the
Briggs open-country sigma curves (REFERENCE.md: "Dispersion").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# Briggs (1973) open-country dispersion coefficients: sigma_y = a x (1 + b x)^-0.5; sigma_z = c x (1 + d x)^e.
_BRIGGS_OPEN: dict[str, tuple[float, float, float, float, float]] = {
    "A": (0.22, 0.0001, 0.20, 0.0, 1.0),
    "B": (0.16, 0.0001, 0.12, 0.0, 1.0),
    "C": (0.11, 0.0001, 0.08, 0.0002, -0.5),
    "D": (0.08, 0.0001, 0.06, 0.0015, -0.5),
    "E": (0.06, 0.0001, 0.03, 0.0003, -1.0),
    "F": (0.04, 0.0001, 0.016, 0.0003, -1.0),
}
MIN_WIND_M_S = 1.0  # the model is unreliable below ~1.5 m/s; never divide by a calm


def plume_concentration_g_m3(
    rate_g_s: float,
    wind_speed_m_s: NDArray[np.float64],
    downwind_m: NDArray[np.float64],
    crosswind_m: NDArray[np.float64],
    stability: str,
    release_height_m: float = 0.0,
    receptor_height_m: float = 2.0,
) -> NDArray[np.float64]:
    """Concentration (g/m3) at receptors ``downwind_m``/``crosswind_m`` from a continuous point release; 0 upwind."""
    a, b, c, d, e = _BRIGGS_OPEN[stability]
    x = np.maximum(downwind_m, 1.0)
    sigma_y = a * x * (1.0 + b * x) ** -0.5
    sigma_z = c * x * (1.0 + d * x) ** e
    u = np.maximum(wind_speed_m_s, MIN_WIND_M_S)
    lateral = np.exp(-0.5 * (crosswind_m / sigma_y) ** 2)
    vertical = np.exp(-0.5 * ((receptor_height_m - release_height_m) / sigma_z) ** 2) + np.exp(
        -0.5 * ((receptor_height_m + release_height_m) / sigma_z) ** 2
    )
    concentration = rate_g_s / (2.0 * np.pi * u * sigma_y * sigma_z) * lateral * vertical
    return np.where(downwind_m > 0.0, concentration, 0.0)
