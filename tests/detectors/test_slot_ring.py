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
