"""Shape checks on the reference table in detectors/substances.py: they catch a mistyped value, not a stale one."""

from __future__ import annotations

import itertools
import math

import pytest

from detectors.substances import AEGL_DURATIONS_MIN, SUBSTANCES, Substance


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
