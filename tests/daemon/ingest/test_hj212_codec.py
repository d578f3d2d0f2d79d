"""HJ 212-2017 codec: the CRC against the standard's examples, framing, message parsing and answers."""

from __future__ import annotations

import pytest

from daemon.ingest.hj212.crc import crc16, crc16_bitwise
from daemon.ingest.hj212.framing import BadFrame, Frame, FrameProblem, Framer, encode_frame
from daemon.ingest.hj212.message import (
    ExeRtn,
    MessageError,
    QnRtn,
    data_ack,
    exe_rtn,
    parse_message,
    qn_rtn,
)
from tests.daemon.ingest.hj212_examples import QN_RTN_PACKET, STANDARD_DATA, STANDARD_PACKET


def test_crc_of_the_standards_examples() -> None:
    assert crc16(STANDARD_DATA) == 0x1C80
    assert crc16(QN_RTN_PACKET[6:-6]) == 0x2A80
    assert crc16_bitwise(STANDARD_DATA) == 0x1C80


def test_crc_is_not_the_modbus_crc() -> None:
    # Modbus CRC-16 of the same bytes differs: the standard shifts the register before XORing each byte.
    register = 0xFFFF
    for byte in STANDARD_DATA:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ 0xA001 if register & 1 else register >> 1
    assert register != 0x1C80


def test_encode_reproduces_the_standard_packet_byte_for_byte() -> None:
    assert encode_frame(STANDARD_DATA) == STANDARD_PACKET


def test_framer_takes_the_standard_packets_in_any_split() -> None:
    stream = STANDARD_PACKET + QN_RTN_PACKET
    for cut in range(1, len(stream)):
        framer = Framer()
        items = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert [type(i) for i in items] == [Frame, Frame]
        assert [i.data for i in items if isinstance(i, Frame)] == [STANDARD_DATA, QN_RTN_PACKET[6:-6]]
        assert framer.pending == 0


def test_wrong_crc_is_a_bad_frame_and_the_next_packet_still_arrives() -> None:
    broken = STANDARD_PACKET.replace(b"1C80", b"1C81")
    items = Framer().feed(broken + QN_RTN_PACKET)
    assert isinstance(items[0], BadFrame)
    assert items[0].problem is FrameProblem.CRC_MISMATCH
    assert items[0].raw == broken
    assert items[0].data == STANDARD_DATA
    assert isinstance(items[1], Frame)


def test_truncated_packet_followed_by_a_new_one() -> None:
    cut = STANDARD_PACKET[:50]
    items = Framer().feed(cut + STANDARD_PACKET)
    assert isinstance(items[0], BadFrame)
    assert items[0].problem is FrameProblem.TRUNCATED
    assert items[0].raw == cut
    assert isinstance(items[1], Frame)


def test_truncated_packet_at_end_of_stream() -> None:
    framer = Framer()
    assert framer.feed(STANDARD_PACKET[:40]) == []
    leftover = framer.close()
    assert leftover is not None
    assert leftover.problem is FrameProblem.TRUNCATED
    assert leftover.raw == STANDARD_PACKET[:40]


def test_oversized_packet_is_refused_up_to_its_end() -> None:
    data = b"QN=1;ST=22;CN=2011;PW=1;MN=1;Flag=4;CP=&&" + b"a" * 1100 + b"&&"
    big = encode_frame(data)
    items = Framer(max_data_bytes=1024).feed(big + STANDARD_PACKET)
    assert isinstance(items[0], BadFrame)
    assert items[0].problem is FrameProblem.TOO_LARGE
    assert items[0].raw == big
    assert isinstance(items[1], Frame)


def test_garbage_and_bad_length() -> None:
    items = Framer().feed(b"hello" + b"##12x4QN=1\r\n" + STANDARD_PACKET)
    assert [i.problem for i in items if isinstance(i, BadFrame)] == [FrameProblem.GARBAGE, FrameProblem.BAD_LENGTH]
    assert items[0].raw == b"hello"
    assert isinstance(items[-1], Frame)


def test_wrong_length_field_is_truncated_not_misread() -> None:
    wrong = b"##0099" + STANDARD_PACKET[6:]  # two bytes short: the CRC and CR LF are not where announced
    items = Framer().feed(wrong)
    assert isinstance(items[0], BadFrame)
    assert items[0].problem is FrameProblem.TRUNCATED


def test_parse_the_standard_message() -> None:
    message = parse_message(STANDARD_DATA)
    assert (message.qn, message.st, message.cn, message.pw, message.mn) == (
        "20160801085857223", "32", "1062", "100000", "010000A8900016F000169DC0",
    )  # fmt: skip
    assert message.flag == 5
    assert message.wants_answer
    assert message.version == 1  # HJ 212-2017
    assert message.parameters().params == {"RtdInterval": "30"}


def test_parse_realtime_values_and_flags() -> None:
    data = (
        b"QN=20160801085857223;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;"
        b"CP=&&DataTime=20160801085857;a21026-Rtd=1.1,a21026-Flag=N;a21024-Rtd=0.30,a21024-Flag=C&&"
    )
    message = parse_message(data)
    assert not message.wants_answer
    cp = message.parameters()
    assert cp.data_time == "20160801085857"
    assert [(v.code, v.fields) for v in cp.values] == [
        ("a21026", {"Rtd": "1.1", "Flag": "N"}),
        ("a21024", {"Rtd": "0.30", "Flag": "C"}),
    ]


def test_parse_minute_data_fields() -> None:
    data = (
        b"QN=20160801085857223;ST=22;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=4;"
        b"CP=&&DataTime=20160801084000;a21026-Cou=0.5,a21026-Min=1.1,a21026-Avg=1.2,a21026-Max=1.3,a21026-Flag=N&&"
    )
    values = parse_message(data).parameters().values
    assert values[0].fields == {"Cou": "0.5", "Min": "1.1", "Avg": "1.2", "Max": "1.3", "Flag": "N"}


def test_split_packet_fields() -> None:
    data = b"QN=1;ST=22;CN=2011;PW=1;MN=2;Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20160801085857;a21026-Rtd=1&&"
    message = parse_message(data)
    assert (message.pnum, message.pno) == (2, 1)


@pytest.mark.parametrize(
    "data",
    [
        b"QN=1;ST=22;CN=2011;PW=1;Flag=4;CP=&&&&",  # no MN
        b"QN=1;ST=22;CN=2011;PW=1;MN=2;Flag=4",  # no CP
        b"QN=1;ST=22;CN=2011;PW=1;MN=2;Flag=4;CP=&&a=1",  # CP not closed
        b"QN=1;ST=22;CN=2011;PW=1;MN=2;Flag=x;CP=&&&&",  # Flag not a number
        b"QN=1;ST=22;CN=2011;PW=1;MN=2;Flag=6;CP=&&&&",  # split without PNUM/PNO
        b"QN=1;XX=1;ST=22;CN=2011;PW=1;MN=2;CP=&&&&",  # unknown header field
        "QN=1;ST=22;CN=2011;PW=1;MN=2;CP=&&a=\u00e9&&".encode(),  # not ASCII
    ],
)
def test_bad_messages_are_explained(data: bytes) -> None:
    with pytest.raises(MessageError):
        parse_message(data)


def test_answers_match_the_standards_layout() -> None:
    request = parse_message(STANDARD_DATA)
    ack = data_ack(request)
    assert ack == encode_frame(
        b"QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
    )
    assert b"CN=9011" in qn_rtn(request, QnRtn.PW_ERROR)
    assert b"CP=&&QnRtn=3&&" in qn_rtn(request, QnRtn.PW_ERROR)
    assert b"CP=&&ExeRtn=1&&" in exe_rtn(request, ExeRtn.SUCCESS)
    for packet in (ack, qn_rtn(request, QnRtn.CRC_ERROR), exe_rtn(request, ExeRtn.NO_DATA)):
        (frame,) = Framer().feed(packet)
        assert isinstance(frame, Frame)  # CRC and length are right
