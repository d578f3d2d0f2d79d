"""Message examples from HJ 212-2017 and a small site with one data logger, shared by the HJ 212 tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from daemon.ingest.hj212.framing import encode_frame

# HJ 212-2017 6.3.5, the standard's own packet example with its published CRC (1C80).
STANDARD_PACKET = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
    b"CP=&&RtdInterval=30&&1C80\r\n"
)
STANDARD_DATA = STANDARD_PACKET[6:-6]
# The standard's request-answer example (CN=9011, QnRtn=1) as loggers send it, CRC 2A80.
QN_RTN_PACKET = (
    b"##0094QN=20160801085857223;ST=32;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&QnRtn=1&&2a80\r\n"
)

MN = "010000A8900016F000169DC0"  # the MN of the standard's examples
PASSWORD = "123456"
ZONE = ZoneInfo("Asia/Shanghai")

LOGGER_SITE = {
    "site": "hj",
    "name": "HJ 212 test site",
    "center": {"lat": 31.0, "lon": 121.0},
    "zones": [{"id": "b", "name": "boundary", "type": "boundary"}],
    "devices": [
        {
            "id": "logger-1",
            "type": "gas_detector",
            "position": {"lat": 31.0, "lon": 121.0},
            "zone": "b",
            "report_interval_s": 30,
            "hj212": {"mn": MN, "password": PASSWORD, "codes": {"a21026": "so2", "a21024": "cl2"}},
            "sensors": [
                {"id": "hj.so2", "name": "so2", "kind": "gas", "unit": "ppm", "substance": "H2S",
                 "levels": {"high": 10, "high_high": 20}},
                {"id": "hj.cl2", "name": "cl2", "kind": "gas", "unit": "ppm", "substance": "Cl2",
                 "levels": {"high": 0.5, "high_high": 1}},
            ],
        }
    ],
}  # fmt: skip


def data_time(unix: float) -> str:
    """HJ 212 DataTime (local time, YYYYMMDDhhmmss) of a unix time."""
    return datetime.fromtimestamp(unix, ZONE).strftime("%Y%m%d%H%M%S")


def realtime_packet(
    unix: float,
    values: dict[str, tuple[float, str]],
    *,
    qn: str = "20160801085857223",
    mn: str = MN,
    pw: str = PASSWORD,
    flag: int = 5,
    cn: str = "2011",
) -> bytes:
    """A real-time upload in the layout of the standard's CN=2011 example: ``code-Rtd=v,code-Flag=f`` groups."""
    groups = ";".join(f"{code}-Rtd={value},{code}-Flag={letter}" for code, (value, letter) in values.items())
    data = f"QN={qn};ST=22;CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&DataTime={data_time(unix)};{groups}&&"
    return encode_frame(data.encode())
