"""Toxic gases the park monitors, with the reference levels in ppm.

Sources (see shared REFERENCE.md): US EPA final AEGLs; AIHA ERPG handbook; NIOSH IDLH list;
GBZ 2.1 occupational limits (mg/m3, converted here with ppm = mg/m3 x 24.45 / M at 25 degC, 1 atm).
"""

from __future__ import annotations

from dataclasses import dataclass

MOLAR_VOLUME_L = 24.45  # litres per mole at 25 degC and 1 atm


@dataclass(frozen=True, slots=True)
class Substance:
    """Reference data for one gas. Levels are ppm; ``None`` means no value is published."""

    formula: str
    molar_mass_g_mol: float
    aegl1_60min: float | None
    aegl2: tuple[float, float, float]  # 10 / 30 / 60 min
    aegl3: tuple[float, float, float]  # 10 / 30 / 60 min
    erpg: tuple[float | None, float, float]  # ERPG-1 / 2 / 3
    idlh: float
    occupational_limit_mg_m3: float  # GBZ 2.1 MAC, or PC-STEL where no MAC exists
    twa_limit_mg_m3: float | None = None  # GBZ 2.1 PC-TWA where one exists

    def mg_m3_to_ppm(self, mg_m3: float) -> float:
        """Convert a mass concentration to ppm by volume."""
        return mg_m3 * MOLAR_VOLUME_L / self.molar_mass_g_mol

    @property
    def occupational_limit_ppm(self) -> float:
        """The occupational limit that GB/T 50493 detector alarm levels are based on, in ppm."""
        return self.mg_m3_to_ppm(self.occupational_limit_mg_m3)


SUBSTANCES: dict[str, Substance] = {
    "Cl2": Substance("Cl2", 70.90, 0.5, (2.8, 2.8, 2.0), (50.0, 28.0, 20.0), (1.0, 3.0, 20.0), 10.0, 1.0),
    "HF": Substance("HF", 20.01, 1.0, (95.0, 34.0, 24.0), (170.0, 62.0, 44.0), (2.0, 20.0, 50.0), 30.0, 2.0),
    "NH3": Substance(
        "NH3", 17.03, 30.0, (220.0, 220.0, 160.0), (2700.0, 1600.0, 1100.0), (25.0, 150.0, 750.0), 300.0, 30.0, 20.0
    ),
    "H2S": Substance("H2S", 34.08, 0.51, (41.0, 32.0, 27.0), (76.0, 59.0, 50.0), (0.1, 30.0, 100.0), 100.0, 10.0),
    "COCl2": Substance("COCl2", 98.92, None, (0.60, 0.60, 0.30), (3.6, 1.5, 0.75), (None, 0.5, 1.5), 2.0, 0.5),
    "HCl": Substance("HCl", 36.46, 1.8, (100.0, 43.0, 22.0), (620.0, 210.0, 100.0), (3.0, 20.0, 150.0), 50.0, 7.5),
}
