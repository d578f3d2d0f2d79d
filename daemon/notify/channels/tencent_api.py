"""One signed Tencent Cloud API 3.0 call and its common error envelope (``Response.Error``), shared by SMS and voice."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from daemon.notify.channels.base import DeliveryError, HttpPoster, required_env
from daemon.notify.channels.json_answer import json_answer
from daemon.notify.channels.tencent_signing import sign_request
from daemon.notify.provider_config import TencentCredentials

# Error codes (Tencent Cloud "Error Codes" pages of SMS and VMS) that no retry on this channel can fix.
PERMANENT_PREFIXES = (
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidParameterValue.IncorrectPhoneNumber",
    "InvalidParameterValue.TemplateParameterFormatError",
    "FailedOperation.InsufficientBalanceInSmsPackage",
    "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.TemplateIncorrectOrUnapproved",
    "FailedOperation.SignatureIncorrectOrUnapproved",
    "FailedOperation.InsufficientBalance",
    "LimitExceeded.PhoneNumberDailyLimit",
    "InvalidParameter",
)


def is_permanent(code: str) -> bool:
    """Whether a Tencent Cloud error code means retrying this number here is pointless."""
    return code.startswith(PERMANENT_PREFIXES)


async def call(
    poster: HttpPoster,
    *,
    endpoint: str,
    credentials: TencentCredentials,
    environ: Mapping[str, str],
    service: str,
    action: str,
    version: str,
    document: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    """POST the signed JSON document; returns ``Response``; raises DeliveryError for ``Response.Error``."""
    payload = json.dumps(document, ensure_ascii=False).encode()
    signed = sign_request(
        secret_id=required_env(environ, credentials.secret_id_env),
        secret_key=required_env(environ, credentials.secret_key_env),
        service=service,
        host=urllib.parse.urlsplit(endpoint).netloc,
        action=action,
        version=version,
        region=credentials.region,
        payload=payload,
        timestamp=int(now),
    )
    status, text = await poster.request("POST", endpoint, payload, signed.headers)
    answer = json_answer(f"tencent {service}", status, text)
    response = answer.get("Response")
    if not isinstance(response, dict):
        raise DeliveryError(f"tencent {service}: HTTP {status}, no Response: {text[:200]}")
    error = response.get("Error")
    if isinstance(error, dict):
        code = str(error.get("Code", ""))
        raise DeliveryError(f"tencent {service}: {code}: {error.get('Message', '')}", permanent=is_permanent(code))
    return response
