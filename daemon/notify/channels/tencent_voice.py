"""Voice call with text-to-speech through Tencent Cloud VMS: SendTtsVoice of vms 2020-09-02, signed TC3-HMAC-SHA256.

The document carries TemplateId, CalledNumber (E.164), VoiceSdkAppid, TemplateParamSet and PlayTimes, as the
SendTtsVoice API reference lists them; success is a ``SendStatus`` with a ``CallId``. The call reads a short text
that says how to acknowledge (``page_text``).
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster
from daemon.notify.channels.page_text import fill, page_fields, shorten
from daemon.notify.channels.tencent_api import call
from daemon.notify.channels.tencent_sms import e164
from daemon.notify.provider_config import TencentVoiceConfig

MAX_VOICE_CHARS = 350  # SendTtsVoice: template content at most 350 characters


class TencentVoiceChannel:
    """Places one text-to-speech call."""

    def __init__(self, poster: HttpPoster, config: TencentVoiceConfig, environ: Mapping[str, str], utc_offset_h: float):
        self._poster = poster
        self._config = config
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def send(self, delivery: Delivery) -> None:
        """One SendTtsVoice call; accepted when the answer names a CallId."""
        config = self._config
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        document = {
            "TemplateId": config.template_id,
            "CalledNumber": e164(fields["to"]),
            "VoiceSdkAppid": config.voice_sdk_app_id,
            "TemplateParamSet": [shorten(fill(value, fields), MAX_VOICE_CHARS) for value in config.template_params],
            "PlayTimes": config.play_times,
            "SessionContext": delivery.idempotency_key[:128],
        }
        response = await call(
            self._poster,
            endpoint=config.endpoint,
            credentials=config,
            environ=self._environ,
            service="vms",
            action="SendTtsVoice",
            version="2020-09-02",
            document=document,
            now=delivery.now,
        )
        status = response.get("SendStatus")
        if not isinstance(status, dict) or not status.get("CallId"):
            raise DeliveryError(f"tencent vms: no CallId in answer (RequestId {response.get('RequestId')})")

    async def close(self) -> None:
        """The poster is shared."""
