"""Back-testing: run the detection core over one recorded series and say, reading by reading, what it would do."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.config import CoreConfig
from detectors.core import DetectionCore
from detectors.kinds import Kind
from detectors.readings import ReadingBatch
from detectors.thresholds import ThresholdParams

# Condition families that are hazard alarms (quality conditions describe the data, not the hazard).
HAZARD_PREFIXES = ("threshold.", "anomaly.", "gamma.", "gas.", "source.")


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Per reading, in input order: anomaly score (0..1), hazard alarm active, quality flags, active conditions."""

    anomaly_score: NDArray[np.float64]
    alarm: NDArray[np.bool_]
    flags: NDArray[np.uint16]
    active_conditions: list[tuple[str, ...]]


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
) -> BacktestResult:
    """Score one sensor's series (times in unix seconds) as the live core would, with optional alarm levels.

    The report interval defaults to the median spacing of the timestamps.
    """
    t = np.asarray(time, np.float64)
    v = np.asarray(value, np.float64)
    if t.shape != v.shape:
        raise ValueError("time and value must have the same length")
    if report_interval_s is None:
        spacing = np.diff(np.sort(t))
        report_interval_s = float(np.median(spacing)) if spacing.shape[0] and np.median(spacing) > 0 else 60.0
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
    if kind is Kind.SOURCE_DOSE_RATE:
        config = replace(config.with_sources([0], [float(np.nanmedian(v)) if v.shape[0] else 1.0], [5]))
    core = DetectionCore(config)
    n = t.shape[0]
    result = core.process(ReadingBatch(np.zeros(n, np.int32), t, v, np.zeros(n, np.uint16)))

    # Rebuild each condition's state after every reading from its transitions.
    order = np.argsort(t, kind="stable")
    rank = np.empty(n, np.intp)
    rank[order] = np.arange(n)
    names: list[str] = []
    states: list[NDArray[np.bool_]] = []
    for events in result.conditions:
        state = np.zeros(n, np.bool_)
        # Events come in time order; each holds until the next one. Position = reading index in time order.
        at = np.searchsorted(t[order], events.time, side="left")
        for start, stop, active in zip(at, [*at[1:], n], events.active, strict=True):
            state[start:stop] = active
        names.append(events.condition)
        states.append(state[rank])
    hazard = [s for name, s in zip(names, states, strict=True) if name.startswith(HAZARD_PREFIXES)]
    alarm = np.logical_or.reduce(hazard) if hazard else np.zeros(n, np.bool_)
    active = [tuple(name for name, s in zip(names, states, strict=True) if s[i]) for i in range(n)]
    return BacktestResult(result.anomaly_score, alarm, result.flags, active)
