"""What every channel shares: the delivery it gets, the error it raises, secrets and placeholders from the environment,
and the one aiohttp session the HTTP channels post through (every failure a DeliveryError)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from daemon.errors import HazwatchError
from daemon.notify.config import ChannelTarget
from daemon.notify.model import AlertFacts
from daemon.redaction import redact

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class DeliveryError(HazwatchError):
    """A delivery attempt failed; the row is retried with back-off unless ``permanent``.

    Permanent means another attempt on this channel cannot succeed (invalid number, no balance, unknown user): the
    row fails at once so the person's next channel is tried without waiting for a retry budget.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row, decoded: who, where, what, and the time of this attempt."""

    notification_id: int
    idempotency_key: str
    event: str
    recipient: str
    language: str
    target: ChannelTarget
    facts: AlertFacts
    extra: dict[str, Any]
    now: float


class Channel(Protocol):
    """Sends a delivery; raises DeliveryError when the endpoint did not accept it."""

    async def send(self, delivery: Delivery) -> None:
        """Deliver once (the worker retries)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def expand(value: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` placeholders from the environment; an unset variable is a delivery error."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            # the process environment does not change while it runs: retrying cannot help
            raise DeliveryError(f"environment variable {name} is not set", permanent=True)
        return environ[name]

    return _PLACEHOLDER.sub(lookup, value)


def secret(target: ChannelTarget, environ: Mapping[str, str]) -> str | None:
    """The target's secret from its environment variable, if it names one."""
    if target.secret_env is None:
        return None
    value = environ.get(target.secret_env)
    if not value:
        raise DeliveryError(f"secret variable {target.secret_env} is not set")
    return value


def required_env(environ: Mapping[str, str], name: str) -> str:
    """The variable's value; unset or empty cannot be fixed by retrying, so the row fails at once."""
    value = environ.get(name, "")
    if not value:
        raise DeliveryError(f"environment variable {name} is not set", permanent=True)
    return value


class HttpPoster:
    """Owns one client session (created lazily inside the running loop)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
        """Any request; returns status and text whatever the status; transport errors and time-outs raise."""
        try:
            async with self._client().request(method, url, data=body, headers=headers) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{method} {_safe(url)}: {type(exc).__name__}: {exc}") from exc

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body``; returns status and text; raises DeliveryError on transport errors or non-2xx."""
        try:
            async with self._client().post(url, data=body, headers=headers) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(redact(f"POST {_safe(url)}: {type(exc).__name__}: {exc}")) from exc
        if not 200 <= status < 300:
            raise DeliveryError(redact(f"POST {_safe(url)}: HTTP {status}: {text[:200]}"))
        return status, text

    async def post_json(self, url: str, document: Any, headers: dict[str, str] | None = None) -> str:
        """POST a JSON document (UTF-8); returns the response text."""
        body = json.dumps(document, ensure_ascii=False).encode()
        _, text = await self.post(url, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})
        return text

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()


def _safe(url: str) -> str:
    # Robot URLs carry their access token in the query string, others a password or a token in the path: never
    # log them.
    return redact(url.split("?", 1)[0])
