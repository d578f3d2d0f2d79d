"""Readings already stored, by sensor and time, so a redelivered message is neither stored nor judged twice.

QoS 1 is at least once (MQTT 5.0 section 4.3.2): a message whose rows committed but whose acknowledgement did not
reach the broker (a crash, a lost connection) is delivered again. A reading is the same reading when its sensor and
its time (to the millisecond) are the same. The most recent readings are remembered as 64-bit keys in two
generations of Python sets (set operations run in C, about 0.1 us per reading; no per-reading Python loop), so at
least ``generation`` of the latest readings are always remembered, at most twice that, and memory stays bounded.
After a restart the set is filled from the newest stored chunks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.readings import ReadingBatch

TIME_BITS = 42  # milliseconds since 1970 fit until the year 2109
SENSOR_LIMIT = 1 << (64 - TIME_BITS)  # 4 million sensors
TIME_MASK = (1 << TIME_BITS) - 1


def reading_keys(sensor: NDArray[np.int32], time: NDArray[np.float64]) -> NDArray[np.uint64]:
    """One 64-bit key per reading: sensor in the high bits, time in milliseconds in the low ones."""
    millis = np.rint(time * 1000.0).astype(np.int64).astype(np.uint64) & np.uint64(TIME_MASK)
    return (sensor.astype(np.uint64) << np.uint64(TIME_BITS)) | millis


class SeenReadings:
    """The keys of the latest readings through the pipeline."""

    def __init__(self, generation: int = 200_000) -> None:
        self._generation = generation
        self._current: set[int] = set()
        self._previous: set[int] = set()

    @property
    def generation(self) -> int:
        """How many of the latest readings are always remembered."""
        return self._generation

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def remember(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> None:
        """Mark readings as seen (stored readings loaded at start)."""
        self._add(reading_keys(sensor, time).tolist())

    def fresh(self, batch: ReadingBatch) -> NDArray[np.bool_] | None:
        """Mark the batch's readings seen; return a mask of the new ones, or None when all are new (the usual case)."""
        keys = reading_keys(batch.sensor, batch.time)
        listed: list[int] = keys.tolist()
        hits = self._current.intersection(listed) | self._previous.intersection(listed)
        before = len(self._current)
        self._add(listed)
        if not hits and len(self._current) - before == len(listed):
            return None
        # Rare: a redelivery, or one message naming a reading twice. Keep each reading's first copy only.
        _, first = np.unique(keys, return_index=True)
        mask = np.zeros(len(listed), np.bool_)
        mask[first] = True
        if hits:
            mask &= ~np.isin(keys, np.fromiter(hits, np.uint64, len(hits)))
        return mask

    def any_seen(self, keys: NDArray[np.uint64]) -> bool:
        """Whether any of these keys (``reading_keys``) was seen already; remembers nothing."""
        listed: list[int] = keys.tolist()
        return not (self._current.isdisjoint(listed) and self._previous.isdisjoint(listed))

    def room(self) -> int:
        """How many more keys the current generation takes before it turns over."""
        return self._generation - len(self._current)

    def remember_keys(self, keys: NDArray[np.uint64]) -> None:
        """Mark keys seen, as ``fresh`` does for a batch of new readings."""
        self._add(keys.tolist())

    def _add(self, keys: list[int]) -> None:
        if len(self._current) + len(keys) > self._generation:
            self._previous, self._current = self._current, set()
        self._current.update(keys)
