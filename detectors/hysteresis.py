"""Vectorised debounced two-state machine: the kernel behind every level alarm.

A condition has an *on* test and an *off* test per reading (with a deadband they are not each
other's complement; between them the previous state holds). The raw state must stay on for
``on_delay`` seconds before the debounced state turns on, and stay off for ``off_delay`` seconds
before it turns off. State is carried per sensor between batches, so any batch split gives the
same result as one reading at a time.

Everything is array arithmetic over the batch sorted by (sensor, time): carrying the last
decisive reading forward is a ``maximum.accumulate`` of indices, bounded by segment starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(slots=True)
class HysteresisState:
    """Per-sensor carried state (arrays indexed by sensor number)."""

    raw: NDArray[np.bool_]  # undebounced state after the last reading
    raw_since: NDArray[np.float64]  # time the raw state last changed (nan: never seen)
    active: NDArray[np.bool_]  # debounced state

    @classmethod
    def new(cls, n_sensors: int) -> HysteresisState:
        """All sensors start off, with no history."""
        return cls(np.zeros(n_sensors, np.bool_), np.full(n_sensors, np.nan, np.float64), np.zeros(n_sensors, np.bool_))

    @property
    def nbytes(self) -> int:
        """Bytes of state held for all sensors."""
        return int(self.raw.nbytes + self.raw_since.nbytes + self.active.nbytes)


@dataclass(frozen=True, slots=True)
class SortedBatch:
    """A batch's sensors and times sorted by (sensor, time), with segment bookkeeping."""

    order: NDArray[np.intp]  # positions in the original batch
    sensor: NDArray[np.int32]
    time: NDArray[np.float64]
    segment_first: NDArray[np.intp]  # for each reading, index of the first reading of its sensor
    is_last: NDArray[np.bool_]  # the last reading of its sensor in this batch
    # Sorted-order index of the first reading of each sensor present (made once: most detectors ask for it).
    segment_starts: NDArray[np.intp]

    @classmethod
    def build(cls, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> SortedBatch:
        """Sort by sensor, then time, stably (equal times keep arrival order)."""
        if time.shape[0] < 2 or bool((time[1:] >= time[:-1]).all()):
            # Already in time order (live feeds, replays): a stable sort on the sensor alone gives the same
            # order, and numpy's radix sort (16-bit keys) is several times faster than a lexsort.
            key = sensor.astype(np.uint16) if sensor.shape[0] and int(sensor.max()) < 1 << 16 else sensor
            order = np.argsort(key, kind="stable").astype(np.intp, copy=False)
        else:
            order = np.lexsort((time, sensor)).astype(np.intp, copy=False)
        return cls.from_sorted(order, sensor[order], time[order])

    def subset(self, keep: NDArray[np.bool_]) -> SortedBatch:
        """The readings where ``keep`` (sorted order) is true, still sorted; ``order`` keeps batch positions."""
        return SortedBatch.from_sorted(self.order[keep], self.sensor[keep], self.time[keep])

    def segments(self, keep: NDArray[np.bool_]) -> tuple[NDArray[np.intp], SortedBatch]:
        """The readings of the segments (sensors) where ``keep`` (one per segment, at least one true) holds: their
        sorted-order positions and the sub-batch. Index ranges built from the segments, not a whole-batch mask."""
        starts = self.segment_starts
        lengths = np.diff(np.append(starts, self.sensor.shape[0]))
        kept_lengths = lengths[keep]
        offsets = np.cumsum(kept_lengths) - kept_lengths
        at = np.arange(int(offsets[-1] + kept_lengths[-1])) + np.repeat(starts[keep] - offsets, kept_lengths)
        return at, SortedBatch.from_sorted(self.order[at], self.sensor[at], self.time[at])

    @classmethod
    def from_sorted(cls, order: NDArray[np.intp], s: NDArray[np.int32], time: NDArray[np.float64]) -> SortedBatch:
        """Wrap arrays already sorted by (sensor, time)."""
        n = s.shape[0]
        starts = np.ones(n, np.bool_)
        if n:
            starts[1:] = s[1:] != s[:-1]
        idx = np.arange(n, dtype=np.intp)
        segment_first = np.maximum.accumulate(np.where(starts, idx, 0)) if n else idx
        is_last = np.ones(n, np.bool_)
        if n:
            is_last[:-1] = starts[1:]
        return cls(order, s, time, segment_first, is_last, np.flatnonzero(starts))


def _carry_last(
    decisive: NDArray[np.bool_], segment_first: NDArray[np.intp]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Index of the last decisive reading at or before each reading in the same segment, and whether one exists."""
    idx = np.arange(decisive.shape[0], dtype=np.intp)
    last = np.maximum.accumulate(np.where(decisive, idx, -1)) if decisive.shape[0] else idx
    found = last >= segment_first
    return np.where(found, last, 0), found


def step(
    batch: SortedBatch,
    on: NDArray[np.bool_],
    off: NDArray[np.bool_],
    on_delay: NDArray[np.float64],
    off_delay: NDArray[np.float64],
    state: HysteresisState,
) -> NDArray[np.bool_]:
    """Advance the state machine over one sorted batch; return the debounced state after each reading.

    ``on``/``off`` are per reading (in sorted order); ``on_delay``/``off_delay`` are per sensor.
    ``state`` is updated in place for the sensors in the batch.
    """
    n = batch.sensor.shape[0]
    busy = step_busy(batch, on, off, on_delay, off_delay, state)
    if busy is None:
        return np.zeros(n, np.bool_)
    at, _, active = busy
    if at is None:
        return active
    out = np.zeros(n, np.bool_)
    out[at] = active
    return out


# Readings in a batch from which stepping only its busy sensors pays for cutting them out (a small batch's cost is
# the number of array operations, not their length).
BUSY_FROM = 2048
Mask = NDArray[np.bool_]
Seconds = NDArray[np.float64]
# What ``step_busy`` gives: the positions of the readings it stepped (None: all), their sub-batch, their states.
Busy = tuple[NDArray[np.intp] | None, SortedBatch, NDArray[np.bool_]]


def step_busy(
    batch: SortedBatch, on: Mask, off: Mask, on_delay: Seconds, off_delay: Seconds, state: HysteresisState
) -> Busy | None:
    """``step`` over the sensors that can be on in this batch: None if no sensor can, else the positions of their
    readings (None: the whole batch), their sub-batch and the debounced state after each of those readings.

    A sensor with no reading on and neither raw-on nor active before the batch stays off at every reading (no
    reading can turn it on), so only its ``raw_since`` moves, as the full pass moves it. When such sensors hold
    most of the batch (one alarm among thousands of quiet channels) the pass runs over the others alone.
    """
    n = batch.sensor.shape[0]
    if n == 0:
        return None
    starts = batch.segment_starts
    seg_sensor = batch.sensor[starts]
    carried = state.raw[seg_sensor] | state.active[seg_sensor]
    any_on = bool(on.any())
    if not any_on and not carried.any():
        # Nothing raw-on before or during the batch: every reading stays off and the carried state is
        # unchanged in every way that matters (raw_since only counts while raw is on or the alarm is active).
        return None
    at: NDArray[np.intp] | None = None
    if starts.shape[0] > 1 and n >= BUSY_FROM:
        busy = carried | np.logical_or.reduceat(on, starts) if any_on else carried
        lengths = np.diff(np.append(starts, n))
        if 2 * int(lengths[busy].sum()) < n:
            # The sensors left out: raw and active stay off; raw_since as the full pass leaves it (carried, or the
            # first reading's time for a sensor never seen).
            quiet = ~busy
            left_out = seg_sensor[quiet]
            since_before = state.raw_since[left_out]
            state.raw_since[left_out] = np.where(np.isnan(since_before), batch.time[starts[quiet]], since_before)
            at, batch = batch.segments(busy)
            on, off = on[at], off[at]
    n = batch.sensor.shape[0]
    s, t, first = batch.sensor, batch.time, batch.segment_first
    # 1. raw state with hysteresis: the last decisive reading wins, else the carried state.
    last, found = _carry_last(on | off, first)
    raw = np.where(found, on[last], state.raw[s])

    # 2. when did the current raw state begin? At the last change inside the segment, else carried.
    prev_raw = np.empty(n, np.bool_)
    prev_raw[1:] = raw[:-1]
    seg_start = first == np.arange(n)
    prev_raw[seg_start] = state.raw[s[seg_start]]
    changed = raw != prev_raw
    last_change, change_found = _carry_last(changed, first)
    carried_since = state.raw_since[s]
    # A sensor never seen before starts its raw state at its first reading.
    carried_since = np.where(np.isnan(carried_since), t[first], carried_since)
    since = np.where(change_found, t[last_change], carried_since)

    # 3. debounced state: on after on_delay of raw on, off after off_delay of raw off.
    held = t - since
    set_now = raw & (held >= on_delay[s])
    reset_now = ~raw & (held >= off_delay[s])
    last_set, set_found = _carry_last(set_now | reset_now, first)
    active = np.where(set_found, set_now[last_set], state.active[s])

    ends = batch.is_last
    end_sensors = s[ends]
    state.raw[end_sensors] = raw[ends]
    state.raw_since[end_sensors] = since[ends]
    state.active[end_sensors] = active[ends]
    return at, batch, active


def transitions(batch: SortedBatch, active: NDArray[np.bool_], before: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Sorted-order indices where the debounced state differs from the reading before it.

    ``before`` is the per-sensor debounced state *before* this batch (copy it before calling ``step``).
    """
    n = active.shape[0]
    if n == 0:
        return np.zeros(0, np.intp)
    prev = np.empty(n, np.bool_)
    prev[1:] = active[:-1]
    seg_start = batch.segment_first == np.arange(n)
    prev[seg_start] = before[batch.sensor[seg_start]]
    return np.flatnonzero(active != prev)
