"""One signed Alibaba Cloud RPC call (SMS SendSms, VMS SingleCallByTts): POST the signed form, read the JSON answer,
turn a ``Code`` other than ``OK`` into a DeliveryError (permanent for the codes the caller names)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from daemon.notify.channels.aliyun_signing import signed_query
from daemon.notify.channels.base import DeliveryError, HttpPoster
from daemon.notify.channels.json_answer import json_answer


def common_parameters(action: str, access_key_id: str, region_id: str, nonce: str, now: float) -> dict[str, str]:
    """The parameters every RPC call carries (Dysmsapi and Dyvmsapi are both API version 2017-05-25), ``Signature``
    aside."""
    return {
        "AccessKeyId": access_key_id,
        "Action": action,
        "Format": "JSON",
        "RegionId": region_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce,
        "SignatureVersion": "1.0",
        "Timestamp": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": "2017-05-25",
    }


async def call(
    poster: HttpPoster,
    endpoint: str,
    parameters: Mapping[str, str],
    access_key_secret: str,
    provider: str,
    permanent_codes: Collection[str],
) -> dict[str, Any]:
    """The answer of an accepted call (``Code`` OK); ``provider`` names the API in errors ("aliyun sms")."""
    body = signed_query("POST", parameters, access_key_secret).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, text = await poster.request("POST", endpoint, body, headers)
    answer = json_answer(provider, status, text)
    code = str(answer.get("Code", ""))
    if code != "OK":
        message = f"{provider}: {code or 'HTTP ' + str(status)}: {answer.get('Message', '')}"
        raise DeliveryError(message, permanent=code in permanent_codes)
    return answer
