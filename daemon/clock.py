"""The injected clock. Only daemon/ reads the wall clock, and only through this module."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in unix seconds."""

    def now(self) -> float:
        """Current time, unix seconds."""
        ...


class WallClock:
    """Live mode: the system's real time."""

    def now(self) -> float:
        """Current wall time."""
        return time.time()


class ManualClock:
    """Replays and tests: time moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        """The time last set."""
        return self._now

    def set(self, when: float) -> None:
        """Move to ``when`` (never backwards)."""
        self._now = max(self._now, when)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._now += seconds
