"""Shape checks on the reference table in detectors/substances.py: they catch a mistyped value, not a stale one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from detectors.config import CoreConfig
from detectors.kinds import Kind
from detectors.substances import AEGL_DURATIONS_MIN, REFERENCE_SOURCES, SUBSTANCES, UNVERIFIED, Substance


@pytest.mark.parametrize("formula", sorted(SUBSTANCES))
def test_aegl_levels_rise_with_severity_and_fall_with_duration(formula: str) -> None:
    substance: Substance = SUBSTANCES[formula]
    rows = [substance.aegl(level) for level in (1, 2, 3)]
    for row in rows:
        if row is None:
            continue
        assert len(row) == len(AEGL_DURATIONS_MIN)
        assert all(math.isfinite(value) and value > 0 for value in row)
        # A longer exposure never has a higher published level (C^n t = k with n > 0, or held flat).
        assert all(longer <= shorter for shorter, longer in itertools.pairwise(row))
    for lower, higher in itertools.pairwise(rows):
        if lower is None or higher is None:
            continue
        assert all(a < b for a, b in zip(lower, higher, strict=True))
    assert substance.ten_berge_n > 0


@pytest.mark.parametrize("formula", sorted(SUBSTANCES))
def test_erpg_tiers_rise_and_idlh_is_positive(formula: str) -> None:
    substance = SUBSTANCES[formula]
    tiers = [value for value in substance.erpg if value is not None]
    assert all(a < b for a, b in itertools.pairwise(tiers))
    assert substance.idlh > 0


def test_not_recommended_levels_are_absent_not_numbers() -> None:
    # NRC AEGL Vol. 1: phosgene AEGL-1 is "not recommended"; AIHA gives no ERPG-1 for phosgene.
    phosgene = SUBSTANCES["COCl2"]
    assert phosgene.aegl1_all is None
    assert phosgene.aegl(1) is None
    assert phosgene.aegl1_60min is None
    assert phosgene.erpg[0] is None


# The reference numbers as the sources give them (ppm; None: none published or not recommended), and which rows no
# reachable source gave (detectors/substances.py REFERENCE_SOURCES says why each is kept).
PINNED: dict[str, dict[str, tuple[float | None, ...] | float | None]] = {
    "Cl2": {
        "AEGL-1": (0.50, 0.50, 0.50, 0.50, 0.50),
        "AEGL-2": (2.8, 2.8, 2.0, 1.0, 0.71),
        "AEGL-3": (50.0, 28.0, 20.0, 10.0, 7.1),
        "ERPG": (1.0, 3.0, 20.0),
        "IDLH": 10.0,
    },
    "HF": {
        "AEGL-1": (1.0, 1.0, 1.0, 1.0, 1.0),
        "AEGL-2": (95.0, 34.0, 24.0, 12.0, 12.0),
        "AEGL-3": (170.0, 62.0, 44.0, 22.0, 22.0),
        "ERPG": (2.0, 20.0, 50.0),
        "IDLH": 30.0,
    },
    "NH3": {
        "AEGL-1": (30.0, 30.0, 30.0, 30.0, 30.0),
        "AEGL-2": (220.0, 220.0, 160.0, 110.0, 110.0),
        "AEGL-3": (2700.0, 1600.0, 1100.0, 550.0, 390.0),
        "ERPG": (25.0, 150.0, 750.0),
        "IDLH": 300.0,
    },
    "H2S": {
        "AEGL-1": (0.75, 0.60, 0.51, 0.36, 0.33),
        "AEGL-2": (41.0, 32.0, 27.0, 20.0, 17.0),
        "AEGL-3": (76.0, 59.0, 50.0, 37.0, 31.0),
        "ERPG": (0.1, 30.0, 100.0),
        "IDLH": 100.0,
    },
    "COCl2": {
        "AEGL-1": None,
        "AEGL-2": (0.60, 0.60, 0.30, 0.08, 0.04),
        "AEGL-3": (3.6, 1.5, 0.75, 0.20, 0.09),
        "ERPG": (None, 0.5, 1.5),
        "IDLH": 2.0,
    },
    "HCl": {
        "AEGL-1": (1.8, 1.8, 1.8, 1.8, 1.8),
        "AEGL-2": (100.0, 43.0, 22.0, 11.0, 11.0),
        "AEGL-3": (620.0, 210.0, 100.0, 26.0, 26.0),
        "ERPG": (3.0, 20.0, 150.0),
        "IDLH": 45.0,
    },
}
# Rows no reachable source gave; each would say "UNVERIFIED:" in REFERENCE_SOURCES. Since 2026-12 every row has one.
UNVERIFIED_ROWS: set[tuple[str, str]] = set()
ROWS = ("AEGL-1", "AEGL-2", "AEGL-3", "ERPG-1", "ERPG-2", "ERPG-3", "IDLH")


@pytest.mark.parametrize("formula", sorted(PINNED))
def test_reference_levels_are_the_cited_values(formula: str) -> None:
    """Every AEGL (10 / 30 min, 1 / 4 / 8 h), ERPG and IDLH of the table, pinned to the number its source gives.

    Sources (2026-12, per row in detectors/substances.py REFERENCE_SOURCES): Cl2 AEGLs, the chlorine example table
    of Wikipedia's "Acute Exposure Guideline Levels" (EPA final values, NRC AEGL Vol. 4, 2004); Cl2 ERPG-1/2, The
    Chlorine Institute's "Chlorine health hazards" quoting AIHA; Cl2 IDLH, NIOSH IDLH documentation (May 1994); HF
    AEGL-1, NRC AEGL Vol. 4 p. 124; HF ERPG-2, Table 3 of PMC6290397; HF IDLH, NIOSH IDLH documentation (1994);
    NH3 ERPG-1, NIOSH IDLH documentation (1994) quoting the 1988 AIHA ERPGs; NH3 IDLH, the Minnesota Department of
    Agriculture's ammonia page; H2S all fifteen AEGLs, ERPGs and IDLH, Table 3 of PMC5777517 (Nitric Oxide 71,
    2017, citing NRC AEGL Vol. 9, AIHA and NIOSH); COCl2 IDLH, NIOSH IDLH documentation (1994); HCl AEGL-1 and the
    30-min / 1-h AEGL-2, NRC AEGL Vol. 4 p. 78; HCl IDLH 45 ppm, NIOSH's 2025 IDLH profile as AIHA reported it.
    The HF, NH3, COCl2 and HCl AEGL-2/3 rows (and NH3 AEGL-1, COCl2's absent AEGL-1), EPA's compiled final AEGLs
    of 2009, and the remaining ERPGs (Cl2 ERPG-3; HF, NH3, COCl2, HCl), the AIHA ERPG list of 2009, both as
    transcribed in public Tcl data files (substances.py EPA_AEGL_2009 / AIHA_ERPG_2009 say which and how checked).
    """
    substance = SUBSTANCES[formula]
    pinned = PINNED[formula]
    for level in (1, 2, 3):
        assert substance.aegl(level) == pinned[f"AEGL-{level}"], (formula, level)
    assert substance.erpg == pinned["ERPG"]
    assert substance.idlh == pinned["IDLH"]


def test_every_reference_row_names_its_source_or_says_it_is_unverified() -> None:
    """Each row of every substance has an entry; exactly the rows listed as unverified say so."""
    assert set(REFERENCE_SOURCES) == set(SUBSTANCES)
    for formula, rows in REFERENCE_SOURCES.items():
        assert set(rows) == set(ROWS), formula
        for row, text in rows.items():
            unverified = UNVERIFIED in text
            assert unverified == ((formula, row) in UNVERIFIED_ROWS), (formula, row, text)
            assert unverified or text.startswith("source"), (formula, row, text)


@pytest.mark.parametrize("formula", sorted(SUBSTANCES))
def test_lowest_level_is_at_or_below_every_level_the_gas_detector_judges(formula: str) -> None:
    config = CoreConfig.build([Kind.GAS], substances=[formula])
    judged = np.concatenate(
        (config.gas_level1, config.gas_level2, config.gas_stel, config.gas_twa, config.gas_aegl[0], config.gas_erpg[0])
    )
    judged = judged[np.isfinite(judged)]
    lowest = SUBSTANCES[formula].lowest_level_ppm
    assert lowest > 0
    assert lowest <= judged.min()


def test_lowest_levels_are_the_tables_smallest_numbers() -> None:
    # Phosgene: AEGL-2 8 h (no AEGL-1, no ERPG-1); hydrogen sulfide: ERPG-1; chlorine: GBZ 2.1 MAC 1 mg/m3.
    assert SUBSTANCES["COCl2"].lowest_level_ppm == 0.04
    assert SUBSTANCES["H2S"].lowest_level_ppm == 0.1
    assert SUBSTANCES["Cl2"].lowest_level_ppm == pytest.approx(1.0 * 24.45 / 70.90)
