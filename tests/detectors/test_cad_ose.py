"""CAD-OSE: a spike or a step in a learned cycle scores highest; NAB's published contextOSE scores reproduced."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.cad_ose import (
    BASE_THRESHOLD,
    ContextualAnomalyDetector,
    cad_ose_raw,
    cad_ose_score,
    nab_rest,
    py2_dict_order,
    py2_tuple_hash,
    rested,
)
from detectors.range_context import range_context_score


def _cycle(readings: int, seed: int) -> NDArray[np.float64]:
    """A 50-reading cycle with small noise."""
    rng = np.random.default_rng(seed)
    phase = np.arange(readings) % 50
    return 10.0 + 5.0 * np.sin(2 * np.pi * phase / 50) + rng.normal(0.0, 0.1, readings)


# Range-context novelty keeps CAD-OSE's scaling and rest period, so it must pass CAD-OSE's own cases (the
# 50-reading cycle taken as a daily one, since range-context also learns the level at each hour of day).
SCORERS = pytest.mark.parametrize(
    "scorer",
    [cad_ose_score, lambda v: range_context_score(86400.0 / 50.0 * np.arange(v.shape[0]), v)],
    ids=["cad-ose", "range-context"],
)


@SCORERS
def test_a_spike_scores_highest_and_once(scorer: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> None:
    """One reading far above a learned cycle: the top score, at that reading; quiet for the rest period after."""
    values = _cycle(2000, seed=0)
    values[1500] = 40.0
    score = scorer(values)
    assert int(np.argmax(score)) == 1500
    assert score[1500] >= BASE_THRESHOLD
    assert score[500:1500].max() < 0.6
    rest = nab_rest(2000)
    assert np.all(score[1501 : 1501 + rest] == 0.0)


@SCORERS
def test_a_step_scores_highest_at_its_start(scorer: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> None:
    """A lasting +12 step in a learned cycle: the top score on its first reading."""
    values = _cycle(2000, seed=1)
    values[1500:] += 12.0
    score = scorer(values)
    assert int(np.argmax(score)) == 1500
    assert score[1500] >= BASE_THRESHOLD
    assert score[500:1500].max() < 0.6


def test_the_first_readings_and_a_rest_period_report_zero() -> None:
    """The reported score is 0 for the first ``rest`` readings and for ``rest`` readings after a raw 0.75."""
    raw = np.array([0.9, 0.1, 0.2, 0.3, 0.8, 0.4, 0.5, 0.6, 0.7, 0.75, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(rested(raw, 2), [0.0, 0.0, 0.0, 0.3, 0.8, 0.0, 0.0, 0.6, 0.7, 0.75, 0.0, 0.0, 0.4])
    assert not rested(raw, 0).any()


def test_nab_rest_is_a_fifth_of_the_probation() -> None:
    """NAB: probation = min(floor(0.15 n), 750); CAD-OSE rests for a fifth of it."""
    assert nab_rest(4032) == 120
    assert nab_rest(1000) == 30
    assert nab_rest(22695) == 150


def test_scores_depend_only_on_earlier_readings_given_the_range() -> None:
    """With the range fixed, changing later readings leaves every earlier raw score as it was."""
    values = _cycle(600, seed=2)
    changed = values.copy()
    changed[400:] = values[400:][::-1]

    def raw(series: NDArray[np.float64]) -> list[float]:
        detector = ContextualAnomalyDetector(0.0, 20.0)
        return [detector.raw_score(v) for v in series.tolist()]

    assert raw(values)[:400] == raw(changed)[:400]
    assert raw(values)[400:] != raw(changed)[400:]


def test_non_finite_readings_score_zero_and_are_skipped() -> None:
    """A NaN or inf reading scores 0 and is not learned: the others score as without it."""
    values = _cycle(500, seed=3)
    holed = np.insert(values, 200, [np.nan, np.inf])
    score = cad_ose_score(holed)
    assert score[200] == 0.0
    assert score[201] == 0.0
    np.testing.assert_array_equal(np.delete(score, [200, 201]), cad_ose_score(values))
    assert not cad_ose_raw(np.full(3, np.nan)).any()


def test_cpython27_hash_and_dict_order() -> None:
    """Tie-breaks follow CPython 2.7: hash(()) = 3527539, hash((1, 2, 3)) = 2528502973977326415 on 64 bits;
    a dict of small ints iterates by slot, not by insertion."""
    assert py2_tuple_hash(()) == 3527539
    assert py2_tuple_hash((1, 2, 3)) == 2528502973977326415
    assert py2_dict_order([2, 1]) == [1, 2]
    assert py2_dict_order([8, 0]) == [8, 0]  # 8 takes slot 0; 0 probes to slot 1
    assert py2_dict_order([9, 1]) == [9, 1]  # 9 takes slot 1; 1 probes 1 * 5 + 1 + 1 = 7
    assert sorted(py2_dict_order(list(range(40, 0, -1)))) == list(range(1, 41))


# Three NAB series and NAB's published contextOSE scores for them, kept in the repository (tests/data/nab/README.md).
NAB = Path(__file__).parent.parent / "data" / "nab"
NAB_FILES = (
    "artificialWithAnomaly/art_daily_jumpsup.csv",
    "realAdExchange/exchange-2_cpc_results.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
)


@pytest.mark.parametrize("relative", NAB_FILES)
def test_reproduces_nab_published_context_ose_scores(relative: str) -> None:
    """Every score equals NAB's published contextOSE result (written with 12 significant digits)."""
    category, name = relative.split("/")
    with (NAB / "data" / relative).open(newline="") as handle:
        values = np.array([float(row["value"]) for row in csv.DictReader(handle)])
    published_file = NAB / "results" / "contextOSE" / category / f"contextOSE_{name}"
    with published_file.open(newline="") as handle:
        published = np.array([float(row["anomaly_score"]) for row in csv.DictReader(handle)])
    np.testing.assert_allclose(cad_ose_score(values), published, rtol=0.0, atol=1e-11)
