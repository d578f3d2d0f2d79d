"""Buffered MQTT receive for paho: every packet one socket read holds is handled in one go, and a PUBLISH without
properties goes straight to the message handler.

paho reads each packet with at least three ``recv`` calls (command byte, length, body), handles one packet per
event-loop wake-up, and for MQTT 5 builds a ``Properties`` object per PUBLISH; aiomqtt then wraps the result in a
``Message``. Profiled while draining a backlog of 30,000 one-reading messages, that receive path was about 60 % of
the service's CPU. Here one ``recv`` of up to ``READ_SIZE`` bytes is split into packets; a QoS 0 or 1 PUBLISH whose
properties are empty (devices publishing with MQTT 3.1.1, or MQTT 5 without properties) is parsed with a few slices
and handed to ``deliver``. Every other packet (CONNACK, SUBACK, PINGRESP, DISCONNECT, a PUBLISH with properties or at
QoS 2, anything malformed) goes through paho's own handler with paho's own state, exactly as before.

Acknowledgements stay with the caller (paho's manual acknowledgements, sent after commit). While ``full()`` says the
service holds a receive window's worth of unacknowledged messages, the socket is not read at all (its reader is off
the event loop until ``resume``): TCP back-pressure then holds the broker, which queues. The broker's own count of
the MQTT 5 Receive Maximum cannot be relied on: Mosquitto 2.0.11 honours it only until the first acknowledgements,
then sends everything it holds (10 unacknowledged, 10 acknowledged, the other 90 at once), so a receive path that
keeps up with the wire held 213,951 unacknowledged messages in bench/overload.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes

if TYPE_CHECKING:
    from paho.mqtt.client import _InPacket  # declared for type checkers only

log = logging.getLogger(__name__)

# topic, payload, QoS, packet id: a PUBLISH read off the wire
Deliver = Callable[[str, bytes, int, int], None]
READ_SIZE = 256 * 1024  # a backlog's worth of small messages per read; a larger one is read on the next wake-up
PUBLISH = PacketTypes.PUBLISH << 4
MAX_LENGTH_BYTES = 4  # MQTT's Remaining Length is at most 4 bytes (section 2.1.4)


def _in_packet(command: int = 0, body: bytes = b"") -> _InPacket:
    """paho's ``_in_packet`` holding a whole packet as its reader leaves it (no arguments: the empty one)."""
    return {
        "command": command,
        "have_remaining": 1 if command else 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(body),
        "packet": bytearray(body),
        "to_process": 0,
        "pos": 0,
    }


class BufferedReceive:
    """Takes over ``client``'s packet reading (call before connecting)."""

    def __init__(self, client: paho.Client, deliver: Deliver, full: Callable[[], bool] = lambda: False) -> None:
        self._client = client
        self._deliver = deliver
        self._full = full
        self._buffer = bytearray()
        self._paused_fd: int | None = None  # the socket whose reader is off the loop (None: reading)
        # paho's loop_read calls self._packet_read(): an instance attribute answers first.
        client._packet_read = self.packet_read  # type: ignore[method-assign]  # paho has no hook for this

    @property
    def paused(self) -> bool:
        """The socket is not being read (the service holds a receive window's worth)."""
        return self._paused_fd is not None

    def resume(self) -> None:
        """Read the socket again, unless the service is still full (call after acknowledging)."""
        fd = self._paused_fd
        if fd is None or self._full():
            return
        self._paused_fd = None
        sock = self._client.socket()
        if sock is not None and sock.fileno() == fd:  # else the connection closed meanwhile: nothing to read
            loop = asyncio.get_running_loop()
            loop.add_reader(fd, self._readable)
            # TLS: records decrypted before the pause wait in the SSL object, and the socket may not turn readable
            # again for them (the end of a stream): read once now.
            loop.call_soon(self._readable)

    def _pause(self) -> None:
        sock = self._client.socket()
        if sock is None or self._paused_fd is not None:
            return
        self._paused_fd = sock.fileno()
        asyncio.get_running_loop().remove_reader(self._paused_fd)

    def _readable(self) -> None:
        """The reader after a pause (aiomqtt's own is gone): paho's loop_read, as aiomqtt calls it."""
        client = self._client
        try:
            while True:
                client.loop_read()
                sock = client._sock
                if self._paused_fd is None and sock is not None and hasattr(sock, "pending") and sock.pending() > 0:
                    continue  # TLS: decrypted bytes wait in the SSL object, not on the socket
                break
        except Exception:  # as aiomqtt: a broken connection; closing it makes aiomqtt reconnect
            log.exception("MQTT read failed; closing the connection")
            client._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)

    def packet_read(self) -> MQTTErrorCode:
        """Read what the socket holds and handle every complete packet in it (paho's ``_packet_read``)."""
        client = self._client
        if self._full():
            self._pause()
            return MQTTErrorCode.MQTT_ERR_AGAIN
        try:
            data = client._sock_recv(READ_SIZE)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as exc:  # ConnectionError included (no socket)
            log.debug("MQTT socket read failed: %s", exc)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        client._last_bytes_received = time.monotonic()  # keepalive: paho pings only after silence
        buffer = self._buffer
        buffer += data
        rc, used = self._handle_all(buffer)
        del buffer[:used]
        return rc

    def _handle_all(self, buffer: bytearray) -> tuple[MQTTErrorCode, int]:
        """Handle the complete packets at the front of ``buffer``; returns the first error and the bytes used."""
        position, size = 0, len(buffer)
        while size - position >= 2:
            length, multiplier, index = 0, 1, position + 1
            while True:
                if index >= size:
                    return MQTTErrorCode.MQTT_ERR_SUCCESS, position  # the length is not all here yet
                byte = buffer[index]
                index += 1
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                if not byte & 0x80:
                    break
                if index - position > MAX_LENGTH_BYTES:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL, position
            end = index + length
            if end > size:
                break  # the rest of this packet comes with a later read
            rc = self._handle(buffer[position], bytes(buffer[index:end]))
            position = end
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc, position
        return MQTTErrorCode.MQTT_ERR_SUCCESS, position

    def _handle(self, command: int, body: bytes) -> MQTTErrorCode:
        if command & 0xF0 == PUBLISH and (command & 0x06) >> 1 < 2 and self._publish(command, body):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        client = self._client
        client._in_packet = _in_packet(command, body)
        try:
            return client._packet_handle()
        except MalformedPacket as exc:
            log.debug("malformed MQTT packet: %s", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            client._in_packet = _in_packet()  # as paho resets it

    def _publish(self, command: int, body: bytes) -> bool:
        """Deliver a QoS 0/1 PUBLISH without properties; False: leave it to paho (properties, or not well formed)."""
        qos = (command & 0x06) >> 1
        try:
            position = 2 + (body[0] << 8 | body[1])
            topic = body[2:position].decode()
            mid = 0
            if qos:
                mid = body[position] << 8 | body[position + 1]
                position += 2
            if self._client.protocol == paho.MQTTv5:
                if body[position] != 0:
                    return False  # properties (a topic alias, an expiry, user properties): paho decodes them
                position += 1
        except (IndexError, UnicodeDecodeError):
            return False  # paho reports it as malformed, as it always did
        if not topic or position > len(body) or (qos and not mid):
            return False
        self._deliver(topic, body[position:], qos, mid)
        return True
