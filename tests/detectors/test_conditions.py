"""The published condition names match what the detector modules emit."""

from __future__ import annotations

from detectors import anomaly, gamma, gas, geofence, liveness, quality, sources, thresholds
from detectors.conditions import CONDITION_NAMES


def test_condition_names_are_the_module_constants() -> None:
    """Every constant ``X = "family.name"`` in a detector module is listed, and nothing else."""
    emitted = set()
    for module in (anomaly, gamma, gas, geofence, liveness, quality, sources, thresholds):
        for name, value in vars(module).items():
            if (
                name.isupper()
                and isinstance(value, str)
                and "." in value
                and value.split(".")[0] in {"threshold", "anomaly", "gamma", "quality", "gas", "source"}
            ):
                emitted.add(value)
    assert emitted == set(CONDITION_NAMES)
    assert len(CONDITION_NAMES) == len(set(CONDITION_NAMES))
