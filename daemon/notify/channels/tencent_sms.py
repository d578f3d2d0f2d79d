"""SMS through Tencent Cloud SMS: SendSms of sms 2021-01-11, signed TC3-HMAC-SHA256.

The document carries PhoneNumberSet (E.164), SmsSdkAppId, SignName, TemplateId and TemplateParamSet, as the SendSms
API reference lists them. Success is ``Code == "Ok"`` in the number's ``SendStatusSet`` entry; a request-level
failure is ``Response.Error``.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster
from daemon.notify.channels.page_text import fill, page_fields
from daemon.notify.channels.tencent_api import call, is_permanent
from daemon.notify.provider_config import TencentSmsConfig


def e164(number: str) -> str:
    """Tencent wants +<country><number>; a bare 11-digit Chinese mobile number gets +86."""
    digits = number.strip().replace(" ", "").replace("-", "")
    if digits.startswith("+"):
        return digits
    return f"+86{digits}" if len(digits) == 11 else f"+{digits}"


class TencentSmsChannel:
    """Sends the page through the configured approved template."""

    def __init__(self, poster: HttpPoster, config: TencentSmsConfig, environ: Mapping[str, str], utc_offset_h: float):
        self._poster = poster
        self._config = config
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def send(self, delivery: Delivery) -> None:
        """One SendSms call for one number."""
        config = self._config
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        document = {
            "PhoneNumberSet": [e164(fields["to"])],
            "SmsSdkAppId": config.sms_sdk_app_id,
            "SignName": config.sign_name,
            "TemplateId": config.template_id,
            "TemplateParamSet": [fill(value, fields) for value in config.template_params],
            "SessionContext": delivery.idempotency_key[:128],
        }
        response = await call(
            self._poster,
            endpoint=config.endpoint,
            credentials=config,
            environ=self._environ,
            service="sms",
            action="SendSms",
            version="2021-01-11",
            document=document,
            now=delivery.now,
        )
        statuses = response.get("SendStatusSet") or []
        if not statuses or not isinstance(statuses[0], dict):
            raise DeliveryError(f"tencent sms: no SendStatusSet in answer (RequestId {response.get('RequestId')})")
        code = str(statuses[0].get("Code", ""))
        if code != "Ok":
            message = f"tencent sms: {code}: {statuses[0].get('Message', '')}"
            raise DeliveryError(message, permanent=is_permanent(code))

    async def close(self) -> None:
        """The poster is shared."""
