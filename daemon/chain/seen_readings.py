"""Readings already stored, by sensor and time, so a redelivered message is neither stored nor judged twice.

QoS 1 is at least once (MQTT 5.0 section 4.3.2): a message whose rows committed but whose acknowledgement did not
reach the broker (a crash, a lost connection) is delivered again. A reading is the same reading when its sensor and
its time (to the microsecond) are the same. Keys were milliseconds once: a sensor sampling faster than 1 kHz, or a
device stamping two distinct readings within one millisecond, lost the second as a "redelivery". A redelivered
message is decoded from the same bytes, and the store keeps times as float64 (``reading_chunks``), so its readings
match to the microsecond whether they come from a message or from the database at start; the key lives in memory
only, so no stored row changes (no migration).

The most recent readings are remembered as 12-byte keys (sensor int32, microseconds int64: no sensor limit, valid
until year 294,000) in two generations of Python sets (set operations on bytes run in C, about 0.4 us per reading;
no per-reading Python loop), so at least ``generation`` of the latest readings are always remembered, at most twice
that, and memory stays bounded. After a restart the set is filled from the newest stored chunks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.readings import ReadingBatch

KEY = np.dtype([("sensor", "<i4"), ("micros", "<i8")])


def reading_keys(sensor: NDArray[np.int32], time: NDArray[np.float64]) -> list[bytes]:
    """One key per reading: its sensor and its time in whole microseconds, packed into 12 bytes."""
    keys = np.empty(sensor.shape[0], KEY)
    keys["sensor"] = sensor
    keys["micros"] = np.rint(time * 1e6)
    listed: list[bytes] = keys.view(f"V{KEY.itemsize}").tolist()
    return listed


class SeenReadings:
    """The keys of the latest readings through the pipeline."""

    def __init__(self, generation: int = 200_000) -> None:
        self._generation = generation
        self._current: set[bytes] = set()
        self._previous: set[bytes] = set()

    @property
    def generation(self) -> int:
        """How many of the latest readings are always remembered."""
        return self._generation

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def remember(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> None:
        """Mark readings as seen (stored readings loaded at start)."""
        self._add(reading_keys(sensor, time))

    def fresh(self, batch: ReadingBatch) -> NDArray[np.bool_] | None:
        """Mark the batch's readings seen; return a mask of the new ones, or None when all are new (the usual case)."""
        listed = reading_keys(batch.sensor, batch.time)
        hits = self._current.intersection(listed) | self._previous.intersection(listed)
        before = len(self._current)
        self._add(listed)
        if not hits and len(self._current) - before == len(listed):
            return None
        # Rare: a redelivery, or one message naming a reading twice. Keep each reading's first copy only.
        mask = np.zeros(len(listed), np.bool_)
        first: set[bytes] = set()
        for position, key in enumerate(listed):  # a Python loop, but only over the rare batch with a repeat
            if key not in hits and key not in first:
                first.add(key)
                mask[position] = True
        return mask

    def _add(self, keys: list[bytes]) -> None:
        if len(self._current) + len(keys) > self._generation:
            self._previous, self._current = self._current, set()
        self._current.update(keys)
