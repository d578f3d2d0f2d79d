"""Alarm flood detection: more than N new alarms within a sliding window (ISA-18.2: > 10 in 10 minutes)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class FloodDetector:
    """Counts annunciations in a sliding window; in flood while the count is above the limit."""

    max_alarms: int = 10
    window_s: float = 600.0
    times: deque[float] = field(default_factory=deque)

    def add(self, time: float) -> bool:
        """Count one new alarm; return whether the system is now in flood."""
        self.times.append(time)
        return self.in_flood(time)

    def in_flood(self, now: float) -> bool:
        """Whether more than ``max_alarms`` alarms arrived in the window ending at ``now``."""
        while self.times and self.times[0] <= now - self.window_s:
            self.times.popleft()
        return len(self.times) > self.max_alarms
