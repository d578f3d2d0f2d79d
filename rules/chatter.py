"""Chattering detection: an alarm that changes state too often in a short window (ISA-18.2: >= 3 in 60 s)."""

from __future__ import annotations


def count_recent_flips(flips: list[float], time: float, window_s: float) -> int:
    """Record a condition change at ``time``, forget changes older than the window, return how many remain."""
    flips.append(time)
    cutoff = time - window_s
    # flips arrive in time order, so the stale ones are a prefix
    stale = 0
    while stale < len(flips) and flips[stale] <= cutoff:
        stale += 1
    del flips[:stale]
    return len(flips)
