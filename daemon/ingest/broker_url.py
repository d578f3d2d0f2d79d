"""Parse the ``--broker`` value: ``embedded[:HOST:PORT]``, ``mqtt://…`` or ``mqtts://…``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from daemon.errors import ConfigError

EMBEDDED_DEFAULT_HOST = "127.0.0.1"
EMBEDDED_DEFAULT_PORT = 1883


@dataclass(frozen=True, slots=True)
class BrokerTarget:
    """Where to connect, and whether hazwatch must start the broker itself."""

    host: str
    port: int
    embedded: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    port_chosen: bool = True  # False for plain `embedded`: another port may be used if the default is taken


def parse_broker(value: str) -> BrokerTarget:
    """Turn a ``--broker`` value into a target; raise ConfigError with an example on bad input."""
    if value == "embedded" or value.startswith("embedded:"):
        rest = value.removeprefix("embedded").removeprefix(":")
        if not rest:
            return BrokerTarget(EMBEDDED_DEFAULT_HOST, EMBEDDED_DEFAULT_PORT, embedded=True, port_chosen=False)
        host, _, port_text = rest.rpartition(":")
        if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ConfigError([f"--broker {value!r}: expected embedded:HOST:PORT, e.g. embedded:127.0.0.1:1883"])
        return BrokerTarget(host, int(port_text), embedded=True)
    parts = urlsplit(value)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ConfigError([f"--broker {value!r}: expected mqtt://HOST[:PORT], mqtts://HOST[:PORT] or embedded"])
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ConfigError([f"--broker {value!r}: bad port"]) from exc
    return BrokerTarget(
        parts.hostname,
        port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
