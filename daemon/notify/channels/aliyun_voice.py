"""Voice call with text-to-speech through Alibaba Cloud VMS: SingleCallByTts of Dyvmsapi 2017-05-25, an RPC API
signed with signature v1 (``aliyun_signing``, the same mechanism as SendSms).

The request is a form POST of the common RPC parameters (AccessKeyId, Action, Format, RegionId, SignatureMethod,
SignatureNonce, SignatureVersion, Timestamp, Version) and SingleCallByTts's own, as its API reference lists them
(help.aliyun.com/document_detail/393519 and .../api-dyvmsapi-2017-05-25-singlecallbytts):

- ``CalledNumber``: the one number called (mobile or landline, no country code for the mainland);
- ``CalledShowNumber``: the number shown, in dedicated mode; left out, the call uses the public pool;
- ``TtsCode`` and ``TtsParam``: the approved template and its variables as JSON; the variables together must stay
  under 250 characters and may not carry a link, so the call reads the short voice text (``page_text``), which
  says how to acknowledge (the SMS link or the reply code);
- ``PlayTimes`` (1-3), ``Volume`` (0-100), ``Speed`` (-500..500), ``OutId`` (1-15 bytes, returned in the call
  receipt).

The answer's ``Code`` is ``OK`` with a ``CallId``; the error codes of the VMS "API error codes" page
(help.aliyun.com/document_detail/178344) decide whether a retry can help.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from daemon.notify.channels import aliyun_rpc
from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster, required_env
from daemon.notify.channels.page_text import fill, page_fields, shorten
from daemon.notify.provider_config import AliyunVoiceConfig

MAX_TTS_PARAM_CHARS = 249  # "模板变量整体长度必须小于 250 个字符"
MAX_OUT_ID_BYTES = 15
# Codes after which another call to this number cannot succeed: the person's next channel is tried at once.
# isv.BUSINESS_LIMIT_CONTROL (1 call/minute, 5/hour, 20/day per number) is not among them: it passes.
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",  # not a valid number
        "isv.DISPLAY_NUMBER_ILLEGAL",  # the shown number is not ours
        "isv.AMOUNT_NOT_ENOUGH",  # account balance insufficient
        "isv.AMOUNT_NOT_ENOUG",  # the same, as the 2017-05-25 error-code table spells it
        "isv.OUT_OF_SERVICE",  # service stopped (arrears)
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.TTS_TEMPLATE_ILLEGAL",
        "isv.TEMPLATE_ILLEGAL",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",  # a blacklisted word in the variables: the same text fails again
        "isp.RAM_PERMISSION_DENY",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
    }
)


class AliyunVoiceChannel:
    """Places one text-to-speech call through the configured approved template."""

    def __init__(
        self, poster: HttpPoster, config: AliyunVoiceConfig, environ: Mapping[str, str], utc_offset_h: float
    ) -> None:
        self._poster = poster
        self._config = config
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    def parameters(self, delivery: Delivery, nonce: str) -> dict[str, str]:
        """Every request parameter but ``Signature``."""
        config = self._config
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        share = MAX_TTS_PARAM_CHARS // max(len(config.tts_params), 1)
        variables = {name: shorten(fill(value, fields), share) for name, value in config.tts_params.items()}
        key_id = required_env(self._environ, config.access_key_id_env)
        parameters = {
            **aliyun_rpc.common_parameters("SingleCallByTts", key_id, config.region_id, nonce, delivery.now),
            "CalledNumber": fields["to"],
            "TtsCode": config.tts_code,
            "TtsParam": json.dumps(variables, ensure_ascii=False, separators=(",", ":")),
            "PlayTimes": str(config.play_times),
            "Volume": str(config.volume),
            "Speed": str(config.speed),
            "OutId": str(delivery.notification_id).encode()[:MAX_OUT_ID_BYTES].decode(),
        }
        if config.called_show_number:
            parameters["CalledShowNumber"] = config.called_show_number
        return parameters

    async def send(self, delivery: Delivery) -> None:
        """One SingleCallByTts call; accepted when ``Code`` is OK and a ``CallId`` came back."""
        secret = required_env(self._environ, self._config.access_key_secret_env)
        parameters = self.parameters(delivery, uuid.uuid4().hex)
        answer = await aliyun_rpc.call(
            self._poster, self._config.endpoint, parameters, secret, "aliyun vms", PERMANENT_CODES
        )
        if not answer.get("CallId"):
            raise DeliveryError(f"aliyun vms: no CallId in answer (RequestId {answer.get('RequestId')})")

    async def close(self) -> None:
        """The poster is shared."""
