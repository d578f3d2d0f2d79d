"""Fixtures of the console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.engine import create_engine, migrate


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite file in a temp dir."""
    db = create_engine(f"sqlite:///{tmp_path / 'hazwatch.db'}")
    await migrate(db)
    yield db
    await db.dispose()
