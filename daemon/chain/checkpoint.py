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
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.pipeline import Pipeline
from daemon.clock import Clock
from daemon.store.rows import CheckpointRow
from daemon.store.schema import alarm_events, alarms, checkpoints, incident_events, incidents, notifications
from daemon.store.writer import StoreWriter, WriteGroup

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


# Rows of these tables change what the alarm state means: the state is checkpointed with them (a raised alarm or
# an acknowledgement survives a crash as it is, not as it was at the last periodic checkpoint).
ALARM_STATE_TABLES = (alarms, alarm_events, incidents, incident_events)
# A state that pickles this fast (a park-sized site: about a millisecond) commits with every group that changes an
# alarm or incident. A bigger one (6-13 ms at 10,000 sensors, 15 MB) would make an alarm flood write it with every
# commit; it keeps the rate limit below, and a crash within that window closes and re-raises those alarms.
DURABLE_CHECKPOINT_MAX_S = 0.005


def _changes_alarm_state(group: WriteGroup) -> bool:
    return any(table in group.inserts for table in ALARM_STATE_TABLES) or any(
        table is alarms or table is incidents for table, _, _ in group.updates
    )


class StateCheckpoints:
    """When the live chain's state goes into a commit: with the rows that change alarms, after a condition changed,
    at the alarm timer's ticks, at a reload and at a stop (the writer calls ``before_commit`` for every group)."""

    def __init__(
        self, pipeline: Pipeline, configuration: Configuration, writer: StoreWriter, clock: Clock, interval_s: float
    ) -> None:
        self.pipeline = pipeline
        self.configuration = configuration  # replaced at a reload
        self._writer = writer
        self._clock = clock
        self._interval_s = interval_s  # at least one checkpoint commits this often
        self._checkpointed_changes = -1
        self.dirty = False  # alarm rows committed without the state: checkpoint at the next timer tick
        self._last_state_checkpoint = float("-inf")  # time.perf_counter() of the last checkpoint with alarm rows
        self._checkpoint_cost_s = 0.0  # CPU the last one took (pickling the whole state)
        self._timer_checkpoint = False  # the queued checkpoint is the timer's: a commit carrying pages may drop it

    def before_commit(self, group: WriteGroup) -> None:
        """Checkpoint the state with a group that changes alarms or incidents, or after a condition changed.

        Pickling the state costs about a millisecond on a small site and 6-17 ms on a 10,000-sensor one (15 MB of
        per-sensor arrays: the configuration is named, not copied, see ``Configuration``). A state cheaper
        than ``DURABLE_CHECKPOINT_MAX_S`` commits with every group that changes an alarm or incident; otherwise it
        runs at most every max(1 s, 20x its own cost) (at most 5 % of the loop), rows committed in between are covered
        by the next timer tick, and a crash inside that window still closes and re-raises those alarms.
        """
        changes = self.pipeline.flow.condition_changes
        if _changes_alarm_state(group) and self._checkpoint_cost_s <= DURABLE_CHECKPOINT_MAX_S:
            # Rows that raise, change or end an alarm or incident commit with a state that knows them, so a crash
            # right after (a page in flight) does not close the alarm at restart and raise it again with new pages.
            # A state queued before (the timer's, a stop's) is older than these rows: a fresh one replaces it.
            self._timer_checkpoint = False
            self._queue_checkpoint(group, changes)
            return
        if group.checkpoints:
            by_timer, self._timer_checkpoint = self._timer_checkpoint, False
            if not (by_timer and group.insert_once.get(notifications) and self._checkpoint_recent()):
                self._after_checkpoint(changes)
                return
            # A page does not wait for the write of the pickled state the timer queued just before it (hundreds of
            # kB): the timer takes the state again at its next tick, with the page's alarm in it. A checkpoint of a
            # reload or a stop is never dropped, and one commits at least every checkpoint interval.
            group.checkpoints.clear()
            self.dirty = True
            return
        if changes == self._checkpointed_changes and not _changes_alarm_state(group):
            return
        if group.insert_once.get(notifications):
            # A commit that carries pages does not also carry the pickled state (15 MB at 10,000 sensors): the page
            # goes out after this commit. The state follows at the next timer tick, the same window as the rate
            # limit below.
            self.dirty = True
            return
        if time.perf_counter() - self._last_state_checkpoint < max(1.0, 20 * self._checkpoint_cost_s):
            self.dirty = True
            return
        self._queue_checkpoint(group, changes)

    def _queue_checkpoint(self, group: WriteGroup, changes: int) -> None:
        """Pickle the state now and commit it with ``group`` (replacing a checkpoint queued there before)."""
        # The cost is this thread's CPU, not wall time: on a loaded machine waiting for a core would make a
        # park-sized state look expensive and leave it out of the commits that change alarms.
        started = time.thread_time()
        row = checkpoint_row(self.pipeline, self.configuration, self._clock.now())
        self._checkpoint_cost_s = time.thread_time() - started
        group.checkpoints[row["name"]] = row
        self._after_checkpoint(changes)

    def _checkpoint_recent(self) -> bool:
        """The state was checkpointed less than ``alarms.checkpoint_interval_s`` ago."""
        return time.perf_counter() - self._last_state_checkpoint < self._interval_s

    def save(self, now: float, *, by_timer: bool = False) -> None:
        """Queue a checkpoint of the state (``by_timer``: a commit carrying pages may leave it to the next tick)."""
        save(self.pipeline, self.configuration, self._writer, now)
        self._timer_checkpoint = by_timer

    def _after_checkpoint(self, changes: int) -> None:
        self._checkpointed_changes = changes
        self.dirty = False
        self._last_state_checkpoint = time.perf_counter()
