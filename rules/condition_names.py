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

# Raised by the live release assessment (daemon/assessment) from its threat zones and the site's receptors, on the
# substance's loudest gas sensor: the expected AEGL-2 zone reaches a residential receptor; a school or hospital lies
# inside the expected AEGL-3 zone.
ASSESSMENT_AEGL2_RESIDENTIAL = "assessment.aegl2_residential"
ASSESSMENT_AEGL3_SCHOOL_HOSPITAL = "assessment.aegl3_school_hospital"
ASSESSED = frozenset({ASSESSMENT_AEGL2_RESIDENTIAL, ASSESSMENT_AEGL3_SCHOOL_HOSPITAL})

KNOWN = DETECTED | {LEVEL} | ASSESSED
