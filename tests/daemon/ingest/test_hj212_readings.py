"""HJ 212 uploads to readings: the sender's MN and PW, code -> sensor, value flags -> quality bits, times."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from daemon.config import Hj212Config
from daemon.errors import HazwatchError
from daemon.ingest.hj212.listener import Hj212Listener
from daemon.ingest.hj212.message import QnRtn, parse_message
from daemon.ingest.hj212.readings import VALUE_FLAGS, Hj212Decoder
from daemon.ingest.senml import BatchBuilder
from detectors.readings import (
    FLAG_CALIBRATION,
    FLAG_DEVICE_FAULT,
    FLAG_MANUAL,
    FLAG_OUT_OF_SERVICE,
    FLAG_SATURATED,
    INVALID_MASK,
)
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.daemon.ingest.hj212_examples import LOGGER_SITE, realtime_packet


@pytest.fixture
def decoder() -> Hj212Decoder:
    return Hj212Decoder(SensorTable.build(Site.model_validate(LOGGER_SITE)), "Asia/Shanghai", 300.0, 86400.0)


def decode(decoder: Hj212Decoder, packet: bytes, received: float) -> tuple[BatchBuilder, list[str]]:
    message = parse_message(packet[6:-6])
    identified = decoder.identify(message)
    assert identified.logger is not None
    out = BatchBuilder()
    problems = decoder.decode(message, identified.logger, received, out)
    return out, [p.reason for p in problems]


def test_every_value_flag_of_the_standard(decoder: Hj212Decoder) -> None:
    expected: dict[str, np.uint16 | int] = {
        "N": 0, "F": FLAG_OUT_OF_SERVICE, "M": FLAG_OUT_OF_SERVICE, "S": FLAG_MANUAL, "D": FLAG_DEVICE_FAULT,
        "C": FLAG_CALIBRATION, "T": FLAG_SATURATED, "B": FLAG_DEVICE_FAULT,
    }  # fmt: skip
    assert set(VALUE_FLAGS) == set(expected)
    now = time.time()
    for letter, bit in expected.items():
        out, problems = decode(decoder, realtime_packet(now - 10, {"a21026": (1.0, letter)}), now)
        assert problems == []
        assert out.flags == [int(bit)], letter
    for letter in "MCSD":  # never judged as a hazard or as safe
        assert VALUE_FLAGS[letter] & int(INVALID_MASK)


def test_values_times_and_units(decoder: Hj212Decoder) -> None:
    now = time.time()
    out, problems = decode(decoder, realtime_packet(now - 10, {"a21026": (1.5, "N"), "a21024": (0.2, "N")}), now)
    assert problems == []
    assert out.value == [1.5, 0.2]
    assert out.time[0] == pytest.approx(now - 10, abs=1.0)  # DataTime has whole seconds
    assert out.sensor == [0, 1]


def test_problems_are_explained(decoder: Hj212Decoder) -> None:
    now = time.time()
    cases = {
        "unknown_sensor": {"a99999": (1.0, "N")},
        "hj212_invalid": {"a21026": ("high", "N")},
    }
    for reason, values in cases.items():
        out, problems = decode(decoder, realtime_packet(now - 10, values), now)  # type: ignore[arg-type]
        assert (len(out), problems) == (0, [reason])
    out, problems = decode(decoder, realtime_packet(now - 10, {"a21026": (1.0, "X")}), now)
    assert (len(out), problems) == (0, ["hj212_invalid"])
    assert decode(decoder, realtime_packet(now + 3600, {"a21026": (1.0, "N")}), now)[1] == ["time_in_future"]
    assert decode(decoder, realtime_packet(now - 2 * 86400, {"a21026": (1.0, "N")}), now)[1] == ["time_too_old"]


def test_other_uploads_do_not_feed_a_realtime_logger(decoder: Hj212Decoder) -> None:
    now = time.time()
    out, problems = decode(decoder, realtime_packet(now - 10, {"a21026": (1.0, "N")}, cn="2061"), now)
    assert (len(out), problems) == (0, [])


def test_identify_by_mn_and_password(decoder: Hj212Decoder) -> None:
    now = time.time()
    wrong_pw = parse_message(realtime_packet(now, {"a21026": (1.0, "N")}, pw="000000")[6:-6])
    assert decoder.identify(wrong_pw).answer is QnRtn.PW_ERROR
    unknown = parse_message(realtime_packet(now, {"a21026": (1.0, "N")}, mn="123")[6:-6])
    assert decoder.identify(unknown).answer is QnRtn.MN_ERROR


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = Hj212Config(enabled=True, port=taken.getsockname()[1])
        listener = Hj212Listener(config, None, None, None, None)  # type: ignore[arg-type]  # start() fails first
        with pytest.raises(HazwatchError, match="cannot listen for HJ 212 loggers"):
            await listener.start()
