"""The buffered MQTT receive path: packets split across reads, many in one read, and everything it does not take
itself (a PUBLISH with properties, other packets, malformed ones) left to paho exactly as before.

A real paho client on a socket stand-in that returns chosen chunks (the broker-level behaviour is covered by the
service tests over Mosquitto: test_persistent_session, test_alarm_over_mqtt, tests/faults)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from daemon.ingest.mqtt_receive import BufferedReceive
from tests.helpers import eventually

Delivered = tuple[str, bytes, int, int]


class ChunkSocket:
    """Returns the given chunks one per ``recv``, then says there is nothing more (or that the peer closed); keeps
    what paho sends."""

    def __init__(self, chunks: list[bytes], closed: bool = False) -> None:
        self.chunks = chunks
        self.closed = closed
        self.sent = b""

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def close(self) -> None:
        pass

    def recv(self, size: int) -> bytes:
        if self.chunks:
            chunk = self.chunks.pop(0)
            assert len(chunk) <= size
            return chunk
        if self.closed:
            return b""
        raise BlockingIOError


def remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def publish(topic: str, payload: bytes, qos: int, mid: int, v5: bool, properties: bytes = b"") -> bytes:
    """A PUBLISH packet as a broker sends it."""
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += remaining_length(len(properties)) + properties
    body += payload
    return bytes([0x30 | qos << 1]) + remaining_length(len(body)) + body


def client_on(
    sock: ChunkSocket | socket.socket, v5: bool = True, full: Callable[[], bool] = lambda: False
) -> tuple[paho.Client, list[Delivered], list[paho.MQTTMessage]]:
    """A paho client reading ``sock`` through BufferedReceive; what it delivered fast, and what paho handled."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5 if v5 else paho.MQTTv311)
    client.manual_ack_set(True)
    delivered: list[Delivered] = []
    through_paho: list[paho.MQTTMessage] = []
    client.on_message = lambda _client, _userdata, message: through_paho.append(message)
    BufferedReceive(client, lambda *message: delivered.append(message), full)
    client._sock = sock  # type: ignore[assignment]  # the stand-in has the one method the reader calls
    return client, delivered, through_paho


def read_until_empty(client: paho.Client) -> MQTTErrorCode:
    for _ in range(10_000):
        rc = client._packet_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return rc
    raise AssertionError("the reader never ran out of input")


def messages(count: int) -> list[Delivered]:
    # Payload sizes cross the one-byte Remaining Length boundary (127), so two-byte lengths are split too.
    return [(f"p/site/dev-{n}", b"x" * (n * 7 % 300), 1 if n % 3 else 0, 0 if n % 3 == 0 else n) for n in range(60)][
        :count
    ]


def test_packets_split_at_every_byte_are_delivered_whole_in_order() -> None:
    expected = messages(60)
    wire = b"".join(publish(topic, payload, qos, mid, v5=True) for topic, payload, qos, mid in expected)
    client, delivered, through_paho = client_on(ChunkSocket([wire[i : i + 1] for i in range(len(wire))]))
    assert read_until_empty(client) == MQTTErrorCode.MQTT_ERR_AGAIN
    assert delivered == expected
    assert through_paho == []


def test_many_packets_in_one_read_and_a_partial_one_left_for_the_next() -> None:
    expected = messages(40)
    wire = b"".join(publish(topic, payload, qos, mid, v5=False) for topic, payload, qos, mid in expected)
    cut = len(wire) - 5  # the last packet arrives in two reads
    client, delivered, _ = client_on(ChunkSocket([wire[:cut], wire[cut:]]), v5=False)
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert delivered == expected[:-1]
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert delivered == expected


def test_a_publish_with_properties_goes_through_paho_with_them() -> None:
    expiry = bytes([0x02]) + struct.pack("!I", 60)  # Message Expiry Interval, 60 s
    wire = (
        publish("p/site/a", b"first", 1, 7, v5=True)
        + publish("p/site/b", b"second", 1, 8, v5=True, properties=expiry)
        + publish("p/site/c", b"third", 1, 9, v5=True)
    )
    client, delivered, through_paho = client_on(ChunkSocket([wire]))
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert delivered == [("p/site/a", b"first", 1, 7), ("p/site/c", b"third", 1, 9)]
    assert [(m.topic, m.payload, m.qos, m.mid) for m in through_paho] == [("p/site/b", b"second", 1, 8)]
    assert through_paho[0].properties is not None
    assert through_paho[0].properties.MessageExpiryInterval == 60  # type: ignore[attr-defined]  # set by unpack
    assert client._in_packet["command"] == 0  # paho's reader state left as paho leaves it


def test_qos_2_and_other_packets_are_paho_s() -> None:
    wire = publish("p/site/q2", b"two", 2, 11, v5=False) + bytes([0xD0, 0x00])  # and a PINGRESP
    client, delivered, through_paho = client_on(ChunkSocket([wire]), v5=False)
    client._ping_t = 123.0
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert delivered == []
    assert 11 in client._in_messages  # paho keeps a QoS 2 message until PUBREL
    assert isinstance(client._sock, ChunkSocket)
    assert client._sock.sent == bytes([0x50, 2, 0, 11])  # and answered with its PUBREC
    assert client._ping_t == 0  # the PINGRESP was handled by paho
    assert through_paho == []  # QoS 2 reaches on_message only after PUBREL


def test_the_peer_closing_and_a_malformed_length_are_errors() -> None:
    client, _, _ = client_on(ChunkSocket([], closed=True))
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_CONN_LOST
    client, delivered, _ = client_on(ChunkSocket([bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])]))
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert delivered == []


def test_an_empty_v3_topic_is_malformed_as_paho_says() -> None:
    client, delivered, through_paho = client_on(ChunkSocket([publish("", b"x", 1, 3, v5=False)]), v5=False)
    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert delivered == through_paho == []


async def test_a_full_service_stops_reading_the_socket_until_resumed() -> None:
    """While ``full()`` the socket's reader is off the event loop (TCP holds the broker back); ``resume`` once there
    is room reads on. Mosquitto 2.0.11 stops honouring the Receive Maximum after the first acknowledgements, so this
    is what bounds the messages held."""
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    full = [False]
    client, delivered, _ = client_on(ours, full=lambda: full[0])
    receive = client._packet_read.__self__  # type: ignore[attr-defined]  # the BufferedReceive that took it over
    assert isinstance(receive, BufferedReceive)
    loop = asyncio.get_running_loop()
    loop.add_reader(ours.fileno(), client.loop_read)  # as aiomqtt registers its reader
    try:
        first, second = ("p/site/a", b"one", 1, 1), ("p/site/a", b"two", 1, 2)
        broker.sendall(publish(*first, v5=True))

        async def got(count: int) -> bool:
            return len(delivered) == count

        await eventually(lambda: got(1))
        full[0] = True
        broker.sendall(publish(*second, v5=True))

        async def paused() -> bool:
            return receive.paused

        await eventually(paused)
        assert delivered == [first]
        receive.resume()  # still full: stays paused
        assert receive.paused
        full[0] = False
        receive.resume()
        await eventually(lambda: got(2))
        assert delivered == [first, second]
    finally:
        loop.remove_reader(ours.fileno())
        ours.close()
        broker.close()


def test_paho_still_has_the_private_reader_this_takes_over() -> None:
    """BufferedReceive replaces paho's private ``_packet_read`` and calls its private helpers: a paho that renamed any
    of them would leave ingest on paho's slow path or break it, so this says which one went (pyproject pins paho)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    for name in ("_packet_read", "_sock_recv", "_packet_handle", "_loop_rc_handle", "_in_packet", "_sock"):
        assert hasattr(client, name), f"paho.Client has no {name} any more: daemon/ingest/mqtt_receive.py needs a look"
    assert client._packet_read.__name__ == "_packet_read"  # paho's own reader, until BufferedReceive takes it over
