"""Reply SMS as the providers push them: each provider's documented callback body read into (sender, text) pairs.

- Alibaba Cloud SMS, uplink messages (SmsUp) in "HTTP batch push" mode: a JSON array of objects with
  ``phone_number``, ``content``, ``send_time``, ``dest_code``, ``sequence_id`` (``sign_name`` in older pages); the
  answer is ``{"code": 0, "msg": "接收成功"}`` with HTTP 200, and anything else makes Alibaba push again (after 1, 5
  and 10 minutes). https://help.aliyun.com/zh/sms/developer-reference/smsup-http
- Tencent Cloud SMS, "SMS reply" callback (短信回复): one JSON object with ``mobile``, ``nationcode``, ``text``,
  ``sign``, ``time`` and ``extend``; the answer is ``{"result": 0, "errmsg": "OK"}``.
  https://cloud.tencent.com/document/product/382/5809

Neither provider signs these callbacks (their pages document no signature), so the service authenticates them by a
secret in the callback URL that only the provider's console knows (``/sms/inbound/<provider>/<secret>``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PROVIDERS = ("aliyun", "tencent")
MAX_REPLIES = 100  # one Alibaba push may carry many; more than this is not a reply batch


class InboundFormatError(ValueError):
    """The body is not the provider's documented form (the text says what is wrong)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply SMS: the sender's number as the provider gives it, and the text."""

    sender: str
    text: str


def _field(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise InboundFormatError(f"`{name}` must be a non-empty string")
    return value.strip()


def parse_replies(provider: str, body: bytes) -> list[Reply]:
    """The replies in a provider's callback body; raises InboundFormatError for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InboundFormatError(f"body is not JSON: {str(exc)[:120]}") from exc
    if provider == "aliyun":
        if not isinstance(document, list) or not document:
            raise InboundFormatError("Alibaba SmsUp pushes a non-empty JSON array")
        if len(document) > MAX_REPLIES:
            raise InboundFormatError(f"more than {MAX_REPLIES} replies in one push")
        if not all(isinstance(item, dict) for item in document):
            raise InboundFormatError("every SmsUp item must be an object")
        return [Reply(_field(item, "phone_number"), _field(item, "content")) for item in document]
    if provider == "tencent":
        if not isinstance(document, dict):
            raise InboundFormatError("the Tencent SMS reply callback is one JSON object")
        mobile, nation = _field(document, "mobile"), _field(document, "nationcode")
        sender = mobile if nation.lstrip("+0") == "86" else f"+{nation.lstrip('+0')}{mobile}"
        return [Reply(sender, _field(document, "text"))]
    raise InboundFormatError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")


def accepted_answer(provider: str) -> dict[str, Any]:
    """The body the provider's documentation asks for when the push was taken (so it is not pushed again)."""
    if provider == "aliyun":
        return {"code": 0, "msg": "接收成功"}
    return {"result": 0, "errmsg": "OK"}
