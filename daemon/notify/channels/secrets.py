"""Read a provider's key from the environment: a missing one is a permanent delivery error naming the variable."""

from __future__ import annotations

from collections.abc import Mapping

from daemon.notify.channels.base import DeliveryError


def required_env(environ: Mapping[str, str], name: str) -> str:
    """The variable's value; unset or empty cannot be fixed by retrying, so the row fails at once."""
    value = environ.get(name, "")
    if not value:
        raise DeliveryError(f"environment variable {name} is not set", permanent=True)
    return value
