"""Users, roles and bearer tokens. Tokens are random, shown once, and stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.review.workflow import REVIEW_ROLES
from daemon.store.schema import api_tokens, users
from daemon.web.api.errors import Conflict, Forbidden, NotFound, Unauthorized

# Each role may do what the roles before it may.
ROLES = ("viewer", "operator", "supervisor", "admin")
# The lowest role allowed each action.
REQUIRED_ROLE = {
    "read": "viewer",
    "acknowledge": "operator",
    "comment": "operator",
    "tick_checklist": "operator",
    "reset": "operator",
    "shelve": "supervisor",
    "unshelve": "supervisor",
    "sensor_service": "supervisor",
    "confirm_level": "supervisor",
    "close_incident": "supervisor",
}
TOKEN_PREFIX = "hzw_"  # noqa: S105  # a recognisable prefix (secret scanners), not a secret


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated caller."""

    name: str
    role: str


def hash_token(token: str) -> str:
    """SHA-256 hex of a bearer token (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def may(role: str, action: str) -> bool:
    """Whether ``role`` may perform ``action``."""
    if role in REVIEW_ROLES:  # data reviewers read, and review (checked by the review workflow)
        return action == "read"
    return role in ROLES and ROLES.index(role) >= ROLES.index(REQUIRED_ROLE[action])


def require(user: User, action: str) -> None:
    """Raise Forbidden unless the user's role allows the action."""
    if not may(user.role, action):
        raise Forbidden(f"role {user.role!r} may not {action.replace('_', ' ')} (needs {REQUIRED_ROLE[action]})")


async def authenticate(engine: AsyncEngine, token: str, now: float) -> User:
    """The user owning a valid, unrevoked token of an enabled account; Unauthorized otherwise."""
    query = (
        select(api_tokens.c.id, users.c.name, users.c.role)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(
            api_tokens.c.token_hash == hash_token(token),
            api_tokens.c.revoked.is_(False),
            users.c.disabled.is_(False),
        )
    )
    async with engine.begin() as connection:
        row = (await connection.execute(query)).first()
        if row is None:
            raise Unauthorized("invalid or revoked token")
        await connection.execute(update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now))
    return User(row.name, row.role)


async def add_user(engine: AsyncEngine, name: str, role: str, now: float) -> str:
    """Create a user with one token; returns the token (shown once, never stored in clear)."""
    if role not in ROLES and role not in REVIEW_ROLES:
        raise Conflict(f"unknown role {role!r}; choose one of {', '.join((*ROLES, *REVIEW_ROLES))}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                insert(users).values(name=name, role=role, created_at=now, disabled=False)
            )
            user_id = result.inserted_primary_key[0]  # type: ignore[index]  # one row inserted
            await connection.execute(
                insert(api_tokens).values(user_id=user_id, token_hash=hash_token(token), created_at=now, revoked=False)
            )
    except IntegrityError as exc:
        raise Conflict(f"user {name!r} already exists") from exc
    return token


async def list_users(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every user with the number of active tokens."""
    async with engine.connect() as connection:
        people = [dict(r) for r in (await connection.execute(select(users).order_by(users.c.name))).mappings()]
        tokens = (await connection.execute(select(api_tokens.c.user_id, api_tokens.c.revoked))).all()
    for person in people:
        person["active_tokens"] = sum(1 for t in tokens if t.user_id == person["id"] and not t.revoked)
    return people


async def revoke_user(engine: AsyncEngine, name: str) -> int:
    """Disable a user and revoke all their tokens; returns how many tokens were revoked."""
    async with engine.begin() as connection:
        user_id = (await connection.execute(select(users.c.id).where(users.c.name == name))).scalar()
        if user_id is None:
            raise NotFound(f"no user {name!r}")
        await connection.execute(update(users).where(users.c.id == user_id).values(disabled=True))
        result = await connection.execute(
            update(api_tokens)
            .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked.is_(False))
            .values(revoked=True)
        )
    return int(result.rowcount)
