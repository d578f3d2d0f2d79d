"""Data acquisition, valid-data and QC-pass ratios of a station-day, before and after review. Pure numpy.

Acquisition = readings received / readings expected (24 h / the device's report interval, per
sensor); valid = readings without an invalidating quality bit / expected (the city's targets: both
at least 95 %). After review, a reviewer's marks decide: the latest mark covering a reading makes
it invalid (invalidate) or valid (confirm). QC pass = passed QC comparisons / QC comparisons of the
day (target at least 85 %); unknown when there were none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.review.workflow import Action
from detectors.readings import INVALID_MASK


@dataclass(frozen=True, slots=True)
class Mark:
    """One reviewer mark: a sensor (or all of the station's, None) and a time range."""

    action: Action
    sensor_id: str | None
    time_from: float
    time_to: float


@dataclass(frozen=True, slots=True)
class Counts:
    """Expected, received and valid readings (before and after review) of one sensor, station or network."""

    expected: float
    captured: int
    valid_before: int
    valid_after: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.expected + other.expected,
            self.captured + other.captured,
            self.valid_before + other.valid_before,
            self.valid_after + other.valid_after,
        )

    def ratios(self) -> dict[str, float | None]:
        """The three ratios, 0-1 (None without expected readings)."""
        if self.expected <= 0:
            return {"capture": None, "valid_before": None, "valid_after": None}
        return {
            "capture": min(1.0, self.captured / self.expected),
            "valid_before": min(1.0, self.valid_before / self.expected),
            "valid_after": min(1.0, self.valid_after / self.expected),
        }


ZERO = Counts(0.0, 0, 0, 0)


def valid_after_review(
    sensor_id: NDArray[np.object_], time: NDArray[np.float64], valid: NDArray[np.bool_], marks: Sequence[Mark]
) -> NDArray[np.bool_]:
    """Validity after applying ``marks`` in order (a later mark overrides an earlier one)."""
    out = valid.copy()
    for mark in marks:
        covered = (time >= mark.time_from) & (time < mark.time_to)
        if mark.sensor_id is not None:
            covered &= sensor_id == mark.sensor_id
        out[covered] = mark.action is Action.CONFIRM
    return out


def sensor_counts(
    sensors: Sequence[tuple[str, float]],
    sensor_id: NDArray[np.object_],
    time: NDArray[np.float64],
    flags: NDArray[np.uint16],
    marks: Sequence[Mark],
    seconds: float,
) -> dict[str, Counts]:
    """Counts per sensor over a period of ``seconds`` (readings already limited to the period and station)."""
    valid = (flags & INVALID_MASK) == 0
    after = valid_after_review(sensor_id, time, valid, marks)
    out: dict[str, Counts] = {}
    for sensor, interval_s in sensors:
        mine = sensor_id == sensor
        out[sensor] = Counts(
            expected=seconds / interval_s,
            captured=int(np.count_nonzero(mine)),
            valid_before=int(np.count_nonzero(mine & valid)),
            valid_after=int(np.count_nonzero(mine & after)),
        )
    return out


def qc_pass_ratio(results: Sequence[str]) -> float | None:
    """Passed / all QC comparison results (reason codes qc_pass, qc_fail); None when there were none."""
    if not results:
        return None
    return sum(1 for code in results if code == "qc_pass") / len(results)
