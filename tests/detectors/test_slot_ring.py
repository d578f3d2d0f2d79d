"""The running window sums of the gas slot ring agree with a brute-force recomputation, gaps and late data included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.gas import MICRO, SlotRing


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-3, 70), st.integers(0, 5_000_000), st.integers(0, 3)), max_size=120
    )
)
def test_running_windows_match_brute_force(steps: list[tuple[int, int, int, int]]) -> None:
    """Random advances (including long gaps) and late additions: every window mean equals the brute-force one."""
    widths = (3, 10, 16)
    ring = SlotRing(4, 17, 60.0, widths)  # one slot more than the widest window: its trailing edge
    history: list[list[tuple[int, int, int]]] = [[] for _ in range(4)]  # (slot, sum, count) accepted
    newest = [-1] * 4
    for row, jump, total, count in steps:
        slot = max(newest[row] + jump, 0) if newest[row] >= 0 else max(jump, 0)
        ring.advance_and_add(
            np.array([row]),
            np.array([slot], np.int64),
            np.array([total], np.int64),
            np.array([count], np.int64),
            np.array([3.0 * total]),  # a toxic load that is not the sum, to tell the two apart
        )
        newest[row] = max(newest[row], slot)
        if slot > newest[row] - 17:
            history[row].append((slot, total, count))
        got = ring.window_means(np.array([row]))[:, 0]
        for i, w in enumerate(widths):
            inside = [(s, t, c) for s, t, c in history[row] if newest[row] - w < s <= newest[row]]
            n = sum(c for _, _, c in inside)
            filled = len({s for s, _, c in inside if c > 0})
            # Slots that received only zero-count runs do not count as filled; sums of such runs are zero here.
            expected = sum(t for _, t, _ in inside) / n / MICRO if n and filled >= 0.75 * w else np.nan
            assert ring.window_loads(np.array([row]))[0, i] == pytest.approx(3 * sum(t for _, t, _ in inside))
            if np.isnan(expected):
                assert np.isnan(got[i])
            else:
                assert got[i] == expected


def test_int32_slots_saturate_and_windows_stay_the_sums_of_their_slots() -> None:
    """A milli-ppm int32 slot that would overflow saturates (a lower bound, still far past every level); the window
    sums keep what the slots took, so the slot leaving the window takes exactly its share with it."""
    ring = SlotRing(1, 4, 60.0, (3,), 1000.0, np.int32)
    big = np.array([2_000_000_000], np.int64)
    one = np.array([1], np.int64)
    row = np.array([0])
    ring.advance_and_add(row, np.array([10], np.int64), big, one)
    ring.advance_and_add(row, np.array([10], np.int64), big, one)  # 4e9 does not fit: the slot saturates
    assert ring.sums[0, 10 % 4] == np.iinfo(np.int32).max
    assert ring.window_sum[0, 0] == np.iinfo(np.int32).max
    ring.advance_and_add(row, np.array([11], np.int64), np.array([5_000], np.int64), one)
    ring.advance_and_add(row, np.array([13], np.int64), np.array([7_000], np.int64), one)  # slot 10 leaves
    assert ring.window_sum[0, 0] == 12_000
    assert ring.window_count[0, 0] == 2


def _ring_arrays(ring: SlotRing) -> list[bytes]:
    arrays = (ring.sums, ring.counts, ring.loads, ring.peaks, ring.current)
    return [a.tobytes() for a in (*arrays, ring.window_sum, ring.window_count, ring.window_filled)]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 24), st.integers(1, 900), st.integers(1, 2)), max_size=60),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-25, 30), st.integers(-500, 5_000_000), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
)
def test_folding_a_batch_of_runs_at_once_equals_adding_them_one_by_one(
    history: list[tuple[int, int, int, int]], batch: list[tuple[int, int, int, int]]
) -> None:
    """``fold_runs`` leaves the ring (slots, windows, newest slots) bit for bit as ``advance_and_add`` run by run,
    with late runs, runs dropped as too late, gaps longer than the ring and rows never seen before."""
    one_by_one, at_once = SlotRing(4, 17, 60.0, (3, 10, 16)), SlotRing(4, 17, 60.0, (3, 10, 16))
    for row, slot, total, count in history:
        for ring in (one_by_one, at_once):
            ring.advance_and_add(
                np.array([row]),
                np.array([100 + slot], np.int64),
                np.array([total], np.int64),
                np.array([count], np.int64),
                np.array([0.3 * total]),
                np.array([total / 1e3], np.float16),
            )
    # Runs sorted by row, each row's slots strictly increasing (one run a slot), starting near its newest slot.
    runs: dict[int, dict[int, tuple[int, int]]] = {}
    for row, offset, total, count in batch:
        start = int(one_by_one.current[row]) if one_by_one.current[row] >= 0 else 120
        runs.setdefault(row, {})[start + offset] = (total, count)
    rows = np.array([r for r in sorted(runs) for _ in runs[r]], np.intp)
    slots = np.array([s for r in sorted(runs) for s in sorted(runs[r])], np.int64)
    totals = np.array([runs[r][s][0] for r in sorted(runs) for s in sorted(runs[r])], np.int64)
    counts = np.array([runs[r][s][1] for r in sorted(runs) for s in sorted(runs[r])], np.int64)
    loads, peaks = totals * np.float64(0.7), (np.abs(totals) / 1e3).astype(np.float16)
    for k in range(max(len(v) for v in runs.values())):
        rank = np.array(
            [i for i in range(rows.shape[0]) if (slots[: i + 1][rows[: i + 1] == rows[i]]).shape[0] == k + 1]
        )
        one_by_one.advance_and_add(rows[rank], slots[rank], totals[rank], counts[rank], loads[rank], peaks[rank])
    assert at_once.fold_runs(rows, slots, totals, counts, loads, peaks)
    assert _ring_arrays(at_once) == _ring_arrays(one_by_one)


@pytest.mark.parametrize("moves", [(1,), (1, 2), (3, 4, 5), (30,), (-2, 1), (-20, 0)])
def test_folding_onto_a_full_ring_equals_adding_one_by_one(moves: tuple[int, ...]) -> None:
    """A ring whose every slot holds readings moves on by one slot, a few, more than its length, or takes late runs."""
    one_by_one, at_once = SlotRing(2, 17, 60.0, (3, 10, 16)), SlotRing(2, 17, 60.0, (3, 10, 16))
    for ring in (one_by_one, at_once):
        for slot in range(100, 120):
            ring.advance_and_add(
                np.array([0, 1]),
                np.full(2, slot, np.int64),
                np.array([5, 6], np.int64),
                np.ones(2, np.int64),
                np.array([1.0, 2.0]),
                np.array([1.0, 2.0], np.float16),
            )
    slots = np.array([119 + m for m in moves], np.int64)
    rows, one = np.zeros(len(moves), np.intp), np.ones(len(moves), np.int64)
    for k in range(len(moves)):
        one_by_one.advance_and_add(rows[k : k + 1], slots[k : k + 1], 7 * one[k : k + 1], one[k : k + 1])
    assert at_once.fold_runs(rows, slots, 7 * one, one, np.zeros(len(moves)), np.zeros(len(moves), np.float16))
    assert _ring_arrays(at_once) == _ring_arrays(one_by_one)
