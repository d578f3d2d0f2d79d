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

A replay's quiet block hands over readings known to be new (``remember_new``: each later than anything remembered of
its sensor, none twice): those are kept as the packed key array and turned into set members only when a lookup needs
the sets (``_settle``). A generation forgotten before anything looked in it never builds its set, which is most of a
quiet day's keys. What is remembered, and when a generation turns over, are the same as adding the keys at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.readings import ReadingBatch

KEY = np.dtype([("sensor", "<i4"), ("micros", "<i8")])
_NEVER = np.iinfo(np.int64).min


def _micros(time: NDArray[np.float64]) -> NDArray[np.int64]:
    """Times in whole microseconds: a key's, and what ``SeenReadings`` compares with the latest remembered."""
    micros: NDArray[np.int64] = np.rint(time * 1e6).astype(np.int64)
    return micros


def _packed(sensor: NDArray[np.int32], micros: NDArray[np.int64]) -> NDArray[np.void]:
    """The readings' keys as one array of 12-byte items (``tolist`` gives the ``bytes`` the sets hold)."""
    keys = np.empty(sensor.shape[0], KEY)
    keys["sensor"] = sensor
    keys["micros"] = micros
    packed: NDArray[np.void] = keys.view(f"V{KEY.itemsize}")
    return packed


def reading_keys(sensor: NDArray[np.int32], time: NDArray[np.float64]) -> list[bytes]:
    """One key per reading: its sensor and its time in whole microseconds, packed into 12 bytes."""
    listed: list[bytes] = _packed(sensor, _micros(time)).tolist()
    return listed


class SeenReadings:
    """The keys of the latest readings through the pipeline."""

    def __init__(self, generation: int = 200_000) -> None:
        self._generation = generation
        self._current: set[bytes] = set()
        self._previous: set[bytes] = set()
        # Keys of each generation not yet in its set (``remember_new``'s: distinct and in neither set), packed.
        self._current_pending: list[NDArray[np.void]] = []
        self._previous_pending: list[NDArray[np.void]] = []
        self._current_count = 0  # len(self._current) + the pending keys of the current generation
        # Per sensor, the latest time (microseconds) ever remembered: a reading later than that cannot be in the
        # sets (forgetting a generation leaves it as it is, so it only errs towards looking in the sets).
        self._newest = np.full(0, _NEVER, np.int64)

    @property
    def generation(self) -> int:
        """How many of the latest readings are always remembered."""
        return self._generation

    def __len__(self) -> int:
        return self._current_count + len(self._previous) + sum(len(keys) for keys in self._previous_pending)

    def remember(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> None:
        """Mark readings as seen (stored readings loaded at start)."""
        self._add(reading_keys(sensor, time), sensor, time)

    def fresh(self, batch: ReadingBatch) -> NDArray[np.bool_] | None:
        """Mark the batch's readings seen; return a mask of the new ones, or None when all are new (the usual case)."""
        listed = reading_keys(batch.sensor, batch.time)
        self._settle()
        hits = self._current.intersection(listed) | self._previous.intersection(listed)
        before = len(self._current)
        self._add(listed, batch.sensor, batch.time)
        if not hits and len(self._current) - before == len(listed):  # settled: no pending keys
            return None
        # Rare: a redelivery, or one message naming a reading twice. Keep each reading's first copy only.
        mask = np.zeros(len(listed), np.bool_)
        first: set[bytes] = set()
        for position, key in enumerate(listed):  # a Python loop, but only over the rare batch with a repeat
            if key not in hits and key not in first:
                first.add(key)
                mask[position] = True
        return mask

    def any_seen(self, keys: list[bytes]) -> bool:
        """Whether any of these keys (``reading_keys``) was seen already; remembers nothing."""
        self._settle()
        return not (self._current.isdisjoint(keys) and self._previous.isdisjoint(keys))

    def any_seen_readings(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> bool:
        """``any_seen`` for these readings: without making their keys or looking in the sets when every reading is
        later than the latest remembered of its sensor (a replay's readings, almost always)."""
        return not self.all_later(sensor, time) and self.any_seen(reading_keys(sensor, time))

    def all_later(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> bool:
        """Whether every reading is later than the latest remembered of its sensor (then none was seen)."""
        if not sensor.shape[0]:
            return True
        return int(sensor.max()) < self._newest.shape[0] and bool(np.all(_micros(time) > self._newest[sensor]))

    def room(self) -> int:
        """How many more keys the current generation takes before it turns over."""
        return self._generation - self._current_count

    def remember_keys(self, keys: list[bytes], sensor: NDArray[np.int32], time: NDArray[np.float64]) -> None:
        """Mark keys seen (``reading_keys(sensor, time)``), as ``fresh`` does for a batch of new readings."""
        self._add(keys, sensor, time)

    def remember_new(self, sensor: NDArray[np.int32], time: NDArray[np.float64]) -> bool:
        """Mark readings seen when each is later than the latest remembered of its sensor and no reading comes
        twice (the caller's promise: a block in time order without repeats), without building their set members
        yet; False (and nothing remembered) when some reading is not later."""
        if not self.all_later(sensor, time):
            return False
        self._turn_over_for(sensor.shape[0])  # as ``_add``: even for no readings, when the generation is over
        if not sensor.shape[0]:
            return True
        micros = _micros(time)
        self._current_pending.append(_packed(sensor, micros))
        self._current_count += sensor.shape[0]
        np.maximum.at(self._newest, sensor, micros)
        return True

    def _settle(self) -> None:
        """Put the pending keys into their generations' sets (before a lookup)."""
        for pending, members in ((self._current_pending, self._current), (self._previous_pending, self._previous)):
            for keys in pending:
                members.update(keys.tolist())
            pending.clear()

    def _turn_over_for(self, n: int) -> None:
        if self._current_count + n > self._generation:
            self._previous, self._current = self._current, set()
            self._previous_pending, self._current_pending = self._current_pending, []
            self._current_count = 0

    def _add(self, keys: list[bytes], sensor: NDArray[np.int32], time: NDArray[np.float64]) -> None:
        self._settle()  # the count of a set update is the set's growth: repeats are counted once
        self._turn_over_for(len(keys))
        self._current.update(keys)
        self._current_count = len(self._current)
        if keys:
            top = int(sensor.max())
            if top >= self._newest.shape[0]:
                grown = np.full(top + 1, _NEVER, np.int64)
                grown[: self._newest.shape[0]] = self._newest
                self._newest = grown
            np.maximum.at(self._newest, sensor, _micros(time))
