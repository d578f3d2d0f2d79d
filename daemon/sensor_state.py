"""What the wall shows per sensor and per sealed source, derived from the pipeline's arrays and open conditions.

Pure array functions (no I/O, time passed in): the metric collectors call them at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.kinds import KIND_CODES, Kind
from detectors.readings import FLAG_CALIBRATION, FLAG_MANUAL, FLAG_OUT_OF_SERVICE, INVALID_MASK
from rules.sensor_table import SensorTable

# Sensor states, one of them per sensor. The code order is the wall's colour order (see docs/metrics.md).
NORMAL, OUT_OF_SERVICE, OFFLINE, FAULT, ALARM = 0, 1, 2, 3, 4
SENSOR_STATES: tuple[str, ...] = ("normal", "out_of_service", "offline", "fault", "alarm")

# REFERENCE.md: offline after 3 missed report intervals.
OFFLINE_AFTER_INTERVALS = 3.0

# Conditions that say "no data" or "bad data" rather than "hazard".
OFFLINE_CONDITIONS = frozenset({"quality.offline", "source.heartbeat_lost"})
IGNORED_CONDITIONS = frozenset({"quality.capture_low"})  # a 24 h statistic, not the sensor's state now
FAULT_PREFIX = "quality."
FAULT_CONDITIONS = frozenset({"source.detector_fault"})

# Sealed-source statuses; several can hold at once (a tampered container can also be outside its geofence).
SOURCE_STATUSES: tuple[str, ...] = (
    "in_container",
    "missing",
    "outside_geofence",
    "tamper",
    "offline",
    "low_battery",
    "mains_lost",
)

# Calibration and manually set values (HJ 212-2017 flags C, S) are planned instrument states, shown like out of service.
_NOT_MEASURING = np.uint16(FLAG_OUT_OF_SERVICE | FLAG_CALIBRATION | FLAG_MANUAL)
_FAULT_FLAGS = np.uint16(INVALID_MASK & ~_NOT_MEASURING)
_SOURCE_DOSE = KIND_CODES[Kind.SOURCE_DOSE_RATE]
_TAMPER = KIND_CODES[Kind.TAMPER]
_BATTERY = KIND_CODES[Kind.BATTERY_VOLTAGE]
_MAINS = KIND_CODES[Kind.MAINS_POWER]


@dataclass(frozen=True, slots=True)
class ConditionMasks:
    """Open conditions folded into one boolean per sensor and category."""

    alarm: NDArray[np.bool_]
    fault: NDArray[np.bool_]
    offline: NDArray[np.bool_]
    names: dict[int, set[str]]  # sensor -> names of its open conditions (only sensors with any)


def fold_conditions(n_sensors: int, conditions: Iterable[tuple[str, int]]) -> ConditionMasks:
    """Sort open (condition, sensor) pairs into alarm, fault and offline masks."""
    alarm = np.zeros(n_sensors, np.bool_)
    fault = np.zeros(n_sensors, np.bool_)
    offline = np.zeros(n_sensors, np.bool_)
    names: dict[int, set[str]] = {}
    for condition, sensor in conditions:
        if not 0 <= sensor < n_sensors or condition in IGNORED_CONDITIONS:
            continue
        names.setdefault(sensor, set()).add(condition)
        if condition in OFFLINE_CONDITIONS:
            offline[sensor] = True
        elif condition.startswith(FAULT_PREFIX) or condition in FAULT_CONDITIONS:
            fault[sensor] = True
        else:
            alarm[sensor] = True
    return ConditionMasks(alarm, fault, offline, names)


def sensor_states(
    now: float,
    latest_time: NDArray[np.float64],
    latest_flags: NDArray[np.uint16],
    report_interval_s: NDArray[np.float64],
    device_offline: NDArray[np.bool_],
    masks: ConditionMasks,
    out_of_service: NDArray[np.bool_],
) -> NDArray[np.int8]:
    """One state code per sensor; precedence out_of_service > alarm > offline > fault > normal.

    An open alarm outranks "offline" because the duty officer must see a hazard even when the
    device went quiet after raising it; out-of-service outranks everything because a person took
    the sensor out of the picture on purpose.
    """
    with np.errstate(invalid="ignore"):
        stale = ~(now - latest_time <= OFFLINE_AFTER_INTERVALS * report_interval_s)  # nan (never seen) is stale
    state = np.full(latest_time.shape[0], NORMAL, np.int8)
    state[((latest_flags & _FAULT_FLAGS) != 0) | masks.fault] = FAULT
    state[stale | device_offline | masks.offline] = OFFLINE
    state[masks.alarm] = ALARM
    state[((latest_flags & _NOT_MEASURING) != 0) | out_of_service] = OUT_OF_SERVICE
    return state


def source_statuses(
    table: SensorTable,
    device: int,
    state: NDArray[np.int8],
    latest_value: NDArray[np.float64],
    masks: ConditionMasks,
) -> dict[str, bool]:
    """Which sealed-source statuses hold for one source-monitor device.

    Uses the detection core's ``source.*`` conditions when they are open, and until the full core
    runs, the spine's level conditions and latest values (low container dose = missing, tamper
    switch at 1, mains at 0).
    """
    sensors = np.flatnonzero(table.device_of == device)
    kinds = table.kind[sensors]
    names: set[str] = set()
    by_kind: dict[int, set[str]] = {}
    for sensor, kind in zip(sensors.tolist(), kinds.tolist(), strict=True):
        open_here = masks.names.get(sensor, set())
        names |= open_here
        by_kind.setdefault(kind, set()).update(open_here)

    def latest_of(kind: int) -> NDArray[np.float64]:
        values: NDArray[np.float64] = latest_value[sensors[kinds == kind]]
        return values

    dose_sensors = sensors[kinds == _SOURCE_DOSE]
    watched = dose_sensors if dose_sensors.size else sensors
    offline = bool(np.all(state[watched] == OFFLINE))
    missing = "source.missing" in names or "threshold.low" in by_kind.get(_SOURCE_DOSE, set())
    outside = "source.geofence_exit" in names
    tamper = (
        "source.tamper" in names
        or bool(by_kind.get(_TAMPER, set()) & {"threshold.high", "threshold.high_high"})
        or bool(np.any(latest_of(_TAMPER) >= 0.5))
    )
    low_battery = "source.battery_low" in names or "threshold.low" in by_kind.get(_BATTERY, set())
    mains_lost = "source.mains_lost" in names or bool(np.any(latest_of(_MAINS) < 0.5))
    return {
        "in_container": not (missing or outside or offline),
        "missing": missing,
        "outside_geofence": outside,
        "tamper": tamper,
        "offline": offline,
        "low_battery": low_battery,
        "mains_lost": mains_lost,
    }
