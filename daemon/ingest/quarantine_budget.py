"""How much quarantined input is stored: a cap per payload and a byte budget per day.

Quarantine rows are for inspection; a flood of 1 MB junk messages must not fill the database. Each stored payload
keeps at most its first ``max_payload_bytes`` (the detail says how much was cut), and once a UTC day's stored bytes
reach ``max_bytes_per_day`` further rejections are only counted (the metric and the log say so) until the day ends.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_DAY = 86400


@dataclass(slots=True)
class QuarantineBudget:
    """Decides what of each quarantined message is stored."""

    max_payload_bytes: int = 4096
    max_bytes_per_day: int = 64 * 1024 * 1024
    _day: int = -1
    _spent: int = 0

    def admit(self, received: float, topic: str, detail: str, payload: bytes) -> tuple[str, bytes] | None:
        """The (detail, payload) to store for a rejected message, or None when today's budget is spent."""
        day = int(received // SECONDS_PER_DAY)
        if day != self._day:
            self._day, self._spent = day, 0
        kept = payload[: self.max_payload_bytes]
        if len(kept) < len(payload):
            detail = f"{detail} [payload cut to its first {len(kept)} of {len(payload)} bytes]"
        cost = len(kept) + len(detail.encode()) + len(topic.encode())
        if self._spent + cost > self.max_bytes_per_day:
            return None
        self._spent += cost
        return detail, kept
