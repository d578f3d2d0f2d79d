"""MQTT in: reconnect loop, fixed client id, persistent session, QoS 1 (nothing lost while we are away)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

import aiomqtt

from daemon.clock import Clock
from daemon.config import MqttConfig
from daemon.ingest.broker_url import BrokerTarget
from daemon.metrics.instruments import Metrics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes, float], None]


def direct_delivery(handler: MessageHandler, clock: Clock) -> type[asyncio.Queue[aiomqtt.Message]]:
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
            try:
                handler(item.topic.value, bytes(payload), clock.now())
            except Exception:
                # The handler quarantines bad input itself; anything escaping is a bug. Keep receiving.
                log.exception("message handler failed on %s", item.topic.value)

    return DirectQueue


def tls_context(config: MqttConfig) -> ssl.SSLContext:
    """TLS context for mqtts://: the configured CA bundle or the system's."""
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if config.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class MqttIngest:
    """Subscribes to ``<prefix>/#`` and hands every message to ``handler(topic, payload, received)``."""

    def __init__(
        self, target: BrokerTarget, config: MqttConfig, handler: MessageHandler, metrics: Metrics, clock: Clock
    ) -> None:
        self._target = target
        self._config = config
        self._handler = handler
        self._metrics = metrics
        self._clock = clock
        self.connected = asyncio.Event()

    def _client(self) -> aiomqtt.Client:
        config, target = self._config, self._target
        password = target.password
        if password is None and config.password is not None:
            password = config.password.get_secret_value()
        return aiomqtt.Client(
            target.host,
            target.port,
            identifier=config.client_id,
            clean_session=False,
            username=target.username or config.username,
            password=password,
            keepalive=config.keepalive_s,
            tls_context=tls_context(config) if target.tls else None,
            timeout=10,
            queue_type=direct_delivery(self._handler, self._clock),
        )

    async def run(self) -> None:
        """Stay connected until cancelled, backing off exponentially after failures."""
        backoff = self._config.reconnect_min_s
        topic = f"{self._config.topic_prefix}/#"
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(topic, qos=1)
                    self._metrics.mqtt_connected.set(1)
                    self.connected.set()
                    log.info("connected to MQTT %s:%d, subscribed to %s", self._target.host, self._target.port, topic)
                    backoff = self._config.reconnect_min_s
                    # Messages go straight to the handler (see direct_delivery); this loop yields
                    # nothing and only ends, with MqttError, when the connection is lost.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self._lost()
                log.warning(
                    "MQTT connection to %s:%d lost or refused: %s; retrying in %.1fs",
                    self._target.host,
                    self._target.port,
                    exc,
                    backoff,
                )
            except asyncio.CancelledError:
                self._lost()
                raise
            await asyncio.sleep(backoff)
            self._metrics.mqtt_reconnects.inc()
            backoff = min(backoff * 2, self._config.reconnect_max_s)

    def _lost(self) -> None:
        self._metrics.mqtt_connected.set(0)
        self.connected.clear()
