"""Alibaba Cloud RPC request signing, signature version 1.0 (HMAC-SHA1). Pure functions, no I/O.

Algorithm as Alibaba Cloud's "Signature mechanism" page for RPC APIs specifies (help.aliyun.com/document_detail/28839):

1. percent-encode every parameter name and value as UTF-8, leaving only ``A-Z a-z 0-9 - _ . ~`` literal (so a space is
   ``%20``, never ``+``, and ``*`` is ``%2A``);
2. sort the parameters by encoded name and join them as ``name=value`` with ``&`` (the canonicalized query string);
3. StringToSign = ``HTTPMethod + "&" + percentEncode("/") + "&" + percentEncode(canonicalized query string)``;
4. Signature = Base64(HMAC-SHA1(key = AccessKeySecret + "&", StringToSign)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping


def percent_encode(text: str) -> str:
    """RFC 3986 encoding with only the unreserved characters left literal."""
    return urllib.parse.quote(text, safe="-_.~")


def canonical_query(parameters: Mapping[str, str]) -> str:
    """Sorted, encoded ``name=value`` pairs joined by ``&`` (``Signature`` itself excluded)."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in parameters.items() if k != "Signature")
    return "&".join(f"{name}={value}" for name, value in pairs)


def string_to_sign(method: str, parameters: Mapping[str, str]) -> str:
    """The documented StringToSign for ``method`` (GET or POST)."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(parameters))}"


def rpc_signature(method: str, parameters: Mapping[str, str], access_key_secret: str) -> str:
    """Base64 HMAC-SHA1 of the StringToSign, keyed with the secret followed by ``&``."""
    digest = hmac.new(
        f"{access_key_secret}&".encode(), string_to_sign(method, parameters).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def signed_query(method: str, parameters: Mapping[str, str], access_key_secret: str) -> str:
    """The request's query string (or form body), ``Signature`` included."""
    signature = rpc_signature(method, parameters, access_key_secret)
    return canonical_query(parameters) + "&Signature=" + percent_encode(signature)
