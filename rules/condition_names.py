"""The condition names rules may use: those the detection core reports, plus ``level``, evaluated by the rule engine."""

from __future__ import annotations

from detectors.conditions import CONDITION_NAMES
from detectors.liveness import HEARTBEAT_LOST
from detectors.quality import OFFLINE

LEVEL = "level"

# Conditions that mean "the device is not reporting": every other alarm on that device depends on them.
DEVICE_OFFLINE = frozenset({OFFLINE, HEARTBEAT_LOST})

# Reported by the detection core; device-level ones arrive on the device's first sensor.
DETECTED = frozenset(CONDITION_NAMES)

KNOWN = DETECTED | {LEVEL}
