"""Helpers for the rules tests."""

from __future__ import annotations

import numpy as np

from detectors.conditions import ConditionEvents
from rules.sensor_table import SensorTable


def events(
    table: SensorTable, condition: str, items: list[tuple[str, float, bool]], value: float = 1.0, level: float = 0.5
) -> ConditionEvents:
    """Condition transitions for (sensor id, time, active) items."""
    n = len(items)
    return ConditionEvents(
        condition,
        np.array([table.index[s] for s, _, _ in items], np.int32),
        np.array([t for _, t, _ in items], np.float64),
        np.array([a for _, _, a in items], np.bool_),
        np.full(n, value),
        np.full(n, level),
    )
