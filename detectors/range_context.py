"""Range-context novelty: CAD-OSE's quantisation and rest period with a plain context memory, along time at once.

CAD-OSE (``detectors.cad_ose``) scores well on NAB but learns one reading at a time through a growing set of
semi-contexts (about 100 us a reading). Most of what it sees can be had far more cheaply:

- each reading is scaled to one of ``LEVELS`` levels over the series' minimum..maximum, as CAD-OSE does (the
  top level holds the maximum alone, so the series' peak is always new); like CAD-OSE this reads the whole
  series' range first, so it is a back-test score, not a live one;
- for every order k = 0 .. ``MAX_ORDER`` the context (the k levels before, this level) is looked up among the
  contexts of the readings before it; the order's novelty is ``1 / (1 + times seen before)``;
- the same is done for the reading's level at its hour of day, (hour, level) and (hour, level before, level),
  so a level that is usual at noon but new at 3 a.m. counts as new: most monitored quantities follow the day;
- the raw score is the mean of the two mean novelties (0..1), and CAD-OSE's rest period applies: 0 for ``rest``
  readings after a raw score of 0.75, and for the first ``rest`` readings (NAB's ``probation / 5``).

"Times seen before" of every context is one stable sort of the context codes (a reading's rank within its run
of equal codes), so a series costs seven sorts, well under a microsecond a reading, and the memory is a few
arrays of the series' length. Its parameters (8 levels, orders 0..4, fading novelty, CAD-OSE's rest, hour-of-day
contexts of orders 0..1 weighted as much as the sequence) were chosen on the even-numbered half of NAB's files
and checked on the odd half: see docs/detection.md. No wall clock, no random numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.cad_ose import nab_rest, rested

LEVELS = 8  # CAD-OSE's 3 value bits
MAX_ORDER = 4  # longest context: the 4 readings before
MAX_HOUR_ORDER = 1  # longest context at the same hour of day: the reading before
SECONDS_PER_HOUR = 3600
HOURS_PER_DAY = 24
_BEFORE_START = LEVELS  # the level code of a reading before the series' start
_CODE_BASE = LEVELS + 1


def levels(value: NDArray[np.float64]) -> NDArray[np.int64]:
    """Each reading's level 0..LEVELS-1 over the series' range (truncated, as CAD-OSE scales it)."""
    low, high = float(value.min()), float(value.max())
    span = high - low
    step = (span if span != 0.0 else float(LEVELS - 1)) / float(LEVELS - 1)
    return np.clip(((value - low) / step).astype(np.int64), 0, LEVELS - 1)


def times_seen_before(codes: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each entry, how many earlier entries hold the same code."""
    order = np.argsort(codes, kind="stable")
    ranked = codes[order]
    at = np.arange(codes.shape[0])
    run_starts = np.maximum.accumulate(np.where(np.r_[True, ranked[1:] != ranked[:-1]], at, 0))
    out = np.empty_like(at)
    out[order] = at - run_starts
    return out


def _novelty(level: NDArray[np.int64], first: NDArray[np.int64], max_order: int) -> NDArray[np.float64]:
    """Mean over orders k = 0..max_order of 1 / (1 + times seen before) of (first, level[i-k], ..., level[i])."""
    n = level.shape[0]
    code = first * _CODE_BASE ** (max_order + 1)
    novelty = np.zeros(n)
    for k in range(max_order + 1):
        # The order-k code: the previous order's code plus the reading k back, in its own digit.
        back = level if k == 0 else np.concatenate((np.full(min(k, n), _BEFORE_START), level[: max(n - k, 0)]))
        code = code + back * _CODE_BASE**k
        novelty += 1.0 / (1.0 + times_seen_before(code))
    return novelty / (max_order + 1)


def range_context_raw(time: NDArray[np.float64], value: NDArray[np.float64]) -> NDArray[np.float64]:
    """Raw novelty (0..1) of each reading of a finite series in time order (time in unix seconds, UTC)."""
    level = levels(value)
    hour = (np.floor(time / SECONDS_PER_HOUR) % HOURS_PER_DAY).astype(np.int64)
    in_sequence = _novelty(level, np.zeros_like(level), MAX_ORDER)
    at_hour = _novelty(level, hour, MAX_HOUR_ORDER)
    return (in_sequence + at_hour) / 2.0


def range_context_score(time: NDArray[np.float64], value: NDArray[np.float64]) -> NDArray[np.float64]:
    """Reported scores (0..1) of a series in time order, with CAD-OSE's rest period as NAB sets it.

    Non-finite readings score 0 and are neither part of any context nor counted in the rest period.
    """
    out = np.zeros(value.shape[0])
    finite = np.isfinite(value)
    if finite.any():
        raw = range_context_raw(time[finite], value[finite])
        out[finite] = rested(raw, nab_rest(int(finite.sum())))
    return out
