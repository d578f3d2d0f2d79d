"""Open the database: URL normalisation, SQLite WAL, migrations to head."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from daemon.errors import HazwatchError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUrlError(HazwatchError):
    """The database URL names a backend hazwatch does not support."""


def async_url(url: str) -> str:
    """Pick the async driver for a plain URL: sqlite -> aiosqlite, postgresql -> asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the HTTP API read while the writer commits; NORMAL is durable across process crashes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for the URL, with SQLite tuned for one writer and many readers."""
    engine = create_async_engine(async_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration: the one revision no other names as its ``down_revision`` (None if ambiguous).

    Read from the migration files' text so a database already at head is checked without importing Alembic (it costs
    a short command such as ``hazwatch user add`` a third of its run time).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_revision(connection: Connection, revision: str) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    return versions == [revision]


def _alembic(connection: Connection, revision: str, *, down: bool) -> None:
    if not down and revision == "head":
        head = head_revision()
        if head is not None and _at_revision(connection, head):
            return
    from alembic import command  # noqa: PLC0415  # imported only when there is something to migrate
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


# Alembic's migration context is one per process: two migrations at once in one process (two drills started
# together) would trip over each other, so they take turns.
_MIGRATION_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _migration_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _MIGRATION_LOCKS.get(loop)
    if lock is None:
        lock = _MIGRATION_LOCKS[loop] = asyncio.Lock()
    return lock


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to an Alembic revision (the newest by default)."""
    async with _migration_lock(), engine.begin() as connection:
        await connection.run_sync(_alembic, revision, down=False)
    log.info("database schema is at %s (%s)", revision, engine.url.render_as_string(hide_password=True))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema back down to an Alembic revision (data is converted where the migrations can)."""
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, revision, down=True)
    log.info("database schema is at %s (%s)", revision, engine.url.render_as_string(hide_password=True))
