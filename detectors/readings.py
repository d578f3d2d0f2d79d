"""Readings travel in batches: one numpy array per field, indexed by reading."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Quality flags, one bit each, carried beside every reading.
FLAG_DEVICE_FAULT = np.uint16(1 << 0)  # the device says its detector is faulty
FLAG_SATURATED = np.uint16(1 << 1)  # the device says its detector is saturated (fold-back risk)
FLAG_OUT_OF_RANGE = np.uint16(1 << 2)  # outside the physically possible range for the kind
FLAG_STUCK = np.uint16(1 << 3)  # identical to the previous readings for too long
FLAG_JUMP = np.uint16(1 << 4)  # an impossible jump from the previous reading
FLAG_CLOCK_SKEW = np.uint16(1 << 5)  # device time far from receive time
FLAG_OUT_OF_SERVICE = np.uint16(1 << 6)  # the sensor is in maintenance / out of service
FLAG_FLATLINE = np.uint16(1 << 7)  # pinned at zero or at full scale
# A fall of orders of magnitude from a high reading within a report interval or two, with no device flag: the
# signature of GM-tube fold-back (dead time paralyses the counter in a strong field) or of a probe that died.
# Held until a credible reading or an operator reset, so a folded-back probe can never clear a hazard alarm.
FLAG_NOT_CREDIBLE = np.uint16(1 << 8)
# Instrument states that data loggers report per value (HJ 212-2017 data flags C and S): the value is not a
# measurement of the air, so it is never judged as a hazard or as safe, and it is not valid data.
FLAG_CALIBRATION = np.uint16(1 << 9)  # the analyser is calibrating (zero/span check)
FLAG_MANUAL = np.uint16(1 << 10)  # the value was entered by hand

# Readings with any of these bits are not trusted for hazard decisions.
INVALID_MASK = np.uint16(
    FLAG_DEVICE_FAULT
    | FLAG_SATURATED
    | FLAG_OUT_OF_RANGE
    | FLAG_STUCK
    | FLAG_JUMP
    | FLAG_OUT_OF_SERVICE
    | FLAG_FLATLINE
    | FLAG_NOT_CREDIBLE
    | FLAG_CALIBRATION
    | FLAG_MANUAL
)
# Bits that say nothing against a reading being a *lower bound*: a saturated hazard detector reads at or above
# its full scale, so the true value is at least that (a censored reading, never a low one).
_CENSOR_BLOCKERS = np.uint16(INVALID_MASK & ~FLAG_SATURATED)

FLAG_NAMES: dict[int, str] = {
    int(FLAG_DEVICE_FAULT): "device_fault",
    int(FLAG_SATURATED): "saturated",
    int(FLAG_OUT_OF_RANGE): "out_of_range",
    int(FLAG_STUCK): "stuck",
    int(FLAG_JUMP): "jump",
    int(FLAG_CLOCK_SKEW): "clock_skew",
    int(FLAG_OUT_OF_SERVICE): "out_of_service",
    int(FLAG_FLATLINE): "flatline",
    int(FLAG_NOT_CREDIBLE): "not_credible",
    int(FLAG_CALIBRATION): "calibration",
    int(FLAG_MANUAL): "manual",
}


def censored_mask(flags: NDArray[np.uint16]) -> NDArray[np.bool_]:
    """Readings that are saturated and otherwise sound: their value is a lower bound of the true value.

    They count in every "above" test (as at least their value) and in no test that needs the true value.
    """
    censored: NDArray[np.bool_] = ((flags & FLAG_SATURATED) != 0) & ((flags & _CENSOR_BLOCKERS) == 0)
    return censored


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """A batch of readings as parallel arrays (structure of arrays).

    ``sensor`` is the sensor's index in the site's sensor table, ``time`` is seconds since the
    Unix epoch (float64), ``value`` is in the kind's canonical unit, ``flags`` holds quality bits.
    """

    sensor: NDArray[np.int32]
    time: NDArray[np.float64]
    value: NDArray[np.float64]
    flags: NDArray[np.uint16]

    def __len__(self) -> int:
        return int(self.sensor.shape[0])

    @classmethod
    def empty(cls) -> ReadingBatch:
        """Return a batch with no readings."""
        return cls(np.empty(0, np.int32), np.empty(0, np.float64), np.empty(0, np.float64), np.empty(0, np.uint16))

    @classmethod
    def from_lists(
        cls, sensor: list[int], time: list[float], value: list[float], flags: list[int] | None = None
    ) -> ReadingBatch:
        """Build a batch from Python lists (codec and tests)."""
        n = len(sensor)
        return cls(
            np.asarray(sensor, np.int32),
            np.asarray(time, np.float64),
            np.asarray(value, np.float64),
            np.asarray(flags if flags is not None else [0] * n, np.uint16),
        )

    @classmethod
    def concat(cls, batches: list[ReadingBatch]) -> ReadingBatch:
        """Join batches in order."""
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(
            np.concatenate([b.sensor for b in batches]),
            np.concatenate([b.time for b in batches]),
            np.concatenate([b.value for b in batches]),
            np.concatenate([b.flags for b in batches]),
        )

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_] | slice) -> ReadingBatch:
        """Select readings by index array, mask or slice."""
        return ReadingBatch(self.sensor[index], self.time[index], self.value[index], self.flags[index])

    def sorted_by_time(self) -> ReadingBatch:
        """Return the batch ordered by time (stable, so equal times keep arrival order)."""
        order = np.argsort(self.time, kind="stable")
        return self.take(order)

    def valid_mask(self) -> NDArray[np.bool_]:
        """Readings that carry no quality bit that makes them untrustworthy."""
        valid: NDArray[np.bool_] = (self.flags & INVALID_MASK) == 0
        return valid
