"""The HJ 212 listener over real TCP: the standard's messages, answers, quarantine, resends, slow loggers, volume."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from daemon.ingest.hj212.framing import BadFrame, Frame, Framer, encode_frame
from daemon.ingest.hj212.listener import Hj212Listener
from daemon.ingest.hj212.message import Message, parse_message
from daemon.service import Service
from daemon.store.reading_chunks import count_readings
from daemon.store.schema import quarantine
from tests.daemon.ingest.hj212_examples import STANDARD_PACKET, realtime_packet
from tests.helpers import eventually, get_json


class LoggerClient:
    """A data logger: a TCP connection that sends packets and reads the answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer()
        self.pending: list[Frame | BadFrame] = []

    @classmethod
    async def connect(cls, service: Service) -> LoggerClient:
        listener = service.field_protocols.hj212
        assert isinstance(listener, Hj212Listener)
        assert listener.port is not None
        return cls(*await asyncio.open_connection("127.0.0.1", listener.port))

    async def send(self, packet: bytes) -> None:
        self.writer.write(packet)
        await self.writer.drain()

    async def answer(self, timeout: float = 5.0) -> Message:
        async with asyncio.timeout(timeout):
            while not self.pending:
                chunk = await self.reader.read(4096)
                assert chunk, "the listener closed the connection"
                self.pending += self.framer.feed(chunk)
        item = self.pending.pop(0)
        assert isinstance(item, Frame), item
        return parse_message(item.data)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def sample(service: Service, name: str, labels: dict[str, str] | None = None) -> float:
    value = service.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def quarantined(service: Service) -> list[Any]:
    await service.drain()
    async with service.engine.connect() as connection:
        return list((await connection.execute(select(quarantine).order_by(quarantine.c.id))).all())


async def stored(service: Service) -> int:
    await service.drain()
    async with service.engine.connect() as connection:
        return await count_readings(connection)


async def test_upload_is_acknowledged_and_becomes_readings(hj212_service: Service) -> None:
    service = hj212_service
    t = time.time() - 60
    client = await LoggerClient.connect(service)
    await client.send(realtime_packet(t, {"a21026": (1.5, "N"), "a21024": (0.1, "N")}, qn="20260101000000001"))
    ack = await client.answer()
    assert (ack.cn, ack.qn, ack.st, ack.flag) == ("9014", "20260101000000001", "91", 4)
    assert ack.mn == "010000A8900016F000169DC0"
    assert await stored(service) == 2
    so2 = service.table.index["hj.so2"]
    assert service.pipeline.latest_value[so2] == 1.5
    assert abs(service.pipeline.latest_time[so2] - int(t)) < 1  # DataTime is to the second, Beijing time
    assert sample(service, "hazwatch_hj212_frames_total", {"outcome": "accepted"}) == 1
    assert sample(service, "hazwatch_hj212_answers_total", {"cn": "9014"}) == 1
    assert service.intake.device_online[0] is True
    await client.close()


async def test_the_standards_example_with_a_wrong_password_is_refused_with_qnrtn_3(hj212_service: Service) -> None:
    # The standard's CN=1062 example carries PW=100000; the site file says 123456.
    service = hj212_service
    client = await LoggerClient.connect(service)
    await client.send(STANDARD_PACKET)
    answer = await client.answer()
    assert (answer.cn, answer.cp, answer.qn) == ("9011", "QnRtn=3", "20160801085857223")
    rows = await quarantined(service)
    assert [(r.reason, r.payload) for r in rows] == [("hj212_wrong_password", STANDARD_PACKET)]
    await client.close()


async def test_bad_frames_are_quarantined_answered_and_the_connection_survives(hj212_service: Service) -> None:
    service = hj212_service
    t = time.time() - 60
    client = await LoggerClient.connect(service)
    good = realtime_packet(t, {"a21026": (2.0, "N")}, qn="20260101000000002")
    bad_crc = good[:-6] + (b"0000" if not good.endswith(b"0000\r\n") else b"1111") + b"\r\n"
    unknown_mn = realtime_packet(t, {"a21026": (2.0, "N")}, mn="99999999999999")
    unknown_code = realtime_packet(t, {"a99999": (2.0, "N"), "a21024": (0.2, "N")}, qn="20260101000000003")
    oversized = encode_frame(b"QN=1;ST=22;CN=2011;PW=123456;MN=x;Flag=5;CP=&&" + b"a=1;" * 300 + b"&&")
    await client.send(bad_crc)
    assert (await client.answer()).cp == "QnRtn=9"
    await client.send(unknown_mn)
    assert (await client.answer()).cp == "QnRtn=4"
    await client.send(oversized + b"##0042QN=cut" + unknown_code)
    ack = await client.answer()  # the value with an unknown code is quarantined, the frame acknowledged
    assert (ack.cn, ack.qn) == ("9014", "20260101000000003")
    await client.send(good)
    assert (await client.answer()).cn == "9014"
    rows = await quarantined(service)
    assert [r.reason for r in rows] == [
        "hj212_crc_mismatch", "hj212_unknown_mn", "hj212_too_large", "hj212_truncated", "unknown_sensor",
    ]  # fmt: skip
    assert rows[0].payload == bad_crc
    assert rows[2].payload == oversized
    assert rows[3].payload == b"##0042QN=cut"
    assert rows[4].payload == unknown_code
    assert all(r.topic.startswith("hj212://127.0.0.1:") for r in rows)
    assert await stored(service) == 2  # a21024 of the third upload and a21026 of the last
    assert sample(service, "hazwatch_quarantined_messages_total", {"reason": "hj212_crc_mismatch"}) == 1
    assert sample(service, "hazwatch_hj212_frames_total", {"outcome": "quarantined"}) == 4
    await client.close()


async def test_resend_after_reconnect_is_acknowledged_but_not_fed_twice(hj212_service: Service) -> None:
    service = hj212_service
    packet = realtime_packet(time.time() - 60, {"a21026": (3.0, "N")}, qn="20260101000000004")
    for _ in range(3):  # the logger never saw the ack: it reconnects and sends the same QN again
        client = await LoggerClient.connect(service)
        await client.send(packet)
        assert (await client.answer()).qn == "20260101000000004"
        await client.close()
    assert await stored(service) == 1
    assert sample(service, "hazwatch_hj212_frames_total", {"outcome": "duplicate"}) == 2
    assert sample(service, "hazwatch_hj212_answers_total", {"cn": "9014"}) == 3


async def test_a_silent_logger_does_not_block_others_and_is_closed(hj212_service: Service) -> None:
    service = hj212_service
    silent = await LoggerClient.connect(service)
    half = realtime_packet(time.time() - 60, {"a21026": (1.0, "N")})[:30]
    await silent.send(half)  # and then nothing (idle_timeout_s is 1 s in this test)
    busy = await LoggerClient.connect(service)
    t = time.time() - 60
    for i in range(20):
        await busy.send(realtime_packet(t + i, {"a21026": (1.0, "N")}, qn=f"2026010100000{i:04d}"))
        assert (await busy.answer(timeout=0.9)).cn == "9014"
    assert await silent.reader.read() == b""  # closed by the listener
    rows = await eventually(lambda: quarantined(service))
    assert [(r.reason, r.payload) for r in rows] == [("hj212_truncated", half)]
    await busy.close()
    await silent.close()


@pytest.mark.slow
async def test_a_flooding_logger_does_not_hold_up_others(hj212_service: Service) -> None:
    service = hj212_service
    t = time.time() - 60
    # A logger sends 8,000 uploads at once and reads none of the answers; while the listener works through them,
    # another logger's uploads are answered at once. (Built before connecting: the fixture closes connections
    # silent for a second.)
    n_flood = 8_000
    flood = b"".join(realtime_packet(t, {"a21026": (1.0, "N")}, qn=f"{i:017d}") for i in range(n_flood))
    greedy = await LoggerClient.connect(service)
    greedy.writer.write(flood)

    async def flood_under_way() -> bool:
        return sample(service, "hazwatch_hj212_answers_total", {"cn": "9014"}) > 200

    await eventually(flood_under_way, timeout=60)
    other = await LoggerClient.connect(service)
    for i in range(5):
        await other.send(realtime_packet(t + i, {"a21026": (1.0, "N")}, qn=f"2026010100000{i:04d}"))
        assert (await other.answer(timeout=20)).cn == "9014"
    await other.close()
    greedy.writer.transport.abort()


async def test_thousands_of_frames_from_many_loggers(hj212_service: Service) -> None:
    service = hj212_service
    t = time.time() - 3600
    n_clients, n_frames = 4, 750

    async def one_logger(k: int) -> None:
        client = await LoggerClient.connect(service)
        # Each logger reports its own times: one sensor at one time twice would be a redelivery (dropped, issue 17).
        base = t + k * (n_frames + 1)
        packets = [
            realtime_packet(base + i, {"a21026": (1.0 + i % 7, "N"), "a21024": (0.1, "N")}, qn=f"{k}{i:016d}", flag=4)
            for i in range(n_frames)
        ]
        for start in range(0, n_frames, 100):
            await client.send(b"".join(packets[start : start + 100]))
        # One last upload that asks for an answer: when it comes, everything before it was taken.
        await client.send(realtime_packet(base + n_frames, {"a21026": (1.0, "N")}, qn=f"{k}{'9' * 16}"))
        assert (await client.answer(timeout=30)).cn == "9014"
        await client.close()

    await asyncio.gather(*(one_logger(k) for k in range(n_clients)))
    assert await stored(service) == n_clients * (2 * n_frames + 1)
    assert sample(service, "hazwatch_hj212_frames_total", {"outcome": "accepted"}) == n_clients * (n_frames + 1)
    assert sample(service, "hazwatch_hj212_connections") == 0


async def test_flagged_values_are_never_judged(hj212_service: Service) -> None:
    """A calibration (C) or maintenance (M) value far over the Cl2 levels raises no alarm; a normal (N) one does."""
    service = hj212_service
    base = f"http://127.0.0.1:{service.http_port}"
    t = time.time() - 120
    client = await LoggerClient.connect(service)
    for i, letter in enumerate("CMSD"):
        await client.send(realtime_packet(t + i, {"a21024": (50.0, letter)}, qn=f"2026010100000{i:04d}"))
        assert (await client.answer()).cn == "9014"
    await service.drain()
    service.pipeline.tick(service.clock.now())

    async def cl2_alarms() -> list[Any]:
        rows = (await get_json(f"{base}/api/alarms"))["alarms"]
        return [r for r in rows if r["sensor_id"] == "hj.cl2" and r["rule"].startswith("cl2-level")]

    assert await cl2_alarms() == []
    cl2 = service.table.index["hj.cl2"]
    assert service.pipeline.latest_flags[cl2] != 0
    await client.send(realtime_packet(t + 10, {"a21024": (50.0, "N")}, qn="20260101000000010"))
    await client.answer()
    await client.send(realtime_packet(t + 21, {"a21024": (50.0, "N")}, qn="20260101000000011"))
    await client.answer()
    await eventually(cl2_alarms)
    await client.close()
