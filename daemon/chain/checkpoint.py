"""Checkpoints: the whole in-memory state (detectors, rules, alarm book, incidents) saved as one unit.

The state is pickled: it is our own objects, written and read only by this service through its
own database, and one pickle keeps detectors and engines consistent with each other. A
fingerprint of the site, rules, plan and roster guards against loading state into a changed
configuration, where sensor numbers or rule ids may mean something else.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import checkpoints

log = logging.getLogger(__name__)
LIVE = "live"
# Bump when the pickled state's shape changes: an older checkpoint is then ignored, not half-loaded.
STATE_VERSION = "2"


def fingerprint(models: Iterable[BaseModel]) -> str:
    """A hash of the configuration the state belongs to."""
    digest = hashlib.sha256(STATE_VERSION.encode())
    for model in models:
        digest.update(model.model_dump_json().encode())
    return digest.hexdigest()


def dumps(state: Any) -> bytes:
    """Serialise the state."""
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


async def load(engine: AsyncEngine, name: str, expected_fingerprint: str) -> Any | None:
    """The last checkpoint of this configuration, or None (first start, or the configuration changed)."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(checkpoints).where(checkpoints.c.name == name))).first()
    if row is None:
        return None
    if row.fingerprint != expected_fingerprint:
        log.warning("site, rules or plan changed since the last checkpoint: starting with fresh alarm state")
        return None
    try:
        return pickle.loads(row.data)  # noqa: S301 - our own state, from our own database
    except Exception:
        log.exception("checkpoint %r cannot be read (written by another version?): starting fresh", name)
        return None
