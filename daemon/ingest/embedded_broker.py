"""An in-process MQTT broker (amqtt) so hazwatch runs with nothing else installed."""

from __future__ import annotations

import logging
import socket
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger(__name__)


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """Accept every client *without* marking it anonymous.

    amqtt's own anonymous plugin flags sessions as anonymous, and amqtt then keeps no persistent
    session for them; hazwatch's QoS 1 + clean_session=False delivery after a restart needs one.
    The embedded broker listens on loopback by default; use a real broker with TLS in production.
    """

    async def authenticate(self, *, session: Any) -> bool:
        """Allow the connection."""
        return True


def port_is_free(host: str, port: int) -> bool:
    """Whether a TCP listener could bind ``host:port`` now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """A port the OS considers free on ``host``."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class EmbeddedBroker:
    """Start and stop an amqtt broker on one TCP listener."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
                "plugins": {f"{__name__}.OpenAuthPlugin": {}},
            }
        )

    async def start(self) -> None:
        """Begin accepting connections."""
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Close every connection and the listener."""
        await self._broker.shutdown()
