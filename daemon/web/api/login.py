"""Log in with a user name and password, for a new bearer token; failed attempts are limited per address and per user.

Bearer tokens are random and name no user, so a wrong token can only be limited per address. A password login names
its user, so it is limited per user as well: an attacker spreading guesses over many addresses still gets at most
``max_failures`` per user and window. The user key is the name as given (case-folded), whether or not the user
exists, so the limit does not tell which names exist. A locked user can still use the tokens it has.
"""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import api_tokens, users
from daemon.web.api.auth import TOKEN_PREFIX, User, hash_token
from daemon.web.api.errors import InvalidRequest, NotFound, Unauthorized
from daemon.web.api.failed_auth import FailedAuthLimiter
from daemon.web.api.passwords import hash_password, verify_password

MIN_PASSWORD_LENGTH = 12  # NIST SP 800-63B 3.1.1.2 asks at least 8 (15 when it is the only factor); 12 is a middle


async def password_login(
    engine: AsyncEngine,
    per_address: FailedAuthLimiter,
    per_user: FailedAuthLimiter,
    address: str,
    name: str,
    password: str,
    now: float,
) -> tuple[str, User]:
    """A new token for an enabled user whose password matches; Unauthorized (counted) or TooManyRequests otherwise."""
    user_key = name.casefold()
    per_address.check(address, now)
    per_user.check(user_key, now)
    query = select(users.c.id, users.c.name, users.c.role, users.c.password_hash).where(
        users.c.name == name, users.c.disabled.is_(False)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    stored = None if row is None else row.password_hash
    if row is None or not await asyncio.to_thread(verify_password, password, stored):  # scrypt: off the loop
        per_address.failed(address, now)
        per_user.failed(user_key, now)
        raise Unauthorized("wrong user name or password")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with engine.begin() as connection:
        await connection.execute(
            insert(api_tokens).values(user_id=row.id, token_hash=hash_token(token), created_at=now, revoked=False)
        )
    return token, User(row.name, row.role)


async def set_password(engine: AsyncEngine, name: str, password: str) -> None:
    """Give user ``name`` a password (replacing any); NotFound if there is no such user."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    hashed = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as connection:
        result = await connection.execute(update(users).where(users.c.name == name).values(password_hash=hashed))
    if not result.rowcount:
        raise NotFound(f"no user {name!r}")
