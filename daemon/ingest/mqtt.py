"""MQTT in: reconnect loop, fixed client id, persistent session, QoS 1, acknowledged after commit.

paho acknowledges a QoS 1 message as soon as it is received; a crash before the readings are stored would then
lose them, as the broker forgets a message once it is acknowledged. With paho's manual acknowledgements (aiomqtt 2
does not wrap them yet, see aiomqtt PR #346) each message is acknowledged only after the transaction that stored
its readings (or its quarantine row) committed: a crash at any point leaves it with the broker, which delivers it
again, and the pipeline drops what it already stored. MQTT 5 lets the client tell the broker how many
unacknowledged messages it may hold (Receive Maximum, MQTT 5.0 section 3.1.2.11.3), sized to a few batches so the
stream does not stall while a batch commits; the Session Expiry Interval (section 3.1.2.11.2) keeps the session
while the service is away.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import select
import ssl
from collections.abc import Callable

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from daemon.clock import Clock
from daemon.config import MqttConfig
from daemon.ingest.broker_url import BrokerTarget
from daemon.ingest.mqtt_receive import BufferedReceive
from daemon.metrics.instruments import Metrics

log = logging.getLogger(__name__)

PUBACK_HEADER = bytes([PacketTypes.PUBACK << 4, 2])  # fixed header of a PUBACK without reason code or properties

Ack = Callable[[], None]  # tells the broker one message is safely stored; called at most once
MessageHandler = Callable[[str, bytes, float, Ack | None], None]
AckFactory = Callable[[aiomqtt.Message], Ack | None]


def hand_over(handler: MessageHandler, topic: str, payload: bytes, received: float, ack: Ack | None) -> None:
    """Give one message to the handler, whichever receive path read it."""
    try:
        handler(topic, payload, received, ack)
    except Exception:
        # The handler quarantines bad input itself; anything escaping is a bug. Keep receiving (the message stays
        # unacknowledged: the broker delivers it again after a reconnect).
        log.exception("message handler failed on %s", topic)


def direct_delivery(
    handler: MessageHandler, clock: Clock, ack_for: AckFactory = lambda _message: None
) -> type[asyncio.Queue[aiomqtt.Message]]:
    """An aiomqtt queue type that hands each message to ``handler`` at once instead of queueing it.

    aiomqtt's ``async for message in client.messages`` costs two asyncio tasks per message; at
    thousands of messages a second that is most of the receive cost. Decoding inside the
    receive callback is synchronous CPU work either way, so nothing waits longer, and nothing
    accumulates in an unbounded queue when the pipeline falls behind: TCP back-pressure reaches
    the broker, which holds QoS 1 messages for our persistent session.
    """

    class DirectQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            payload = item.payload
            if not isinstance(payload, bytes | bytearray):
                payload = b"" if payload is None else str(payload).encode()
            hand_over(handler, item.topic.value, bytes(payload), clock.now(), ack_for(item))

    return DirectQueue


def tls_context(config: MqttConfig) -> ssl.SSLContext:
    """TLS context for mqtts://: the configured CA bundle or the system's."""
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if config.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class MqttIngest:
    """Subscribes to ``<prefix>/#`` and hands every message to ``handler(topic, payload, received)``.

    ``topics``, ``client_id`` and ``receive_maximum`` make another session (the priority lane,
    ``priority_lane.py``): its own topics, its own queue at the broker, its own receive window; ``main=False`` leaves
    the connection metrics to the main session.
    """

    def __init__(
        self,
        target: BrokerTarget,
        config: MqttConfig,
        handler: MessageHandler,
        metrics: Metrics,
        clock: Clock,
        *,
        topics: list[str] | None = None,
        client_id: str | None = None,
        receive_maximum: int | None = None,
        main: bool = True,
    ) -> None:
        self._target = target
        self._config = config
        self._topics = topics if topics is not None else [f"{config.topic_prefix}/#"]
        self._client_id = client_id or config.client_id
        self._receive_maximum = receive_maximum or config.receive_maximum
        self._main = main
        self.unacknowledged = 0  # messages delivered on the current connection and not yet acknowledged
        self._handler = handler
        self._metrics = metrics
        self._clock = clock
        self.connected = asyncio.Event()
        self._paho: paho.Client | None = None  # the connection acknowledgements go to (None: not connected)
        self._pending_acks = bytearray()  # PUBACKs of committed messages, written together at the next loop turn
        self._acks_for: paho.Client | None = None  # the connection they go to
        self._acks_scheduled = False
        self._receive: BufferedReceive | None = None
        # The service holds a receive window's worth of unacknowledged messages: stop reading (the service sets it).
        self.full: Callable[[], bool] = lambda: False
        self.protocol = "3.1.1" if target.embedded else config.protocol  # the embedded broker speaks 3.1.1 only

    def _client(self) -> aiomqtt.Client:
        config, target = self._config, self._target
        password = target.password
        if password is None and config.password is not None:
            password = config.password.get_secret_value()
        v5 = self.protocol == "5"
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
            properties.SessionExpiryInterval = config.session_expiry_s
            properties.ReceiveMaximum = self._receive_maximum
        client = aiomqtt.Client(
            target.host,
            target.port,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else False,
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            username=target.username or config.username,
            password=password,
            keepalive=config.keepalive_s,
            tls_context=tls_context(config) if target.tls else None,
            timeout=10,
            queue_type=direct_delivery(self._handler, self._clock, self._ack_for),
        )
        # Before connecting: the broker redelivers the session's unacknowledged messages right after CONNACK.
        client._client.manual_ack_set(True)
        self.unacknowledged = 0  # a new connection: the broker delivers again what was not acknowledged
        self._receive = BufferedReceive(client._client, functools.partial(self._deliver, client._client), self.full)
        return client

    def _deliver(self, connection: paho.Client, topic: str, payload: bytes, qos: int, mid: int) -> None:
        """A PUBLISH read by ``BufferedReceive``: to the handler, as ``direct_delivery`` hands paho's messages."""
        ack = None
        if qos:
            ack = functools.partial(self._ack, connection, mid, qos)
            self.unacknowledged += 1
        hand_over(self._handler, topic, payload, self._clock.now(), ack)

    def input_pending(self) -> bool:
        """More bytes wait on the connection than were read (overload: the loop reads them after judging a batch).

        One non-blocking poll of paho's socket; the intake asks it once per full batch and per timer tick.
        """
        client = self._paho
        sock = None if client is None else client.socket()
        if sock is None or (self._receive is not None and self._receive.paused):
            return False  # paused: nothing more is read until something is acknowledged, so do not wait for it
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):  # closed under us: nothing more to read from it
            return False
        return bool(readable)

    def _ack_for(self, message: aiomqtt.Message) -> Ack | None:
        if message.qos == 0 or self._paho is None:
            return None  # QoS 0 is never acknowledged
        self.unacknowledged += 1
        return functools.partial(self._ack, self._paho, message.mid, message.qos)

    def _ack(self, connection: paho.Client, mid: int, qos: int) -> None:
        # The writer acknowledges a whole committed batch at once: one write for all of them at the next loop turn
        # (paho's ack() costs a cross-thread wake-up of the loop and a socket write per message), then the socket
        # is read again if it was paused.
        if not self._acks_scheduled:
            self._acks_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_acks)
        # A message received on an earlier connection is delivered again on this one (same session): its
        # acknowledgement would name a packet id the broker may have reused, so it is not sent.
        if connection is not self._paho:
            return
        self.unacknowledged -= 1
        if qos != 1:
            connection.ack(mid, qos)
            return
        if connection is not self._acks_for:
            self._acks_for, self._pending_acks = connection, bytearray()
        self._pending_acks += PUBACK_HEADER + mid.to_bytes(2, "big")

    def _send_acks(self) -> None:
        self._acks_scheduled = False
        packets, self._pending_acks = bytes(self._pending_acks), bytearray()
        connection = self._paho
        if packets and connection is not None and connection is self._acks_for:
            # One queued "packet" made of many PUBACKs: paho writes its bytes as they are and only looks at the
            # command of a PUBLISH or a DISCONNECT after writing.
            connection._packet_queue(PacketTypes.PUBACK << 4, packets, 0, 0)
        if self._receive is not None:
            self._receive.resume()

    async def run(self) -> None:
        """Stay connected until cancelled, backing off exponentially after failures."""
        backoff = self._config.reconnect_min_s
        topics = self._topics
        while True:
            try:
                client = self._client()
                self._paho = client._client
                async with client:
                    if len(topics) == 1:
                        await client.subscribe(topics[0], qos=1)
                    else:  # one SUBSCRIBE for all (a lane may name hundreds of device topics)
                        await client.subscribe([(topic, 1) for topic in topics])
                    if self._main:
                        self._metrics.mqtt_connected.set(1)
                    self.connected.set()
                    log.info(
                        "connected to MQTT %s:%d as %s, subscribed to %s",
                        self._target.host,
                        self._target.port,
                        self._client_id,
                        topics[0] if len(topics) == 1 else f"{len(topics)} topics",
                    )
                    backoff = self._config.reconnect_min_s
                    # Messages go straight to the handler (see direct_delivery); this loop yields
                    # nothing and only ends, with MqttError, when the connection is lost.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self._lost()
                log.warning(
                    "MQTT connection to %s:%d as %s lost or refused: %s; retrying in %.1fs",
                    self._target.host,
                    self._target.port,
                    self._client_id,
                    exc,
                    backoff,
                )
            except asyncio.CancelledError:
                self._lost()
                raise
            await asyncio.sleep(backoff)
            if self._main:
                self._metrics.mqtt_reconnects.inc()
            backoff = min(backoff * 2, self._config.reconnect_max_s)

    def _lost(self) -> None:
        self._paho = None
        if self._main:
            self._metrics.mqtt_connected.set(0)
        self.connected.clear()
