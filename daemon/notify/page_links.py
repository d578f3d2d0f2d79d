"""Acknowledgement links and reply codes: signed, single-use, expiring, bound to one person's page.

A token is ``<nonce>.<mac>``: the nonce is random, the MAC is HMAC-SHA256 over nonce, page, person and expiry with
the service's link key, so a token cannot be forged or moved to another person or page. Only its SHA-256 is stored;
the row records when and how it was used, so it works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)
LINK_KEY_ENV = "HAZWATCH_ACK_LINK_KEY"
CODE_DIGITS = 4


def link_key(environ: Mapping[str, str], variable: str = LINK_KEY_ENV) -> bytes:
    """The key from the environment; without it a random one (links then stop working at a restart)."""
    value = environ.get(variable, "")
    if value:
        return value.encode()
    log.warning("%s is not set: acknowledgement links will not survive a restart", variable)
    return secrets.token_bytes(32)


def _mac(key: bytes, nonce: str, page_id: str, person_id: str, expires_at: float) -> str:
    message = f"{nonce}|{page_id}|{person_id}|{expires_at:.0f}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()[:12]).decode().rstrip("=")


def token_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A new link: the token (only in the message), its stored hash and the reply code."""

    token: str
    token_hash: str
    code: str


def issue(key: bytes, page_id: str, person_id: str, expires_at: float) -> IssuedLink:
    """A fresh token and reply code for one person's page."""
    nonce = secrets.token_urlsafe(9)
    token = f"{nonce}.{_mac(key, nonce, page_id, person_id, expires_at)}"
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    return IssuedLink(token, token_hash(token), code)


def signature_matches(key: bytes, token: str, page_id: str, person_id: str, expires_at: float) -> bool:
    """Whether the token was signed for this page, person and expiry."""
    nonce, _, mac = token.partition(".")
    return bool(nonce) and hmac.compare_digest(mac, _mac(key, nonce, page_id, person_id, expires_at))
