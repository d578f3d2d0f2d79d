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

# Offline after 3 missed report intervals: one lost message and one late one are tolerated, a third miss is not
# (a hazwatch default, tune per site; sealed-source monitors with a last will are offline at once).
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


@dataclass(frozen=True, slots=True)
class SourceDevices:
    """The sensors of each sealed-source monitor, laid out once so statuses are computed for all in a few array ops."""

    devices: NDArray[np.intp]  # device numbers, one row of the status table each
    position: NDArray[np.intp]  # sensor -> row of its device, -1 for sensors of other devices
    watched: NDArray[np.intp]  # per row, the sensors whose silence means "offline" (dose sensors, else all)
    watched_starts: NDArray[np.intp]
    tamper: NDArray[np.intp]  # tamper-switch sensors and ...
    tamper_row: NDArray[np.intp]  # ... the row each belongs to
    mains: NDArray[np.intp]
    mains_row: NDArray[np.intp]

    @classmethod
    def build(cls, table: SensorTable, devices: Iterable[int]) -> SourceDevices:
        """Index ``devices`` (source-monitor device numbers) of ``table``."""
        rows = np.array(list(devices), np.intp)
        position = np.full(len(table), -1, np.intp)
        watched: list[NDArray[np.intp]] = []
        for row, device in enumerate(rows.tolist()):
            sensors = np.flatnonzero(table.device_of == device)
            position[sensors] = row
            dose = sensors[table.kind[sensors] == _SOURCE_DOSE]
            watched.append(dose if dose.size else sensors)
        sizes = np.array([w.size for w in watched], np.intp)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp) if watched else np.zeros(0, np.intp)
        owned = position >= 0
        tamper = np.flatnonzero(owned & (table.kind == _TAMPER))
        mains = np.flatnonzero(owned & (table.kind == _MAINS))
        flat = np.concatenate(watched).astype(np.intp) if watched else np.zeros(0, np.intp)
        return cls(rows, position, flat, starts, tamper, position[tamper], mains, position[mains])


def source_status_table(
    table: SensorTable,
    index: SourceDevices,
    state: NDArray[np.int8],
    latest_value: NDArray[np.float64],
    masks: ConditionMasks,
) -> NDArray[np.bool_]:
    """Which sealed-source statuses hold, one row per indexed device, one column per ``SOURCE_STATUSES`` entry.

    Uses the detection core's ``source.*`` conditions when they are open, and until the full core runs, the
    spine's level conditions and latest values (low container dose = missing, tamper switch at 1, mains at 0).
    """
    rows = len(index.devices)
    missing = np.zeros(rows, np.bool_)
    outside = np.zeros(rows, np.bool_)
    tamper = np.zeros(rows, np.bool_)
    low_battery = np.zeros(rows, np.bool_)
    mains_lost = np.zeros(rows, np.bool_)
    offline = np.zeros(rows, np.bool_)
    if rows:
        offline = np.logical_and.reduceat(state[index.watched] == OFFLINE, index.watched_starts)
        np.logical_or.at(tamper, index.tamper_row, latest_value[index.tamper] >= 0.5)
        np.logical_or.at(mains_lost, index.mains_row, latest_value[index.mains] < 0.5)
    for sensor, names in masks.names.items():  # sparse: only sensors with open conditions
        row = int(index.position[sensor]) if 0 <= sensor < index.position.shape[0] else -1
        if row < 0:
            continue
        kind = int(table.kind[sensor])
        missing[row] |= "source.missing" in names or (kind == _SOURCE_DOSE and "threshold.low" in names)
        outside[row] |= "source.geofence_exit" in names
        tamper[row] |= "source.tamper" in names or (
            kind == _TAMPER and bool(names & {"threshold.high", "threshold.high_high"})
        )
        low_battery[row] |= "source.battery_low" in names or (kind == _BATTERY and "threshold.low" in names)
        mains_lost[row] |= "source.mains_lost" in names
    in_container = ~(missing | outside | offline)
    return np.stack([in_container, missing, outside, tamper, offline, low_battery, mains_lost], axis=1)


def source_statuses(
    table: SensorTable,
    device: int,
    state: NDArray[np.int8],
    latest_value: NDArray[np.float64],
    masks: ConditionMasks,
) -> dict[str, bool]:
    """Which sealed-source statuses hold for one source-monitor device."""
    row = source_status_table(table, SourceDevices.build(table, [device]), state, latest_value, masks)[0]
    return dict(zip(SOURCE_STATUSES, row.tolist(), strict=True))
