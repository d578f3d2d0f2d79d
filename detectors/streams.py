"""Helpers for per-sensor streams inside a sorted batch: previous values, run counts, rank steps, debouncing.

Recursive filters (EWMA, CUSUM, SPRT) cannot be written as whole-array prefix operations once they
feed back on themselves (a frozen baseline depends on the alarm it drives). They are therefore run
*rank by rank*: step ``k`` takes the ``k``-th reading of every sensor in the batch at once. The Python
loop runs once per reading of the busiest sensor, not once per reading, and each step is the exact
scalar recursion, so any batch split gives identical results.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.hysteresis import HysteresisState, SortedBatch, step_busy, transitions


def previous(batch: SortedBatch, values: NDArray[np.float64], carried: NDArray[np.float64]) -> NDArray[np.float64]:
    """The value of the reading before each reading of the same sensor; ``carried[sensor]`` for the first."""
    out = np.empty_like(values)
    if values.shape[0]:
        out[1:] = values[:-1]
        starts = batch.segment_starts
        out[starts] = carried[batch.sensor[starts]]
    return out


def consecutive(
    batch: SortedBatch, hit: NDArray[np.bool_], reset: NDArray[np.bool_], carried: NDArray[np.int32]
) -> NDArray[np.int32]:
    """Hits since the last reset for each reading (readings that are neither leave the count alone).

    ``carried`` (per sensor) is the count before the batch and is updated in place.
    """
    n = hit.shape[0]
    if n == 0:
        return np.zeros(0, np.int32)
    if not hit.any() and reset.all():
        # The common case (nothing stuck, nothing pinned): every count is zero.
        carried[batch.sensor[batch.is_last]] = 0
        return np.zeros(n, np.int32)
    first = batch.segment_first
    cumulative = np.cumsum(hit, dtype=np.int64)
    before_first = cumulative[first] - hit[first]
    idx = np.arange(n, dtype=np.intp)
    last_reset = np.maximum.accumulate(np.where(reset, idx, -1))
    found = last_reset >= first
    base = np.where(found, cumulative[np.where(found, last_reset, 0)], before_first)
    count = cumulative - base + np.where(found, 0, carried[batch.sensor])
    counts = count.astype(np.int32)
    ends = batch.is_last
    carried[batch.sensor[ends]] = counts[ends]
    return counts


def run_since(
    batch: SortedBatch, hit: NDArray[np.bool_], opens_at: NDArray[np.float64], carried: NDArray[np.float64]
) -> NDArray[np.float64]:
    """For each reading in a run of hits, when that run began (nan where no hit).

    A run that begins at reading i began at ``opens_at[i]``; ``carried`` (per sensor, nan: no open run) is the
    start of a run still open before the batch, and is updated in place.
    """
    n = hit.shape[0]
    out = np.full(n, np.nan)
    if n == 0:
        return out
    if not hit.any():
        carried[batch.sensor[batch.is_last]] = np.nan
        return out
    first = batch.segment_first
    idx = np.arange(n, dtype=np.intp)
    prev_hit = np.empty(n, np.bool_)
    prev_hit[1:] = hit[:-1]
    seg_start = first == idx
    prev_hit[seg_start] = ~np.isnan(carried[batch.sensor[seg_start]])
    opens = hit & ~prev_hit
    last_open = np.maximum.accumulate(np.where(opens, idx, -1))
    found = last_open >= first
    began = np.where(found, opens_at[np.where(found, last_open, 0)], carried[batch.sensor])
    out = np.where(hit, began, np.nan)
    ends = batch.is_last
    carried[batch.sensor[ends]] = out[ends]
    return out


def hit_runs(
    batch: SortedBatch,
    hit: NDArray[np.bool_],
    opens_at: NDArray[np.float64],
    count: NDArray[np.int32],
    since: NDArray[np.float64],
) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """``consecutive(batch, hit, ~hit, count)`` and ``run_since(batch, hit, opens_at, since)`` at once.

    Computed over the sensors with a hit in the batch alone: a sensor without one has a count of 0 and no run
    at every reading (each of its readings is a reset), whatever it carried. Hits are usually few sensors'
    (repeated values, a pinned channel), and the general forms cost some fifteen whole-batch passes each.
    """
    n = hit.shape[0]
    starts = batch.segment_starts
    if n == 0 or not hit.any() or starts.shape[0] < 2:
        return consecutive(batch, hit, ~hit, count), run_since(batch, hit, opens_at, since)
    with_hit = np.logical_or.reduceat(hit, starts)
    quiet = ~with_hit
    count[batch.sensor[starts[quiet]]] = 0
    since[batch.sensor[starts[quiet]]] = np.nan
    # The readings of the sensors with a hit, as one sorted sub-batch (index ranges built from the few segments).
    at, sub = batch.segments(with_hit)
    sub_hit = hit[at]
    counts = np.zeros(n, np.int32)
    began = np.full(n, np.nan)
    counts[at] = consecutive(sub, sub_hit, ~sub_hit, count)
    began[at] = run_since(sub, sub_hit, opens_at[at], since)
    return counts, began


def rank_plan(batch: SortedBatch, keep: NDArray[np.bool_] | None = None) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Segment starts ordered by segment length (longest first) and, for each k, how many have a k-th reading.

    Step ``k`` of a recursion then touches the first ``alive[k]`` segments: ``starts[:alive[k]] + k`` are the
    readings, and per-segment state kept in this order is a contiguous prefix (slices, not gathers).
    ``keep`` (per segment) leaves out segments handled another way.
    """
    starts = batch.segment_starts
    lengths = np.diff(np.append(starts, batch.sensor.shape[0]))
    if keep is not None:
        starts, lengths = starts[keep], lengths[keep]
    if starts.shape[0] == 0:
        return starts, np.zeros(0, np.intp)
    by_length = np.argsort(-lengths, kind="stable")
    ascending = lengths[by_length][::-1]
    ks = np.arange(int(ascending[-1]))
    alive = ascending.shape[0] - np.searchsorted(ascending, ks, side="right")
    return starts[by_length], alive.astype(np.intp)


def rank_steps(batch: SortedBatch) -> Iterator[NDArray[np.intp]]:
    """Yield, for k = 0, 1, ..., the sorted-order indices of the k-th reading of every sensor that has one."""
    starts, alive = rank_plan(batch)
    for k, count in enumerate(alive):
        yield starts[:count] + k


def debounce(
    name: str,
    batch: SortedBatch,
    on: NDArray[np.bool_],
    off: NDArray[np.bool_],
    on_delay_s: NDArray[np.float64],
    off_delay_s: NDArray[np.float64],
    state: HysteresisState,
    value: NDArray[np.float64],
    level: NDArray[np.float64],
    report_as: NDArray[np.int32] | None = None,
    censored: NDArray[np.bool_] | None = None,
) -> ConditionEvents:
    """Run the debounced state machine and return its transitions as ``name`` events.

    ``report_as`` maps the batch's keys to the sensor number the event is reported on (device-level
    conditions are reported on the device's first sensor). ``censored`` marks values that are lower bounds.
    """
    if batch.sensor.shape[0] == 0:
        return ConditionEvents.empty(name)
    before = state.active.copy()
    busy = step_busy(batch, on, off, on_delay_s, off_delay_s, state)
    if busy is None:  # every reading off, and off before: no transition
        return ConditionEvents.empty(name)
    at, sub, active = busy
    changes = transitions(sub, active, before)
    now_active = active[changes]
    idx = changes if at is None else at[changes]
    sensors = batch.sensor[idx] if report_as is None else report_as[batch.sensor[idx]]
    cens = None if censored is None or not censored[idx].any() else censored[idx]
    return ConditionEvents(name, sensors.astype(np.int32), batch.time[idx], now_active, value[idx], level[idx], cens)


def events_in_time_order(events: ConditionEvents) -> ConditionEvents:
    """The same events ordered by time (stable, so per-sensor order is kept)."""
    order = np.argsort(events.time, kind="stable")
    return ConditionEvents(
        events.condition,
        events.sensor[order],
        events.time[order],
        events.active[order],
        events.value[order],
        events.level[order],
        None if events.censored is None else events.censored[order],
    )


def merge_events(events: list[ConditionEvents]) -> list[ConditionEvents]:
    """Join events of the same condition, drop empty ones, and order each by time."""
    by_name: dict[str, list[ConditionEvents]] = {}
    for e in events:
        if len(e):
            by_name.setdefault(e.condition, []).append(e)
    out: list[ConditionEvents] = []
    for name, parts in by_name.items():
        joined = ConditionEvents(
            name,
            np.concatenate([p.sensor for p in parts]),
            np.concatenate([p.time for p in parts]),
            np.concatenate([p.active for p in parts]),
            np.concatenate([p.value for p in parts]),
            np.concatenate([p.level for p in parts]),
            np.concatenate([p.censored_or_false() for p in parts])
            if any(p.censored is not None for p in parts)
            else None,
        )
        out.append(events_in_time_order(joined))
    return out
