"""Stand-ins for what the metric collectors read from the chain (shared by the exposition tests and the bench)."""

from __future__ import annotations

import numpy as np

NOW = 1_800_000_000.0


class Latest:
    """The pipeline's per-sensor arrays: every sensor reported within ``spread_s`` before ``NOW``."""

    def __init__(self, n: int, rng: np.random.Generator, spread_s: float = 20.0) -> None:
        self.latest_value = rng.random(n) * 100
        self.latest_time = NOW - rng.random(n) * spread_s
        self.latest_flags = np.zeros(n, np.uint16)


class Conditions:
    """A fixed set of open (condition, sensor) pairs, each an unacknowledged high alarm."""

    def __init__(self, pairs: list[tuple[str, int]]) -> None:
        self._pairs = pairs

    def active_conditions(self) -> list[tuple[str, int]]:
        """The open pairs."""
        return self._pairs

    def alarm_states(self) -> list[tuple[str, str]]:
        """One active_unack high alarm per pair."""
        return [("high", "active_unack")] * len(self._pairs)
