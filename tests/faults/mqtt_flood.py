"""A fast MQTT 3.1.1 load generator: one raw asyncio connection, PUBLISH packets built from pre-encoded parts and
written in large buffered writes, paced by a token bucket.

    python bench/mqtt_flood.py --rate 30000 --seconds 10      # check: a private Mosquitto and a counting subscriber

(The generator lives here, beside the fault suite's harness, so bench scripts and tests import it the same way.)

Why not ``mosquitto_pub`` or paho: a process per publisher, or a Python object and a socket write per message, cost
far more CPU than the service spends on the message, so on 2 shared cores they could not offer 3x the service's
capacity (about 9,100 msg/s). Here a message costs one timestamp format and one bytes join; the packets of a 5 ms
tick go to the kernel in one write.

QoS 1 with a window of in-flight packet ids (MQTT 3.1.1 section 4.3.2): a message counts as published when the broker
acknowledged it (PUBACK), so "published" is what the broker took responsibility for. The window also makes the
generator's own back-pressure visible: when the broker acknowledges slower than the bucket fills, the bucket is capped
and the shortfall is reported as the achieved rate, never hidden.

The readings are gamma dose rates stamped with their sending time in whole microseconds (the service keeps a sensor's
readings a microsecond apart as distinct: daemon/chain/seen_readings.py); each device's stamps strictly increase.
What was sent is kept as int64 keys (microseconds * 16 + device index) so a minute at 30,000 msg/s stays small.

Wire format: MQTT Version 3.1.1, OASIS Standard, 29 October 2014 (sections 2.2 fixed header, 2.2.3 remaining length,
3.1 CONNECT, 3.3 PUBLISH, 3.4 PUBACK, 3.8 SUBSCRIBE).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEVICE_BITS = 16  # keys: microseconds * DEVICE_BITS + device index (at most 16 devices)


def remaining_length(length: int) -> bytes:
    """The variable-length "remaining length" of a fixed header (7 bits a byte, high bit: more follow)."""
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def utf8_field(text: str) -> bytes:
    """A length-prefixed UTF-8 string."""
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str, *, clean_session: bool = True, keepalive_s: int = 60) -> bytes:
    """CONNECT, protocol level 4 (3.1.1), no will, no credentials."""
    body = utf8_field("MQTT") + bytes([4, 0x02 if clean_session else 0]) + keepalive_s.to_bytes(2, "big")
    body += utf8_field(client_id)
    return b"\x10" + remaining_length(len(body)) + body


def subscribe_packet(topic_filter: str, qos: int, packet_id: int = 1) -> bytes:
    """SUBSCRIBE to one filter."""
    body = packet_id.to_bytes(2, "big") + utf8_field(topic_filter) + bytes([qos])
    return b"\x82" + remaining_length(len(body)) + body


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """One device's PUBLISH packet cut around its packet id and its timestamp (both fixed width)."""

    head: bytes  # fixed header + topic (QoS 1: the packet id follows)
    payload_start: bytes
    payload_end: bytes

    @classmethod
    def for_device(cls, topic: str, device: str, qos: int, value: float) -> MessageTemplate:
        """Template for ``device`` on ``topic``; every timestamp is 10 + 1 + 6 characters."""
        payload_start = f'[{{"bn":"{device}:","bt":'.encode()
        payload_end = f',"n":"dose_rate","u":"nSv/h","v":{value}}}]'.encode()
        variable = utf8_field(topic)
        length = len(variable) + (2 if qos else 0) + len(payload_start) + 17 + len(payload_end)
        head = bytes([0x30 | (qos << 1)]) + remaining_length(length) + variable
        return cls(head, payload_start, payload_end)

    def packet(self, packet_id: bytes, stamp: bytes) -> bytes:
        """The packet for one reading (``packet_id`` empty at QoS 0)."""
        return b"".join((self.head, packet_id, self.payload_start, stamp, self.payload_end))


def stamp(microseconds: int) -> bytes:
    """Seconds with exactly six decimals, fixed width while the epoch has 10 digits (until 2286)."""
    seconds, fraction = divmod(microseconds, 1_000_000)
    return b"%d.%06d" % (seconds, fraction)


@dataclass
class FloodPublisher:
    """Publishes real-time stamped gamma readings, round robin over ``devices``, at a paced rate."""

    port: int
    prefix: str
    devices: list[str]
    qos: int = 1
    window: int = 30_000  # packet ids in flight (at most 65,535)
    client_id: str = "flood"
    value: float = 90.0
    tick_s: float = 0.005
    sent: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]  # int64 keys
    acknowledged: int = 0
    window_full_ticks: int = 0  # ticks that published less than the bucket allowed: the broker is the limit
    _in_flight: bytearray = field(default_factory=lambda: bytearray(65_536))
    _in_flight_count: int = 0
    _next_id: int = 1
    _next_device: int = 0
    _last_us: list[int] = field(default_factory=list)
    _window_has_room: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _acks: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the connection and wait for CONNACK."""
        if not 0 < self.window < 65_535:  # ids are 1..65,535: a free one must always exist
            raise ValueError(f"window {self.window} must be between 1 and 65,534")
        self._templates = [
            MessageTemplate.for_device(f"{self.prefix}/demo-park/{device}", device, self.qos, self.value)
            for device in self.devices
        ]
        self._last_us = [0] * len(self.devices)
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
        self._writer.write(connect_packet(self.client_id))
        await self._writer.drain()
        connack = await self._reader.readexactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: {connack.hex()}")
        self._window_has_room.set()
        self._acks = asyncio.create_task(self._read_acks())

    async def _read_acks(self) -> None:
        # The broker sends a pure publisher only PUBACK (0x40 0x02 id id) and PINGRESP (0xd0 0x00).
        assert self._reader is not None
        buffer = b""
        while True:
            data = await self._reader.read(2**16)
            if not data:
                return
            buffer += data
            position = 0
            while position + 2 <= len(buffer):
                kind = buffer[position]
                if kind == 0x40:
                    if position + 4 > len(buffer):
                        break
                    packet_id = int.from_bytes(buffer[position + 2 : position + 4], "big")
                    if self._in_flight[packet_id]:
                        self._in_flight[packet_id] = 0
                        self._in_flight_count -= 1
                        self.acknowledged += 1
                    position += 4
                elif kind == 0xD0:
                    position += 2
                else:
                    raise ConnectionError(f"unexpected packet 0x{kind:02x} from the broker")
            buffer = buffer[position:]
            if self._in_flight_count < self.window:
                self._window_has_room.set()

    def _take_id(self) -> bytes:
        while self._in_flight[self._next_id]:  # a slow id still out: skip it
            self._next_id = self._next_id % 65_535 + 1
        packet_id = self._next_id
        self._next_id = packet_id % 65_535 + 1
        self._in_flight[packet_id] = 1
        self._in_flight_count += 1
        return packet_id.to_bytes(2, "big")

    def _batch(self, count: int) -> bytes:
        """``count`` packets, round robin over the devices, stamped now (each device's stamps increasing)."""
        now_us = time.time_ns() // 1_000
        packets = []
        devices = len(self._templates)
        sent = self.sent
        for _ in range(count):
            device = self._next_device
            self._next_device = (device + 1) % devices
            microseconds = max(now_us, self._last_us[device] + 1)
            self._last_us[device] = microseconds
            packet_id = self._take_id() if self.qos else b""
            packets.append(self._templates[device].packet(packet_id, stamp(microseconds)))
            sent.append(microseconds * DEVICE_BITS + device)
        return b"".join(packets)

    async def publish(self, rate: float, seconds: float) -> float:
        """Offer ``rate`` msg/s for ``seconds`` (token bucket, one write per tick); returns the seconds it took."""
        assert self._writer is not None
        started = last = time.monotonic()
        tokens = 0.0
        burst = max(1.0, rate * 0.25)  # a late tick catches up at most 250 ms of messages
        while (now := time.monotonic()) - started < seconds:
            tokens = min(burst, tokens + rate * (now - last))
            last = now
            count = int(tokens)
            if self.qos:
                room = self.window - self._in_flight_count
                if room < count:
                    self.window_full_ticks += 1
                    count = max(room, 0)
            if count:
                tokens -= count
                self._writer.write(self._batch(count))
                await self._writer.drain()
            if self.qos and self._in_flight_count >= self.window:
                self._window_has_room.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.tick_s):
                        await self._window_has_room.wait()
            else:
                await asyncio.sleep(self.tick_s)
        return time.monotonic() - started

    async def close(self, timeout_s: float = 120.0) -> None:
        """Wait until the broker acknowledged everything, then DISCONNECT."""
        assert self._writer is not None
        async with asyncio.timeout(timeout_s):
            while self.qos and self._in_flight_count:  # noqa: ASYNC110 - the count is the ack reader's
                await asyncio.sleep(0.01)
        self._writer.write(b"\xe0\x00")
        await self._writer.drain()
        self._writer.close()
        if self._acks is not None:
            self._acks.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._acks

    def sent_keys(self) -> np.ndarray:
        """What was sent, as int64 keys."""
        return np.frombuffer(self.sent, dtype=np.int64)


@dataclass
class Flood:
    """Several FloodPublishers, each on its own connection with its share of the devices and the rate: Mosquitto
    serves one client's socket a packet at a time, so one connection stalled near 19,000 msg/s at low CPU."""

    port: int
    prefix: str
    devices: list[str]
    connections: int = 3
    qos: int = 1
    window: int = 30_000
    name: str = "flood"
    publishers: list[FloodPublisher] = field(default_factory=list)

    async def connect(self) -> None:
        """Open every connection."""
        self.publishers = [
            FloodPublisher(
                self.port, self.prefix, self.devices[i :: self.connections], qos=self.qos, window=self.window,
                client_id=f"{self.name}-{i}",
            )
            for i in range(self.connections)
        ]  # fmt: skip
        for publisher in self.publishers:
            await publisher.connect()

    async def publish(self, rate: float, seconds: float) -> float:
        """Offer ``rate`` msg/s in all for ``seconds``; returns the seconds the slowest took."""
        took = await asyncio.gather(*(p.publish(rate / len(self.publishers), seconds) for p in self.publishers))
        return max(took)

    async def close(self) -> None:
        """Wait for every acknowledgement and disconnect."""
        for publisher in self.publishers:
            await publisher.close()

    @property
    def written(self) -> int:
        """Messages written to the broker."""
        return sum(len(p.sent) for p in self.publishers)

    @property
    def acknowledged(self) -> int:
        """Messages the broker acknowledged."""
        return sum(p.acknowledged for p in self.publishers)

    @property
    def window_full_ticks(self) -> int:
        """Ticks that published less than the bucket allowed."""
        return sum(p.window_full_ticks for p in self.publishers)

    def sent_keys(self) -> np.ndarray:
        """Every key sent, over all connections (device index: position in ``devices``)."""
        keys = []
        for i, publisher in enumerate(self.publishers):
            mine = publisher.sent_keys()
            local = mine % DEVICE_BITS
            global_index = np.arange(i, len(self.devices), self.connections)[local]
            keys.append(mine - local + global_index)
        return np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)


@dataclass
class CountingSubscriber:
    """Counts PUBLISH packets under a filter at QoS 0 without decoding them (to check the rate a publisher reached)."""

    port: int
    topic_filter: str
    received: int = 0
    per_second: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, subscribe and start counting."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
        writer.write(connect_packet(f"count-{time.monotonic_ns()}") + subscribe_packet(self.topic_filter, 0))
        await writer.drain()
        await reader.readexactly(4)  # CONNACK
        await reader.readexactly(5)  # SUBACK
        self._writer = writer
        self._task = asyncio.create_task(self._count(reader))

    async def _count(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        second = int(time.monotonic())
        counted = 0
        while data := await reader.read(2**18):
            buffer += data
            position = 0
            size = len(buffer)
            while position + 2 <= size:
                length = multiplier = 0
                index = position + 1
                while index < size:  # remaining length: up to 4 bytes
                    digit = buffer[index]
                    length += (digit & 0x7F) << multiplier
                    multiplier += 7
                    index += 1
                    if not digit & 0x80:
                        break
                else:
                    break
                if index + length > size:
                    break
                counted += (buffer[position] & 0xF0) == 0x30
                position = index + length
            buffer = buffer[position:]
            now = int(time.monotonic())
            if now != second:
                self.per_second.append(counted)
                self.received += counted
                counted, second = 0, now
        self.received += counted

    async def stop(self) -> None:
        """Stop counting."""
        if self._task is not None:
            self._writer.close()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._task


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
