"""Password hashes for the user-name-and-password login: scrypt (RFC 7914) from the standard library.

Stored as ``scrypt$N$r$p$salt$hash`` (salt and hash in URL-safe base64), so the cost can be raised later without
invalidating older hashes. N = 2^15, r = 8, p = 1 uses 32 MiB and about 0.1 s of one core per check: the OWASP
Password Storage Cheat Sheet's minimum for scrypt is N = 2^17 with r = 8, p = 1 for interactive logins on servers;
2^15 is chosen because a check blocks a worker thread of a monitoring service that must stay responsive, and failed
logins are rate-limited per address and per user (``failed_auth.py``), which is what makes guessing slow here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

N, R, P = 2**15, 8, 1
MAX_MEMORY = 64 * 1024 * 1024  # scrypt needs 128 * r * N bytes = 32 MiB; hashlib's default limit is exactly that


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=32)


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the stored format."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    encode = base64.urlsafe_b64encode
    return f"scrypt${N}${R}${P}${encode(salt).decode()}${encode(digest).decode()}"


@cache
def _unknown_user_hash() -> str:
    # Checked when the user does not exist or has no password, so that answer costs the same time as a wrong one.
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (None: no such user or no password set; still does the work)."""
    known = stored is not None
    scheme, n, r, p, salt, digest = (_unknown_user_hash() if stored is None else stored).split("$")
    if scheme != "scrypt":
        return False
    decode = base64.urlsafe_b64decode
    candidate = _scrypt(password, decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, decode(digest)) and known
