"""Condition events: what detectors hand to the rule engine.

A condition is a named yes/no fact about one sensor (``threshold.high``, ``quality.stuck``, ...).
Detectors report only the moments a condition turns on or off, as parallel arrays, so the rule
engine touches Python objects only for transitions, which are rare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Every condition name the detectors emit (the rule files refer to these strings). Each detector module
# defines its own constants; tests/detectors/test_conditions.py checks the two lists agree.
CONDITION_NAMES: tuple[str, ...] = (
    "threshold.high",
    "threshold.high_high",
    "threshold.low",
    "anomaly.spike",
    "anomaly.shift",
    "anomaly.drift",
    "anomaly.new_normal",
    "gamma.rise",
    "gamma.rise_natural",
    "gamma.rise_suspicious",
    "gamma.rise_transient",
    "gamma.rise_slow",
    "quality.stuck",
    "quality.flatline",
    "quality.out_of_range",
    "quality.jump",
    "quality.offline",
    "quality.clock_skew",
    "quality.capture_low",
    "quality.detector_fault",
    "gas.level1",
    "gas.level2",
    "gas.aegl1_10min",
    "gas.aegl1_30min",
    "gas.aegl1_60min",
    "gas.aegl1_4h",
    "gas.aegl1_8h",
    "gas.aegl2_10min",
    "gas.aegl2_30min",
    "gas.aegl2_60min",
    "gas.aegl2_4h",
    "gas.aegl2_8h",
    "gas.aegl3_10min",
    "gas.aegl3_30min",
    "gas.aegl3_60min",
    "gas.aegl3_4h",
    "gas.aegl3_8h",
    "gas.erpg1_60min",
    "gas.erpg2_60min",
    "gas.erpg3_60min",
    "gas.stel_15min",
    "gas.twa_8h",
    "source.missing",
    "source.shielding_breach",
    "source.geofence_exit",
    "source.tamper",
    "source.battery_low",
    "source.mains_lost",
    "source.heartbeat_lost",
    "source.detector_fault",
)


@dataclass(frozen=True, slots=True)
class ConditionEvents:
    """Transitions of one named condition, one entry per sensor transition, in time order."""

    condition: str
    sensor: NDArray[np.int32]
    time: NDArray[np.float64]
    active: NDArray[np.bool_]
    value: NDArray[np.float64]  # the measured value that caused the transition
    level: NDArray[np.float64]  # the level it was compared with (nan where not applicable)
    # True where ``value`` is only a lower bound (a reading at or above full scale, or a window mean holding
    # one); None: no transition is censored.
    censored: NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return int(self.sensor.shape[0])

    def censored_or_false(self) -> NDArray[np.bool_]:
        """The censored mask, all False when none was given."""
        if self.censored is None:
            return np.zeros(self.sensor.shape[0], np.bool_)
        return self.censored

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
