"""SenML JSON (RFC 8428) to reading batches, with every rejected input explained.

A message is decoded record by record: good records become readings, bad ones become
``Rejection``s (reason + detail) so nothing is silently dropped and nothing stops the service.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeGuard

import numpy as np
import orjson

from detectors.kinds import BOOLEAN_KINDS, KINDS_BY_CODE
from detectors.readings import FLAG_CLOCK_SKEW, FLAG_DEVICE_FAULT, FLAG_OUT_OF_RANGE, FLAG_SATURATED, ReadingBatch
from detectors.units import UnknownUnitError, conversion
from rules.sensor_table import SensorTable

# RFC 8428 section 4.5.3: times below 2**28 are relative to now.
RELATIVE_TIME_LIMIT = 2.0**28
# Device status records that qualify the other readings of the same message.
STATUS_FLAGS = {"fault": FLAG_DEVICE_FAULT, "saturated": FLAG_SATURATED}
FLAG_CLOCK_SKEW_INT = int(FLAG_CLOCK_SKEW)
FLAG_OUT_OF_RANGE_INT = int(FLAG_OUT_OF_RANGE)
# SenML is an array of flat records (depth 2); anything nested deeper than this is not SenML, and is refused
# before a recursive parser sees it (a few KB of `[` exhaust the stdlib parser's recursion, see RFC 8259 section 9).
MAX_JSON_DEPTH = 8
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKETS = re.compile(rb"[\[\]{}]")
# A device clock this far ahead of our receive time is flagged as skewed (readings kept).
CLOCK_SKEW_FLAG_S = 30.0


class Reason(StrEnum):
    """Why input was quarantined. A closed set: it is a metric label."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_JSON = "invalid_json"
    INVALID_SENML = "invalid_senml"
    NON_FINITE_VALUE = "non_finite_value"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_SITE = "unknown_site"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_SENSOR = "unknown_sensor"
    UNKNOWN_UNIT = "unknown_unit"
    TIME_IN_FUTURE = "time_in_future"
    TIME_TOO_OLD = "time_too_old"
    BAD_STATUS = "bad_status"
    TOO_DEEP = "too_deep"
    DECODE_ERROR = "decode_error"  # the decoder itself failed on this message (a bug): kept for inspection
    PROCESSING_ERROR = "processing_error"  # the chain failed on the message's batch (a bug): kept for inspection


@dataclass(frozen=True, slots=True)
class Rejection:
    """Input that could not be used, with the reason and a human explanation."""

    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device's retained online/offline state (also its MQTT last will)."""

    device: int
    online: bool
    time: float


@dataclass(slots=True)
class BatchBuilder:
    """Accumulates decoded readings as Python lists; ``build`` turns them into one numpy batch."""

    sensor: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sensor)

    def truncate(self, length: int) -> None:
        """Forget the readings appended after the first ``length`` (a message that failed half way)."""
        del self.sensor[length:], self.time[length:], self.value[length:], self.flags[length:]

    def build(self) -> ReadingBatch:
        """The accumulated readings as a batch (the builder is emptied)."""
        batch = ReadingBatch(
            np.fromiter(self.sensor, np.int32, len(self.sensor)),
            np.fromiter(self.time, np.float64, len(self.time)),
            np.fromiter(self.value, np.float64, len(self.value)),
            np.fromiter(self.flags, np.uint16, len(self.flags)),
        )
        self.sensor, self.time, self.value, self.flags = [], [], [], []
        return batch


@dataclass(slots=True)
class DecodeResult:
    """What one message produced besides the readings appended to the builder."""

    readings: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    status: DeviceStatus | None = None


class SenmlDecoder:
    """Decodes messages for one site, converting units to each kind's canonical unit."""

    def __init__(
        self,
        table: SensorTable,
        prefix: str,
        max_payload_bytes: int,
        max_future_skew_s: float,
        max_past_age_s: float,
    ) -> None:
        self._table = table
        self._prefix_parts = prefix.strip("/").split("/")
        self._site = table.site.site
        self._device_index = {device.id: i for i, device in enumerate(table.devices)}
        self._max_payload = max_payload_bytes
        self._max_future = max_future_skew_s
        self._max_past = max_past_age_s
        self._conversions: dict[tuple[int, str], tuple[float, float]] = {}
        # Per device: (base name, name, unit as sent) -> (sensor, scale, offset, full name), filled
        # the first time a numeric record of that shape decodes cleanly. Devices repeat the same names and
        # units in every message, so later records skip name resolution and unit checks.
        self._known: dict[str, dict[tuple[str, object, object], tuple[int, float, float, str]]] = {}
        self._kinds = [KINDS_BY_CODE[code] for code in table.kind.tolist()]
        self._range_min = table.range_min.tolist()
        self._range_max = table.range_max.tolist()
        self._declared_units = [sensor.unit for sensor in table.sensors]
        self._is_boolean = [kind in BOOLEAN_KINDS for kind in self._kinds]
        # Sensors whose declared unit is not the canonical one (e.g. a detector set to uSv/h).
        self._rescaled = [conversion(spec.kind, spec.unit, spec.molar_mass()) != (1.0, 0.0) for spec in table.sensors]

    def decode(self, topic: str, payload: bytes, received: float, out: BatchBuilder) -> DecodeResult:
        """Decode one MQTT message received at ``received`` (unix seconds)."""
        result = DecodeResult()
        parts = topic.split("/")
        n_prefix = len(self._prefix_parts)
        if parts[:n_prefix] != self._prefix_parts or len(parts) not in (n_prefix + 2, n_prefix + 3):
            result.rejections.append(Rejection(Reason.BAD_TOPIC, f"topic {topic!r} is not <prefix>/<site>/<device>"))
            return result
        site, device_id = parts[n_prefix], parts[n_prefix + 1]
        if site != self._site:
            result.rejections.append(Rejection(Reason.UNKNOWN_SITE, f"site {site!r} is not {self._site!r}"))
            return result
        device = self._device_index.get(device_id)
        if device is None:
            result.rejections.append(Rejection(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not in the site file"))
            return result
        if len(parts) == n_prefix + 3:
            return self._decode_status(parts[-1], payload, device, received, result)
        if len(payload) > self._max_payload:
            result.rejections.append(
                Rejection(Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes > limit {self._max_payload}")
            )
            return result
        try:
            records = orjson.loads(payload)
        except orjson.JSONDecodeError:
            # orjson is strict (UTF-8 only, no NaN/Infinity literals) and bounds its own depth. The standard
            # parser takes what it refuses, so a NaN is reported as a non-finite value rather than as broken
            # JSON, and it words the error for the quarantine; it recurses, so the depth is checked first.
            depth = json_depth(payload)
            if depth > MAX_JSON_DEPTH:
                result.rejections.append(
                    Rejection(Reason.TOO_DEEP, f"JSON nested {depth} deep > limit {MAX_JSON_DEPTH}")
                )
                return result
            try:
                records = json.loads(payload)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                result.rejections.append(Rejection(Reason.INVALID_JSON, str(exc)[:200]))
                return result
        if isinstance(records, dict):
            records = [records]  # tolerate a lone record object
        if not isinstance(records, list) or not records:
            result.rejections.append(Rejection(Reason.INVALID_SENML, "payload is not a non-empty SenML array"))
            return result
        self._decode_records(records, device_id, received, out, result)
        return result

    def _decode_status(
        self, leaf: str, payload: bytes, device: int, received: float, result: DecodeResult
    ) -> DecodeResult:
        text = payload.decode("utf-8", "replace").strip().lower()
        if leaf != "status" or text not in ("online", "offline"):
            result.rejections.append(
                Rejection(
                    Reason.BAD_STATUS, f"status topic leaf {leaf!r} payload {text[:40]!r}: expected online/offline"
                )
            )
            return result
        result.status = DeviceStatus(device, text == "online", received)
        return result

    def _decode_records(
        self, records: list[object], device_id: str, received: float, out: BatchBuilder, result: DecodeResult
    ) -> None:
        # Hot path: one pass, local names, no helper calls for the common record shape.
        base_name, base_time, base_unit = "", 0.0, None
        start = len(out)
        message_flags = 0
        problems: dict[Reason, list[str]] = {}
        lookup = self._table.by_device_name
        declared_units = self._declared_units
        is_boolean = self._is_boolean
        rescaled = self._rescaled
        range_min, range_max = self._range_min, self._range_max
        earliest, latest = received - self._max_past, received + self._max_future
        skew_limit = received + CLOCK_SKEW_FLAG_S
        head_colon, head_slash = device_id + ":", device_id + "/"
        out_sensor, out_time, out_value, out_flags = (
            out.sensor.append,
            out.time.append,
            out.value.append,
            out.flags.append,
        )
        known = self._known.setdefault(device_id, {})
        nan = math.nan
        for position, record in enumerate(records):
            if type(record) is not dict:
                problems.setdefault(Reason.INVALID_SENML, []).append(f"record {position} is not an object")
                continue
            if "bn" in record or "bt" in record or "bu" in record:
                bn, bt, bu = record.get("bn"), record.get("bt"), record.get("bu")
                if bn is not None and type(bn) is not str:
                    problems.setdefault(Reason.INVALID_SENML, []).append(f"record {position}: bn is not a string")
                    continue
                if bt is not None and not _is_number(bt):
                    problems.setdefault(Reason.INVALID_SENML, []).append(f"record {position}: bt is not a number")
                    continue
                base_name = bn if bn is not None else base_name
                try:
                    base_time = float(bt) if bt is not None else base_time
                except OverflowError:
                    problems.setdefault(Reason.NON_FINITE_VALUE, []).append(f"record {position}: bt is too large")
                    continue
                base_unit = bu if bu is not None else base_unit
                if "n" not in record and "v" not in record and "vb" not in record:
                    continue  # a pure base record
            name = record.get("n", "")
            sent_unit = record.get("u", base_unit)
            try:
                hit = known.get((base_name, name, sent_unit))
            except TypeError:  # an unhashable name or unit: the full checks below explain it
                hit = None
            value = nan
            if hit is not None:
                raw = record.get("v")
                kind_of_raw = type(raw)
                if kind_of_raw is float or kind_of_raw is int:
                    sensor, scale, offset, full_name = hit
                    try:
                        value = raw * scale + offset  # type: ignore[operator]  # checked int/float just above
                    except OverflowError:
                        value = math.nan  # an integer beyond any float: the full checks report it
            if value - value != 0.0:
                # No remembered shape, or something unusual about the value (nan, inf, not a number, a boolean
                # sensor): the full checks resolve the name, convert the unit and say what is wrong.
                if type(name) is not str:
                    problems.setdefault(Reason.INVALID_SENML, []).append(f"record {position}: n is not a string")
                    continue
                full_name = base_name + name if base_name else name
                if full_name.startswith(head_colon) or full_name.startswith(head_slash):
                    full_name = full_name[len(head_colon) :]
                found = lookup.get((device_id, full_name))
                if found is None:
                    if full_name in STATUS_FLAGS:
                        vb = record.get("vb")
                        if type(vb) is not bool:
                            problems.setdefault(Reason.INVALID_SENML, []).append(
                                f"record {position}: {full_name} needs vb"
                            )
                        elif vb:
                            message_flags |= int(STATUS_FLAGS[full_name])
                    else:
                        problems.setdefault(Reason.UNKNOWN_SENSOR, []).append(f"{device_id}/{full_name!r}")
                    continue
                sensor = found
                if is_boolean[sensor]:
                    raw = record.get("vb", record.get("v"))
                    if type(raw) is bool:
                        value = 1.0 if raw else 0.0
                    elif _is_number(raw) and raw in (0, 1):
                        value = float(raw)
                    else:
                        problems.setdefault(Reason.INVALID_SENML, []).append(f"record {position}: {full_name} needs vb")
                        continue
                else:
                    raw = record.get("v")
                    kind_of_raw = type(raw)
                    if kind_of_raw is not float and kind_of_raw is not int:
                        problems.setdefault(Reason.INVALID_SENML, []).append(
                            f"record {position}: {full_name} v is {kind_of_raw.__name__}, not a number"
                        )
                        continue
                    try:
                        value = float(raw)  # type: ignore[arg-type]  # checked int/float just above
                    except OverflowError:
                        value = math.inf  # an integer beyond any float
                    if value - value != 0.0:  # nan or inf, without a function call
                        problems.setdefault(Reason.NON_FINITE_VALUE, []).append(f"record {position}: {full_name}={raw}")
                        continue
                    # A device that omits `u` is taken to send its declared unit.
                    unit = sent_unit
                    if unit is None:
                        unit = declared_units[sensor]
                    factor = (1.0, 0.0)
                    if unit != declared_units[sensor] or rescaled[sensor]:
                        converted = self._conversion(sensor, unit)
                        if converted is None:
                            problems.setdefault(Reason.UNKNOWN_UNIT, []).append(
                                f"record {position}: {full_name} unit {unit!r} for {self._kinds[sensor].value}"
                            )
                            continue
                        factor = converted
                        value = value * factor[0] + factor[1]
                    if type(sent_unit) is str or sent_unit is None:
                        known[(base_name, name, sent_unit)] = (sensor, *factor, full_name)
            t = record.get("t", 0.0)
            kind_of_t = type(t)
            if kind_of_t is not float and kind_of_t is not int:
                problems.setdefault(Reason.INVALID_SENML, []).append(f"record {position}: t is not a number")
                continue
            try:
                time = base_time + t
            except OverflowError:
                time = math.inf
            if time - time != 0.0:
                problems.setdefault(Reason.NON_FINITE_VALUE, []).append(f"record {position}: time {time}")
                continue
            if -RELATIVE_TIME_LIMIT < time < RELATIVE_TIME_LIMIT:
                time += received
            if time > latest:
                problems.setdefault(Reason.TIME_IN_FUTURE, []).append(
                    f"{full_name} at {time:.0f} (+{time - received:.0f}s)"
                )
                continue
            if time < earliest:
                problems.setdefault(Reason.TIME_TOO_OLD, []).append(
                    f"{full_name} at {time:.0f} ({received - time:.0f}s old)"
                )
                continue
            flags = 0
            if time > skew_limit:
                flags = FLAG_CLOCK_SKEW_INT
            if not range_min[sensor] <= value <= range_max[sensor]:
                flags |= FLAG_OUT_OF_RANGE_INT
            out_sensor(sensor)
            out_time(time)
            out_value(value)
            out_flags(flags)
        if message_flags:
            for i in range(start, len(out)):
                out.flags[i] |= message_flags
        result.readings = len(out) - start
        for reason, details in problems.items():
            shown = "; ".join(details[:5]) + (f"; and {len(details) - 5} more" if len(details) > 5 else "")
            result.rejections.append(Rejection(reason, shown))

    def _conversion(self, sensor: int, unit: object) -> tuple[float, float] | None:
        if not isinstance(unit, str):
            return None
        key = (sensor, unit)
        cached = self._conversions.get(key)
        if cached is None:
            spec = self._table.sensors[sensor]
            try:
                cached = conversion(spec.kind, unit, spec.molar_mass())
            except UnknownUnitError:
                return None
            self._conversions[key] = cached
        return cached


def json_depth(document: bytes) -> int:
    """How deeply arrays and objects nest in ``document`` (brackets inside strings do not count), without parsing."""
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub(b"", document)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
