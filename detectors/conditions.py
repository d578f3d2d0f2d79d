"""Condition events: what detectors hand to the rule engine.

A condition is a named yes/no fact about one sensor (``threshold.high``, ``quality.stuck``, ...).
Detectors report only the moments a condition turns on or off, as parallel arrays, so the rule
engine touches Python objects only for transitions, which are rare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class ConditionEvents:
    """Transitions of one named condition, one entry per sensor transition, in time order."""

    condition: str
    sensor: NDArray[np.int32]
    time: NDArray[np.float64]
    active: NDArray[np.bool_]
    value: NDArray[np.float64]  # the measured value that caused the transition
    level: NDArray[np.float64]  # the level it was compared with (nan where not applicable)

    def __len__(self) -> int:
        return int(self.sensor.shape[0])

    @classmethod
    def empty(cls, condition: str) -> ConditionEvents:
        """No transitions."""
        return cls(
            condition,
            np.empty(0, np.int32),
            np.empty(0, np.float64),
            np.empty(0, np.bool_),
            np.empty(0, np.float64),
            np.empty(0, np.float64),
        )
