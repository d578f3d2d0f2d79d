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
import io
import logging
import pickle
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.pipeline import Pipeline
from daemon.store.rows import CheckpointRow
from daemon.store.schema import checkpoints
from daemon.store.writer import StoreWriter

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


class Configuration:
    """The configuration a state belongs to: its fingerprint, and its objects, which a checkpoint names, not copies.

    The state refers to the site's sensors, the rules, the plan, the roster, the sensor table and the detectors'
    configuration arrays. Pickling them copied the whole site into every checkpoint (tens of thousands of pydantic
    objects: half a second of the event loop per checkpoint at 10,000 sensors), although a checkpoint is only ever
    loaded into the configuration with the same fingerprint. So each of those objects is pickled as its number in a
    walk of the configuration (with its type, checked at load), and loading puts the running configuration's own
    objects in their place.
    """

    def __init__(self, models: Sequence[BaseModel], objects: Sequence[object] = ()) -> None:
        self.fingerprint = fingerprint(models)
        self._objects: list[object] = []  # held, so the ids below stay theirs
        self._numbers: dict[int, tuple[int, str]] = {}
        todo: list[object] = [*reversed(objects), *reversed(models)]
        while todo:
            obj = todo.pop()
            if id(obj) in self._numbers or isinstance(obj, _ATOMS):
                continue
            self._numbers[id(obj)] = (len(self._objects), type(obj).__qualname__)
            self._objects.append(obj)
            todo.extend(reversed(_parts(obj)))

    def dumps(self, state: Any) -> bytes:
        """Serialise the state, naming the configuration's objects."""
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        numbers = self._numbers
        pickler.persistent_id = lambda obj: numbers.get(id(obj))  # type: ignore[method-assign]
        pickler.dump(state)
        return out.getvalue()

    def loads(self, data: bytes) -> Any:
        """Read a state saved by ``dumps`` of an equal configuration (or by plain pickle, before there were names)."""
        unpickler = _Unpickler(io.BytesIO(data))
        unpickler.persistent_load = self._object  # type: ignore[method-assign]
        return unpickler.load()

    def _object(self, name: tuple[int, str]) -> object:
        number, type_name = name
        obj = self._objects[number] if 0 <= number < len(self._objects) else None
        if type(obj).__qualname__ != type_name:
            raise pickle.UnpicklingError(f"configuration object {number} is not a {type_name}")
        return obj


# Classes that moved since checkpoints naming them were written: (old module, class) -> the module it is in now.
MOVED: dict[tuple[str, str], str] = {
    ("daemon.chain.alarm_flow", "FlowState"): "daemon.chain.flow_state",
    ("daemon.chain.alarm_flow", "Episode"): "daemon.chain.flow_state",
    ("rules.flood", "FloodDetector"): "rules.book",
}


class _Unpickler(pickle.Unpickler):
    """Finds a class that moved (``MOVED``) where it lives now, so older checkpoints still load."""

    def find_class(self, module: str, name: str, /) -> Any:
        return super().find_class(MOVED.get((module, name), module), name)


_ATOMS = (str, bytes, int, float, bool, type(None), type, np.generic)


def _parts(obj: object) -> list[object]:
    """The objects ``obj`` holds, in a fixed order (not sets: their order changes with the process's string hash)."""
    if isinstance(obj, BaseModel):
        return list(obj.__dict__.values())
    if dataclasses.is_dataclass(obj):
        return [getattr(obj, f.name) for f in dataclasses.fields(obj) if hasattr(obj, f.name)]
    if isinstance(obj, list | tuple):
        return list(obj)
    if isinstance(obj, dict):
        return list(obj.values())
    return []


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


async def load(engine: AsyncEngine, name: str, configuration: Configuration) -> Any | None:
    """The last checkpoint of this configuration, or None (first start, or the configuration changed)."""
    async with engine.connect() as connection:
        row = (await connection.execute(select(checkpoints).where(checkpoints.c.name == name))).first()
    if row is None:
        return None
    if row.fingerprint != configuration.fingerprint:
        log.warning("site, rules or plan changed since the last checkpoint: starting with fresh alarm state")
        return None
    try:
        state = configuration.loads(row.data)
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


def save(pipeline: Pipeline, configuration: Configuration, writer: StoreWriter, now: float) -> None:
    """Queue a checkpoint of the pipeline's state, committed together with all rows queued before it."""
    row = checkpoint_row(pipeline, configuration, now)
    writer.save_checkpoint(LIVE, now, configuration.fingerprint, row["data"])


def checkpoint_row(pipeline: Pipeline, configuration: Configuration, now: float) -> CheckpointRow:
    """The ``checkpoints`` row of the pipeline's state right now (for a write group about to commit)."""
    data = configuration.dumps((pipeline.detector, pipeline.flow.state))
    return {"name": LIVE, "time": now, "fingerprint": configuration.fingerprint, "data": data}
