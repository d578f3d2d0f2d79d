"""Back-testing: run the detection core over one recorded series and say, reading by reading, what it would do."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.conditions import ConditionEvents
from detectors.config import CoreConfig
from detectors.core import CoreResult, DetectionCore
from detectors.kinds import Kind
from detectors.readings import ReadingBatch
from detectors.streams import merge_events
from detectors.thresholds import ThresholdParams

# Condition families that are hazard alarms (quality conditions describe the data, not the hazard).
HAZARD_PREFIXES = ("threshold.", "anomaly.", "gamma.", "gas.", "source.")
# Readings per batch through the core: large enough to amortise each batch's fixed cost, small enough that
# the batch's arrays stay in the processor's caches.
CHUNK_READINGS = 1 << 15
# Notices, not alarms: the anomaly baseline took a lasting change as the new normal.
NOTICES = ("anomaly.new_normal",)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Per reading, in input order: anomaly score (0..1), hazard alarm active, quality flags, active conditions.

    ``condition_runs`` are the distinct sets of active conditions in order of first appearance and
    ``condition_run`` each reading's index into them (what ``active_conditions`` lists reading by reading).
    """

    anomaly_score: NDArray[np.float64]
    alarm: NDArray[np.bool_]
    flags: NDArray[np.uint16]
    condition_runs: list[tuple[str, ...]]
    condition_run: NDArray[np.intp]

    @property
    def active_conditions(self) -> list[tuple[str, ...]]:
        """The conditions on at each reading."""
        runs = np.empty(len(self.condition_runs), object)
        runs[:] = self.condition_runs
        out: list[tuple[str, ...]] = runs[self.condition_run].tolist()
        return out


def backtest(
    time: ArrayLike,
    value: ArrayLike,
    kind: Kind,
    *,
    high: float | None = None,
    high_high: float | None = None,
    low: float | None = None,
    substance: str | None = None,
    report_interval_s: float | None = None,
    full_scale: float | None = None,
) -> BacktestResult:
    """Score one sensor's series (times in unix seconds) as the live core would, with optional alarm levels.

    The report interval defaults to the median spacing of the timestamps. ``full_scale`` is the top of the
    instrument's range (readings there are saturated, not measurements).
    """
    t = np.asarray(time, np.float64)
    v = np.asarray(value, np.float64)
    if t.shape != v.shape:
        raise ValueError("time and value must have the same length")
    if report_interval_s is None:
        spacing = np.diff(np.sort(t))
        typical = float(np.median(spacing)) if spacing.shape[0] else 0.0
        report_interval_s = typical if typical > 0 else 60.0
    nan = float("nan")
    thresholds = ThresholdParams(
        np.array([nan if high is None else high]),
        np.array([nan if high_high is None else high_high]),
        np.array([nan if low is None else low]),
        np.zeros(1),
        np.zeros(1),
        np.zeros(1),
    )
    config = CoreConfig.build(
        [kind], substances=[substance], report_interval_s=np.array([report_interval_s]), thresholds=thresholds
    )
    if full_scale is not None:
        config = replace(config, full_scale=np.array([full_scale]))
    if kind is Kind.SOURCE_DOSE_RATE:
        config = replace(config.with_sources([0], [float(np.nanmedian(v)) if v.shape[0] else 1.0], [5]))
    core = DetectionCore(config)
    n = t.shape[0]
    result = _process_in_chunks(core, t, v)

    # Rebuild each condition's state after every reading from its transitions.
    order = time_order(t)
    in_order = t[order]
    rank: NDArray[np.intp] | None = None  # each reading's place in time order (None: the input's own order)
    if not bool(np.all(order == np.arange(n))):
        rank = np.empty(n, np.intp)
        rank[order] = np.arange(n)
    names: list[str] = []
    states: list[NDArray[np.bool_]] = []
    for events in result.conditions:
        # Events come in time order; each holds until the next one. Position = reading index in time order.
        at = np.searchsorted(in_order, events.time, side="left")
        state = np.zeros(n, np.bool_)
        held = np.diff(np.append(at, n))
        if at.shape[0] and bool(np.all(held >= 0)):
            state[at[0] :] = np.repeat(events.active.astype(np.bool_), held)
        else:  # (events out of time order: each still holds until the next one, where that comes later)
            for start, stop, active in zip(at, [*at[1:], n], events.active, strict=True):
                state[start:stop] = active
        names.append(events.condition)
        states.append(state if rank is None else state[rank])
    hazard = [
        s for name, s in zip(names, states, strict=True) if name.startswith(HAZARD_PREFIXES) and name not in NOTICES
    ]
    alarm = np.logical_or.reduce(hazard) if hazard else np.zeros(n, np.bool_)
    runs, run_of = _active_names(names, states, n)
    return BacktestResult(result.anomaly_score, alarm, result.flags, runs, run_of)


def time_order(t: NDArray[np.float64]) -> NDArray[np.intp]:
    """Positions in time order (stable for equal times); a series already in order costs no sort."""
    if t.shape[0] < 2 or bool(np.all(t[1:] >= t[:-1])):
        return np.arange(t.shape[0])
    return np.argsort(t, kind="stable")


def _process_in_chunks(core: DetectionCore, t: NDArray[np.float64], v: NDArray[np.float64]) -> CoreResult:
    """The series through the core as consecutive batches of ``CHUNK_READINGS`` in time order, as a live feed.

    The core carries its state from batch to batch; batches that fit in the processor's caches make its
    many whole-array operations several times cheaper than one batch of millions of readings. Conditions are
    listed in the order the batches first report them (one batch lists them in the core's order).
    """
    n = t.shape[0]
    if n <= CHUNK_READINGS:
        return core.process(ReadingBatch(np.zeros(n, np.int32), t, v, np.zeros(n, np.uint16)))
    order = time_order(t)
    flags = np.zeros(n, np.uint16)
    score = np.zeros(n)
    events: list[ConditionEvents] = []
    for start in range(0, n, CHUNK_READINGS):
        at = order[start : start + CHUNK_READINGS]
        part = core.process(
            ReadingBatch(np.zeros(at.shape[0], np.int32), t[at], v[at], np.zeros(at.shape[0], np.uint16))
        )
        flags[at], score[at] = part.flags, part.anomaly_score
        events.extend(part.conditions)
    return CoreResult(flags, score, merge_events(events))


def _active_names(
    names: list[str], states: list[NDArray[np.bool_]], n: int
) -> tuple[list[tuple[str, ...]], NDArray[np.intp]]:
    """The distinct sets of conditions on, and each reading's index into them."""
    if not names or n == 0:
        return [()], np.zeros(n, np.intp)
    table = np.stack(states, axis=1)
    change = np.ones(n, np.bool_)
    change[1:] = (table[1:] != table[:-1]).any(axis=1)
    starts = np.flatnonzero(change)
    # Distinct states among the runs' (few) first readings; each reading takes its run's.
    distinct, run_state = np.unique(table[starts], axis=0, return_inverse=True)
    runs = [tuple(name for name, on in zip(names, row, strict=True) if on) for row in distinct.tolist()]
    return runs, run_state.reshape(-1).astype(np.intp)[np.cumsum(change) - 1]


@dataclass(frozen=True, slots=True)
class Episode:
    """One alarm episode of a back-test: first and last reading (input order positions) and the conditions seen."""

    start: int
    end: int
    conditions: tuple[str, ...]


def episodes(result: BacktestResult, time: ArrayLike) -> list[Episode]:
    """Runs of readings with a hazard alarm on, in time order."""
    t = np.asarray(time, np.float64)
    order = time_order(t)
    on = result.alarm[order]
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.shape[0] == 0:
        return []
    # Each episode's distinct sets of conditions in order of first appearance (few, however long it is), for
    # every episode at once: the first reading of each (episode, set) pair, ordered by episode, then by it.
    inside = np.flatnonzero(on)
    episode = np.searchsorted(starts, inside, side="right") - 1
    n_runs = len(result.condition_runs)
    pairs, first = np.unique(episode * n_runs + result.condition_run[order[inside]], return_index=True)
    by_first = np.lexsort((first, pairs // n_runs))
    names: list[dict[str, None]] = [{} for _ in range(starts.shape[0])]
    for pair in pairs[by_first].tolist():
        seen = names[pair // n_runs]
        for name in result.condition_runs[pair % n_runs]:
            if name.startswith(HAZARD_PREFIXES) and name not in NOTICES:
                seen.setdefault(name)
    return [
        Episode(a, b, tuple(seen))
        for a, b, seen in zip(order[starts].tolist(), order[stops - 1].tolist(), names, strict=True)
    ]
