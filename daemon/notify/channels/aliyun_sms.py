"""SMS through Alibaba Cloud SMS: SendSms of Dysmsapi 2017-05-25, an RPC API signed with signature v1.

The request is a form POST of the common parameters (AccessKeyId, Action, Format, RegionId, SignatureMethod,
SignatureNonce, SignatureVersion, Timestamp, Version) and SendSms's own (PhoneNumbers, SignName, TemplateCode,
TemplateParam, OutId), as the SendSms API reference lists them. The answer's ``Code`` is ``OK`` on success; the
error codes of the SMS error-code page decide whether a retry can help.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from daemon.notify.channels import aliyun_rpc
from daemon.notify.channels.base import Delivery, HttpPoster, required_env
from daemon.notify.channels.page_text import fill, page_fields
from daemon.notify.provider_config import AliyunSmsConfig

# Codes after which another attempt to this number cannot succeed: the person's next channel is tried at once.
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",  # not a valid mobile number
        "isv.AMOUNT_NOT_ENOUGH",  # account balance insufficient
        "isv.OUT_OF_SERVICE",  # service stopped (arrears)
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.DAY_LIMIT_CONTROL",  # daily limit of this number reached: not before tomorrow
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
    }
)


class AliyunSmsChannel:
    """Sends the page text through the configured approved template."""

    def __init__(self, poster: HttpPoster, config: AliyunSmsConfig, environ: Mapping[str, str], utc_offset_h: float):
        self._poster = poster
        self._config = config
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    def parameters(self, delivery: Delivery, nonce: str) -> dict[str, str]:
        """Every request parameter but ``Signature``."""
        config = self._config
        fields = page_fields(delivery, self._utc_offset_h, self._environ)
        template = {name: fill(value, fields) for name, value in config.template_params.items()}
        key_id = required_env(self._environ, config.access_key_id_env)
        return {
            **aliyun_rpc.common_parameters("SendSms", key_id, config.region_id, nonce, delivery.now),
            "PhoneNumbers": fields["to"],
            "SignName": config.sign_name,
            "TemplateCode": config.template_code,
            "TemplateParam": json.dumps(template, ensure_ascii=False, separators=(",", ":")),
            "OutId": str(delivery.notification_id),
        }

    async def send(self, delivery: Delivery) -> None:
        """One SendSms call; ``Code`` other than OK is an error, permanent for the codes above."""
        secret = required_env(self._environ, self._config.access_key_secret_env)
        parameters = self.parameters(delivery, uuid.uuid4().hex)
        await aliyun_rpc.call(self._poster, self._config.endpoint, parameters, secret, "aliyun sms", PERMANENT_CODES)

    async def close(self) -> None:
        """The poster is shared."""
