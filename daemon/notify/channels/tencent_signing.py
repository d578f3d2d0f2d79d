"""Tencent Cloud API 3.0 request signing, TC3-HMAC-SHA256. Pure functions, no I/O.

Algorithm as Tencent Cloud's "Signature v3" page specifies (cloud.tencent.com/document/api/213/30654):

CanonicalRequest = method + "\\n" + "/" + "\\n" + query + "\\n" + canonical headers + "\\n" + signed headers + "\\n" +
hex(sha256(payload)); the canonical headers are ``name:value\\n`` lines in lower case, sorted, at least content-type
and host. StringToSign = "TC3-HMAC-SHA256\\n" + timestamp + "\\n" + date/service/tc3_request + "\\n" +
hex(sha256(CanonicalRequest)), the date in UTC. The key is derived as HMAC-SHA256("TC3" + SecretKey, date), then
with the service, then with "tc3_request"; the signature is the hex HMAC-SHA256 of StringToSign with that key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "TC3-HMAC-SHA256"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    """The credential scope's date: the UTC date of the timestamp (never local time)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


def canonical_request(headers: Mapping[str, str], payload: bytes) -> tuple[str, str]:
    """The CanonicalRequest of a POST to ``/`` with these signed headers, and the signed header list."""
    lowered = sorted((name.lower().strip(), value.strip().lower()) for name, value in headers.items())
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in lowered)
    signed_headers = ";".join(name for name, _ in lowered)
    request = "\n".join(["POST", "/", "", canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest()])
    return request, signed_headers


def string_to_sign(request: str, timestamp: int, service: str) -> str:
    """The StringToSign for a CanonicalRequest."""
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"


def signature(secret_key: str, to_sign: str, timestamp: int, service: str) -> str:
    """Hex HMAC-SHA256 of the StringToSign with the date/service-derived key."""
    secret_date = _hmac(f"TC3{secret_key}".encode(), utc_date(timestamp))
    secret_signing = _hmac(_hmac(secret_date, service), "tc3_request")
    return hmac.new(secret_signing, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Headers to send with the payload."""

    headers: dict[str, str]


def sign_request(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    action: str,
    version: str,
    region: str,
    payload: bytes,
    timestamp: int,
) -> SignedRequest:
    """Every header a TC3-signed JSON POST carries (content-type and host signed)."""
    signed = {"Content-Type": JSON_CONTENT_TYPE, "Host": host}
    request, signed_headers = canonical_request(signed, payload)
    to_sign = string_to_sign(request, timestamp, service)
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    authorization = (
        f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, "
        f"Signature={signature(secret_key, to_sign, timestamp, service)}"
    )
    return SignedRequest(
        {
            **signed,
            "Authorization": authorization,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": version,
            "X-TC-Region": region,
        }
    )
