"""Checkpoints: the whole in-memory state (detectors, rules, alarm book, incidents) saved as one unit.

The state is pickled: it is our own objects, written and read only by this service through its
own database, and one pickle keeps detectors and engines consistent with each other. A
fingerprint of the site, rules, plan and roster guards against loading state into a changed
configuration, where sensor numbers or rule ids may mean something else.

Unpickling state saved by an older version into classes that gained a field gives objects without it, which fail
only later, at the first reading that needs it (a detector that learnt a rain-rate field would stop judging gamma
after an upgrade). So every dataclass object read is checked for each field its class declares now; one missing means
"written by another version": the service starts with fresh state and says which fields were missing.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import pickle
from collections.abc import Iterable
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.schema import checkpoints

log = logging.getLogger(__name__)
LIVE = "live"
# Bump when the pickled state changes in a way its fields do not show (a field's meaning or units, say); a field
# added is found by ``missing_fields``.
STATE_VERSION = "2"
_OUR_PACKAGES = ("daemon.", "detectors.", "rules.", "plans.")


def fingerprint(models: Iterable[BaseModel]) -> str:
    """A hash of the configuration the state belongs to."""
    digest = hashlib.sha256(STATE_VERSION.encode())
    for model in models:
        digest.update(model.model_dump_json().encode())
    return digest.hexdigest()


def dumps(state: Any) -> bytes:
    """Serialise the state."""
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def missing_fields(state: Any) -> list[str]:
    """``module.Class.field`` for each field that a dataclass object of ours in ``state`` lacks although its class
    declares it now (sorted, each once)."""
    missing: set[str] = set()
    seen: set[int] = set()
    todo: list[Any] = [state]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None) | np.ndarray | np.generic):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | collections.deque):
            todo.extend(obj)
        elif type(obj).__module__.startswith(_OUR_PACKAGES):
            cls = type(obj)
            if dataclasses.is_dataclass(obj):
                for field in dataclasses.fields(obj):
                    if not hasattr(obj, field.name):
                        missing.add(f"{cls.__module__}.{cls.__qualname__}.{field.name}")
            todo.extend(vars(obj).values() if hasattr(obj, "__dict__") else ())
            todo.extend(getattr(obj, slot) for k in cls.__mro__ for slot in _slots(k) if hasattr(obj, slot))
    return sorted(missing)


def _slots(cls: type) -> tuple[str, ...]:
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


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
        state = pickle.loads(row.data)  # noqa: S301 - our own state, from our own database
    except Exception:
        log.exception("checkpoint %r cannot be read (written by another version?): starting fresh", name)
        return None
    missing = missing_fields(state)
    if missing:
        log.warning(
            "checkpoint %r was written by another version (its objects lack %s): starting with fresh alarm state",
            name,
            ", ".join(missing)[:1000],
        )
        return None
    return state
