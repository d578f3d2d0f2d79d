"""HJ 212-2017 data segments: parse ``QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;CP=&&...&&`` and build the answers.

Field names, codes and the Flag bits follow HJ 212-2017 section 6.3 (data segment structure),
6.6 (command codes) and its code tables for QnRtn and ExeRtn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from daemon.ingest.hj212.framing import encode_frame

# HJ 212-2017 6.3.2, Flag: bit 0 (A) = the command wants an answer; bit 1 (D) = PNUM and PNO are present
# (a split packet); bits 2-7 = protocol version (000001 is HJ 212-2017, 000000 is HJ/T 212-2005).
FLAG_ACK = 0x01
FLAG_SPLIT = 0x02
VERSION_2017 = 1
# System code of interactive (answer) messages, HJ 212-2017 table of system codes.
ST_SYSTEM = "91"
# Answer flag: HJ 212-2017 version, no answer wanted back.
ANSWER_FLAG = VERSION_2017 << 2

CN_QN_RTN = "9011"  # request answer (QnRtn)
CN_EXE_RTN = "9012"  # execution result (ExeRtn)
CN_NOTICE_RTN = "9013"  # notification answer
CN_DATA_ACK = "9014"  # data answer (acknowledges an upload)
# Uploads whose values become readings, and the value field each carries for a pollutant.
CN_REALTIME = "2011"
CN_MINUTE = "2051"
CN_HOUR = "2061"
CN_DAY = "2031"
DATA_CNS = {CN_REALTIME: "Rtd", CN_MINUTE: "Avg", CN_HOUR: "Avg", CN_DAY: "Avg"}


class QnRtn(IntEnum):
    """Answer codes to a request (HJ 212-2017, request return table)."""

    READY = 1
    REJECTED = 2
    PW_ERROR = 3
    MN_ERROR = 4
    ST_ERROR = 5
    FLAG_ERROR = 6
    QN_ERROR = 7
    CN_ERROR = 8
    CRC_ERROR = 9
    UNKNOWN_ERROR = 100


class ExeRtn(IntEnum):
    """Execution result codes (HJ 212-2017, execution result table)."""

    SUCCESS = 1
    FAILED = 2
    CONDITION_ERROR = 3
    TIMEOUT = 4
    BUSY = 5
    SYSTEM_FAULT = 6
    NO_DATA = 100


class MessageError(ValueError):
    """A data segment that does not follow HJ 212-2017 6.3.2."""


@dataclass(frozen=True, slots=True)
class PollutantValues:
    """The fields sent for one pollutant (or parameter) code: ``{"Rtd": "1.1", "Flag": "N", ...}``."""

    code: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class CommandParameters:
    """The parsed ``CP=&&...&&`` part: DataTime, per-code values in order, and any plain parameters."""

    data_time: str | None
    values: list[PollutantValues] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """One data segment's header fields and its command parameters (still text)."""

    qn: str | None
    st: str
    cn: str
    pw: str
    mn: str
    flag: int
    pnum: int | None
    pno: int | None
    cp: str

    @property
    def wants_answer(self) -> bool:
        """Flag bit A: the sender waits for an answer."""
        return bool(self.flag & FLAG_ACK)

    @property
    def version(self) -> int:
        """Protocol version bits of Flag (1 = HJ 212-2017)."""
        return self.flag >> 2

    def parameters(self) -> CommandParameters:
        """Parse CP (raises MessageError)."""
        return parse_cp(self.cp)


_HEADER_KEYS = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})
_CP_OPEN = "CP=&&"


def parse_message(data: bytes) -> Message:
    """Parse a data segment (raises MessageError naming what is wrong)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MessageError(f"non-ASCII byte at {exc.start}") from exc
    at = text.find(_CP_OPEN)
    if at < 0:
        raise MessageError("no CP=&& in the data segment")
    if not text.endswith("&&") or len(text) < at + len(_CP_OPEN) + 2:
        raise MessageError("CP does not end with &&")
    header = header_fields(text[:at])
    for required in ("ST", "CN", "PW", "MN"):
        if required not in header:
            raise MessageError(f"no {required} field")
    flag = _int_field(header, "Flag")
    pnum = _int_field(header, "PNUM")
    pno = _int_field(header, "PNO")
    flag = 0 if flag is None else flag
    if flag & FLAG_SPLIT and (pnum is None or pno is None):
        raise MessageError("Flag says the packet is split but PNUM/PNO are missing")
    return Message(
        qn=header.get("QN"),
        st=header["ST"],
        cn=header["CN"],
        pw=header["PW"],
        mn=header["MN"],
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=text[at + len(_CP_OPEN) : -2],
    )


def header_fields(text: str) -> dict[str, str]:
    """The ``key=value;`` header fields before CP (unknown keys are errors)."""
    fields: dict[str, str] = {}
    for part in text.split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in _HEADER_KEYS:
            raise MessageError(f"unknown header field {part[:40]!r}")
        if key in fields:
            raise MessageError(f"header field {key} given twice")
        fields[key] = value
    return fields


def best_effort_header(data: bytes) -> dict[str, str]:
    """Header fields of a segment that failed its checks (to answer with its QN/MN), or an empty dict."""
    text = data.decode("ascii", "replace")
    at = text.find(_CP_OPEN)
    fields: dict[str, str] = {}
    for part in (text[:at] if at >= 0 else text).split(";"):
        key, sep, value = part.partition("=")
        if sep and key in _HEADER_KEYS and key not in fields:
            fields[key] = value
    return fields


def _int_field(header: dict[str, str], key: str) -> int | None:
    raw = header.get(key)
    if raw is None:
        return None
    if not raw.isdigit():
        raise MessageError(f"{key}={raw[:20]!r} is not a number")
    return int(raw)


def parse_cp(cp: str) -> CommandParameters:
    """Parse command parameters: ``;`` separates groups, ``,`` separates fields of one code (HJ 212-2017 6.3.3)."""
    data_time: str | None = None
    values: dict[str, dict[str, str]] = {}
    params: dict[str, str] = {}
    for group in cp.split(";"):
        if not group:
            continue
        for item in group.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise MessageError(f"CP item {item[:40]!r} is not key=value")
            if key == "DataTime":
                data_time = value
                continue
            code, dash, field_name = key.rpartition("-")
            if not dash:
                params[field_name] = value
                continue
            if not code:
                raise MessageError(f"CP item {item[:40]!r} has no code")
            values.setdefault(code, {})[field_name] = value
    return CommandParameters(data_time, [PollutantValues(code, fields) for code, fields in values.items()], params)


def answer(request: Message | dict[str, str], cn: str, cp: str = "") -> bytes:
    """A packet answering ``request`` (its QN, PW and MN) with command ``cn`` and parameters ``cp``."""
    if isinstance(request, Message):
        qn, pw, mn = request.qn, request.pw, request.mn
    else:
        qn, pw, mn = request.get("QN"), request.get("PW", ""), request.get("MN", "")
    head = f"QN={qn};" if qn else ""
    data = f"{head}ST={ST_SYSTEM};CN={cn};PW={pw};MN={mn};Flag={ANSWER_FLAG};CP=&&{cp}&&"
    return encode_frame(data.encode("ascii", "replace"))


def data_ack(request: Message) -> bytes:
    """CN=9014 data answer to an upload that asked for one."""
    return answer(request, CN_DATA_ACK)


def qn_rtn(request: Message | dict[str, str], code: QnRtn) -> bytes:
    """CN=9011 request answer with QnRtn."""
    return answer(request, CN_QN_RTN, f"QnRtn={int(code)}")


def exe_rtn(request: Message | dict[str, str], code: ExeRtn) -> bytes:
    """CN=9012 execution result with ExeRtn."""
    return answer(request, CN_EXE_RTN, f"ExeRtn={int(code)}")
