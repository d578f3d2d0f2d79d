"""Parse a provider's JSON answer, turning a non-JSON answer into a delivery error that names the provider."""

from __future__ import annotations

import json
from typing import Any

from daemon.notify.channels.base import DeliveryError


def json_answer(provider: str, status: int, text: str) -> dict[str, Any]:
    """The answer as a dict; anything else (an HTML error page, a proxy's text) is a retryable error."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeliveryError(f"{provider}: HTTP {status}, answer is not JSON: {text[:200]}") from exc
    if not isinstance(answer, dict):
        raise DeliveryError(f"{provider}: HTTP {status}, unexpected answer: {text[:200]}")
    return answer
