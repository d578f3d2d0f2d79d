"""Generic webhook: a JSON document, optionally signed with HMAC-SHA256 over the exact body bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from daemon.notify.channels.base import Delivery, HttpPoster, expand, secret
from daemon.notify.render import render

SIGNATURE_HEADER = "X-Hazwatch-Signature"
KEY_HEADER = "Idempotency-Key"


def sign(body: bytes, key: str) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(key, body), the form GitHub-style receivers check."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def webhook_document(delivery: Delivery, utc_offset_h: float) -> dict[str, Any]:
    """The JSON a webhook receives: rendered text plus the structured facts."""
    message = render(delivery.facts, delivery.language, utc_offset_h)
    return {
        "idempotency_key": delivery.idempotency_key,
        "notification_id": delivery.notification_id,
        "event": delivery.event,
        "recipient": delivery.recipient,
        "language": delivery.language,
        "drill": delivery.facts.drill,
        "title": message.title,
        "text": message.text,
        "facts": delivery.facts.to_json(),
    }


class WebhookChannel:
    """POSTs the document to the target URL; the receiver dedupes by ``Idempotency-Key``."""

    def __init__(self, poster: HttpPoster, environ: Mapping[str, str], utc_offset_h: float) -> None:
        self._poster = poster
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def send(self, delivery: Delivery) -> None:
        """Deliver one notification."""
        target = delivery.target
        body = json.dumps(webhook_document(delivery, self._utc_offset_h), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", KEY_HEADER: delivery.idempotency_key}
        key = secret(target, self._environ)
        if key is not None:
            headers[SIGNATURE_HEADER] = sign(body, key)
        await self._poster.post(expand(target.url or "", self._environ), body, headers)

    async def close(self) -> None:
        """Nothing of its own to close (the poster is shared)."""
