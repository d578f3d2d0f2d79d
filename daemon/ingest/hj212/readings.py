"""HJ 212-2017 uploads to readings: who sent it (MN, PW), which sensor each pollutant code feeds, value flags.

The per-value ``-Flag`` (HJ 212-2017 data flag table) becomes hazwatch quality bits. Values flagged
M (maintenance), C (calibration), S (manually set) or D (fault) carry a bit in ``INVALID_MASK``: they
are stored and counted as captured, but never judged as a hazard or as safe and not counted as valid
data, which is how the automatic-monitoring technical specifications (HJ 75-2017, HJ 818-2018) treat them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from daemon.ingest.hj212.message import DATA_CNS, Message, MessageError, QnRtn
from daemon.ingest.senml import BatchBuilder, Reason
from detectors.readings import (
    FLAG_CALIBRATION,
    FLAG_DEVICE_FAULT,
    FLAG_MANUAL,
    FLAG_OUT_OF_RANGE,
    FLAG_OUT_OF_SERVICE,
    FLAG_SATURATED,
)
from detectors.units import conversion
from rules.sensor_table import SensorTable

# HJ 212-2017 data flags -> quality bits.
VALUE_FLAGS: dict[str, int] = {
    "N": 0,  # normal
    "F": int(FLAG_OUT_OF_SERVICE),  # station stopped (停运): nothing was measured
    "M": int(FLAG_OUT_OF_SERVICE),  # maintenance
    "S": int(FLAG_MANUAL),  # manually set
    "D": int(FLAG_DEVICE_FAULT),  # instrument fault
    "C": int(FLAG_CALIBRATION),  # calibration
    "T": int(FLAG_SATURATED),  # over the measuring range: the true value is at least this high
    "B": int(FLAG_DEVICE_FAULT),  # communication between analyser and logger abnormal
}
_DATA_TIME_FORMAT = "%Y%m%d%H%M%S"


class Hj212Reason(StrEnum):
    """Quarantine reasons of HJ 212 input besides the framing ones (metric labels, a closed set)."""

    INVALID_MESSAGE = "hj212_invalid"
    UNKNOWN_MN = "hj212_unknown_mn"
    WRONG_PASSWORD = "hj212_wrong_password"  # noqa: S105  # a reason name, not a password


@dataclass(frozen=True, slots=True)
class Problem:
    """Input (or part of it) that could not be used: a quarantine reason and a human explanation."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Logger:
    """A data logger of the site file: its device, credentials and code -> sensor map."""

    device: int
    device_id: str
    password: str
    upload_cn: str
    value_field: str  # Rtd for real-time uploads, Avg for minute/hour/day ones
    sensors: dict[str, int]  # pollutant code -> sensor number


@dataclass(frozen=True, slots=True)
class Identified:
    """The sender of a message, or why it is refused and the QnRtn that says so."""

    logger: Logger | None
    problem: Problem | None = None
    answer: QnRtn | None = None


class Hj212Decoder:
    """Decodes HJ 212-2017 messages for one site, converting units to each kind's canonical unit."""

    def __init__(self, table: SensorTable, timezone: str, max_future_skew_s: float, max_past_age_s: float) -> None:
        self._zone = ZoneInfo(timezone)
        self._max_future = max_future_skew_s
        self._max_past = max_past_age_s
        self.loggers: dict[str, Logger] = {}
        for number, device in enumerate(table.devices):
            link = device.hj212
            if link is None:
                continue
            sensors = {code: table.by_device_name[(device.id, name)] for code, name in link.codes.items()}
            self.loggers[link.mn] = Logger(
                number, device.id, link.password, link.upload.value, DATA_CNS[link.upload.value], sensors
            )
        self._scale: list[tuple[float, float]] = [
            conversion(spec.kind, spec.unit, spec.molar_mass()) for spec in table.sensors
        ]
        self._range_min = table.range_min.tolist()
        self._range_max = table.range_max.tolist()
        self._times: dict[str, float] = {}

    def identify(self, message: Message) -> Identified:
        """Find the logger by MN and check its PW (HJ 212-2017: QnRtn 4 for a wrong MN, 3 for a wrong PW)."""
        logger = self.loggers.get(message.mn)
        if logger is None:
            return Identified(
                None, Problem(Hj212Reason.UNKNOWN_MN, f"MN {message.mn!r} is not in the site file"), QnRtn.MN_ERROR
            )
        if message.pw != logger.password:
            return Identified(
                None,
                Problem(Hj212Reason.WRONG_PASSWORD, f"wrong PW for MN {message.mn!r} ({logger.device_id})"),
                QnRtn.PW_ERROR,
            )
        return Identified(logger)

    def decode(self, message: Message, logger: Logger, received: float, out: BatchBuilder) -> list[Problem]:
        """Append the readings of an upload to ``out``; return what could not be used, grouped by reason."""
        if message.cn != logger.upload_cn:
            return []
        try:
            parameters = message.parameters()
        except MessageError as exc:
            return [Problem(Hj212Reason.INVALID_MESSAGE, str(exc))]
        if parameters.data_time is None:
            return [Problem(Hj212Reason.INVALID_MESSAGE, f"CN={message.cn} upload without DataTime")]
        time = self._time(parameters.data_time)
        if time is None:
            return [
                Problem(Hj212Reason.INVALID_MESSAGE, f"DataTime {parameters.data_time[:20]!r} is not YYYYMMDDhhmmss")
            ]
        if time > received + self._max_future:
            return [Problem(Reason.TIME_IN_FUTURE, f"DataTime {parameters.data_time} (+{time - received:.0f}s)")]
        if time < received - self._max_past:
            return [Problem(Reason.TIME_TOO_OLD, f"DataTime {parameters.data_time} ({received - time:.0f}s old)")]
        problems: dict[str, list[str]] = {}
        field = logger.value_field
        for pollutant in parameters.values:
            sensor = logger.sensors.get(pollutant.code)
            raw = pollutant.fields.get(field)
            if raw is None:
                continue  # a code without this upload's value field (e.g. only a -Flag or -Cou): nothing to read
            if sensor is None:
                problems.setdefault(Reason.UNKNOWN_SENSOR, []).append(f"{logger.device_id}/{pollutant.code}")
                continue
            try:
                value = float(raw)
            except ValueError:
                problems.setdefault(Hj212Reason.INVALID_MESSAGE, []).append(f"{pollutant.code}-{field}={raw[:20]!r}")
                continue
            if not math.isfinite(value):
                problems.setdefault(Reason.NON_FINITE_VALUE, []).append(f"{pollutant.code}-{field}={raw[:20]!r}")
                continue
            flag_letter = pollutant.fields.get("Flag", "N")
            flags = VALUE_FLAGS.get(flag_letter)
            if flags is None:
                problems.setdefault(Hj212Reason.INVALID_MESSAGE, []).append(
                    f"{pollutant.code}-Flag={flag_letter[:8]!r} is not one of {''.join(VALUE_FLAGS)}"
                )
                continue
            scale, offset = self._scale[sensor]
            value = value * scale + offset
            if not self._range_min[sensor] <= value <= self._range_max[sensor]:
                flags |= int(FLAG_OUT_OF_RANGE)
            out.sensor.append(sensor)
            out.time.append(time)
            out.value.append(value)
            out.flags.append(flags)
        return [
            Problem(reason, "; ".join(details[:5]) + (f"; and {len(details) - 5} more" if len(details) > 5 else ""))
            for reason, details in problems.items()
        ]

    def _time(self, text: str) -> float | None:
        # DataTime is the logger's local time (HJ 212-2017 6.3.3: YYYYMMDDhhmmss); every value of an upload
        # shares it and consecutive uploads often repeat it, so a few parsed times are remembered.
        cached = self._times.get(text)
        if cached is not None:
            return cached
        if len(text) != 14 or not text.isdigit():
            return None
        try:
            parsed = datetime.strptime(text, _DATA_TIME_FORMAT).replace(tzinfo=self._zone).timestamp()
        except ValueError:
            return None
        if len(self._times) > 1024:
            self._times.clear()
        self._times[text] = parsed
        return parsed
