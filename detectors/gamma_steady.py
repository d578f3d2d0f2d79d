"""Gamma's rise test over a dry, warmed-up stretch: the same recursion with what cannot happen left out.

``GammaDetector.process`` steps the rise test rank by rank (step ``k`` takes the ``k``-th reading of every
station), and each step costs some sixty numpy calls whatever the number of stations: on a quiet replay day that
loop was a fifth of a block's cost. Most of a day is the steady case: every station has learnt its background,
every reading is valid and below full scale, and no rain fell within the washout memory (``DRY_RESET_S``). Then
the warm-up gate, the censored-reading terms and the whole washout bookkeeping are constants (no warm-up, nothing
censored, washout peak and rain rate zero), and whatever does not feed the recursion (the excess, the persistence
flag, the learnt-reading count) can be computed after the loop over whole matrices.

The readings are laid out rank-major once (``k`` by station, longest segment first, as ``rank_plan`` orders them),
so a step reads its readings and writes its results through slices instead of gathers and scatters. Every value is
computed with the same floating-point operations in the same order as the general loop (elementwise IEEE
arithmetic gives the same bits whatever the array's shape), so the result is bit for bit the general loop's; the
tests hold the two against each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MAX_PADDING = 4  # the rank-major matrix may hold at most this many cells per reading (segments of unequal length)


@dataclass(frozen=True, slots=True)
class SteadyConstants:
    """The rise test's constants (gamma.py's, passed in: this module cannot import gamma.py)."""

    decision: float  # SPRT_H
    one_reading: float  # SPRT_ONE_READING
    background_alpha: float
    smooth_alpha: float
    learned_cap: int


@dataclass(frozen=True, slots=True)
class SteadyState:
    """Per-segment copies of the carried state (``rank_plan`` order), updated in place."""

    background: NDArray[np.float64]
    variance: NDArray[np.float64]
    learned: NDArray[np.int32]
    cusum: NDArray[np.float64]
    smooth: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SteadyResult:
    """Per reading, in the batch's sorted order."""

    evidence: NDArray[np.float64]
    persist: NDArray[np.bool_]
    excess: NDArray[np.float64]


def applies(
    value: NDArray[np.float64],
    valid: NDArray[np.bool_],
    censored: NDArray[np.bool_],
    dry_long: NDArray[np.bool_],
    state: SteadyState,
    warmup_readings: int,
    alive: NDArray[np.intp],
) -> bool:
    """Whether the stretch is the steady case: every reading valid, finite and not censored, every station warmed
    up (the count only grows, so it stays warmed up) with a smoothed value, no rain within the washout memory at
    any reading, and segments even enough for the rank-major matrix."""
    n = value.shape[0]
    if n == 0 or alive.shape[0] * alive[0] > MAX_PADDING * n + 1024:
        return False
    return bool(
        valid.all()
        and not censored.any()
        and dry_long.all()
        and np.isfinite(value).all()
        and int(state.learned.min()) >= warmup_readings
        and np.isfinite(state.smooth).all()
        and np.isfinite(state.background).all()
    )


def run(
    starts: NDArray[np.intp],
    alive: NDArray[np.intp],
    value: NDArray[np.float64],
    state: SteadyState,
    counts_per_unit: NDArray[np.float64],
    rise_fraction: NDArray[np.float64],
    k: SteadyConstants,
) -> SteadyResult:
    """The rise test's recursion over a steady stretch (``applies``); ``state`` is moved on in place."""
    n = value.shape[0]
    ranks, width = alive.shape[0], starts.shape[0]
    step = np.arange(ranks, dtype=np.intp)[:, None]
    present = np.arange(width, dtype=np.intp)[None, :] < alive[:, None]
    where = np.where(present, starts[None, :] + step, 0)
    x_all = value[where]
    cusum_after = np.zeros((ranks, width))
    background_after = np.zeros((ranks, width))
    smooth_after = np.zeros((ranks, width))
    learnt = np.zeros((ranks, width), np.bool_)
    cusum_before = state.cusum.copy()
    background, variance, cusum, smooth = state.background, state.variance, state.cusum, state.smooth
    h, one, alpha, keep = k.decision, k.one_reading, k.background_alpha, 1.0 - k.background_alpha
    for r, a in enumerate(alive.tolist()):
        x = x_all[r, :a]
        b = background[:a]
        floor = np.maximum(b, 1.0)
        var = np.maximum(variance[:a], floor / counts_per_unit[:a])
        delta = rise_fraction[:a] * floor
        llr = np.minimum(delta / var * (x - b - delta / 2.0), one)
        e = np.minimum(np.maximum(cusum[:a] + llr, 0.0), 2 * h)
        cusum[:a] = e
        cusum_after[r, :a] = e
        learn = (e < h / 4) & (x < b + 3.0 * np.sqrt(var))
        d = x - b
        background[:a] = np.where(learn, b + alpha * d, b)
        variance[:a] = np.where(learn, keep * (variance[:a] + alpha * d * d), variance[:a])
        learnt[r, :a] = learn
        background_after[r, :a] = background[:a]
        s = smooth[:a]
        smooth[:a] = s + k.smooth_alpha * (x - s)
        smooth_after[r, :a] = smooth[:a]
    state.learned[:] = np.minimum(state.learned + learnt.sum(axis=0, dtype=np.int64), k.learned_cap)
    # The evidence before each reading: the carried CUSUM for a segment's first, else the previous rank's.
    before = np.vstack([cusum_before[None, :], cusum_after[:-1]])
    cells = where[present]
    evidence, persist, excess = np.empty(n), np.empty(n, np.bool_), np.empty(n)
    evidence[cells] = cusum_after[present]
    persist[cells] = before[present] >= h / 2
    excess[cells] = smooth_after[present] / np.maximum(background_after[present], 1.0) - 1.0
    return SteadyResult(evidence, persist, excess)
