"""What every channel shares: the delivery it gets, the error it raises, secret and placeholder resolution."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from daemon.errors import HazwatchError
from daemon.notify.config import ChannelTarget
from daemon.notify.model import AlertFacts

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
