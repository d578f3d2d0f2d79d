"""The local spool: rows the database did not take before a shutdown, kept in a file until it takes them.

A SIGTERM must end the service within a bounded time whatever the database does. What the writer still holds then
is written here (atomically: a temporary file, fsync, rename), and written to the database first thing at the next
start. The messages those rows came from were never acknowledged, so the broker delivers them again as well; the
pipeline drops those copies (``SeenReadings`` is filled from the database after the spool went in).
The file is our own data, read only by this service, so it is pickled.

The file is bounded (``[database] spool_max_bytes``). At the bound nothing is dropped silently, and what goes first
is what can come back: the readings. Their messages were never acknowledged, so the broker delivers them again (MQTT
QoS 1, persistent session); the rows only this process holds (alarms, incidents, pages, checkpoints) are kept. If
even those exceed the bound, only a record of what was dropped is written. Either way the spool says how many
readings and rows it left out; the next start logs them and counts them in ``hazwatch_spool_readings_left_out_total``
and ``hazwatch_spool_rows_lost_total``.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from daemon.store.schema import metadata
from daemon.store.writer import WriteGroup
from detectors.readings import ReadingBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Spooled:
    """A spool's rows and what the bound left out of it (over every shutdown since the database last took one)."""

    group: WriteGroup
    readings_left_out: int = 0  # readings not spooled: the broker delivers their unacknowledged messages again
    rows_lost: int = 0  # other rows not spooled: only this process had them


def write_spool(path: Path, group: WriteGroup, max_bytes: int) -> Spooled:
    """Save ``group`` (its acknowledgements are not kept: unacknowledged messages come again) within ``max_bytes``;
    returns what was written and what the bound left out."""
    existing = read_spool(path, remove=False)
    spooled = Spooled(group)
    if existing is not None:  # an earlier spool the database never took: keep both, in order
        spooled = replace(existing, group=existing.group.merged_with(group))
    data = _dumps(spooled)
    if len(data) > max_bytes:  # the readings go first: the broker still has them
        readings = sum(len(batch.sensor) for batch in spooled.group.readings)
        spooled = replace(
            spooled,
            group=replace(spooled.group, readings=[]),
            readings_left_out=spooled.readings_left_out + readings,
        )
        data = _dumps(spooled)
    if len(data) > max_bytes:  # then only the record of what is lost
        spooled = Spooled(WriteGroup(), spooled.readings_left_out, spooled.rows_lost + _row_count(spooled.group))
        data = _dumps(spooled)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    if spooled.readings_left_out or spooled.rows_lost:
        log.error(
            "database unavailable at shutdown and the spool is bounded at %d bytes: %d readings left out (the broker "
            "delivers their unacknowledged MQTT messages again; readings from other inputs are lost) and %d other "
            "rows lost; %d bytes spooled to %s",
            max_bytes,
            spooled.readings_left_out,
            spooled.rows_lost,
            len(data),
            path,
        )
    else:
        log.warning("database unavailable at shutdown: %d bytes of unwritten rows spooled to %s", len(data), path)
    return spooled


def read_spool(path: Path, *, remove: bool = True) -> Spooled | None:
    """The spooled rows, or None; ``remove`` deletes the file (call once they are queued for the database)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        plain = pickle.loads(data)  # noqa: S301 - our own file, written by write_spool
        spooled = Spooled(_group(plain), plain.get("readings_left_out", 0), plain.get("rows_lost", 0))
    except Exception:
        broken = path.with_name(path.name + ".unreadable")
        path.replace(broken)
        log.exception("spool %s cannot be read; moved aside to %s", path, broken)
        return None
    if remove:
        path.unlink()
    return spooled


def _row_count(group: WriteGroup) -> int:
    """Rows other than readings."""
    inserted = sum(len(rows) for rows in (*group.inserts.values(), *group.insert_once.values()))
    return inserted + len(group.updates) + len(group.device_status) + len(group.checkpoints)


def _dumps(spooled: Spooled) -> bytes:
    plain = _plain(spooled.group)
    plain["readings_left_out"] = spooled.readings_left_out
    plain["rows_lost"] = spooled.rows_lost
    return pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)


def _plain(group: WriteGroup) -> dict[str, Any]:
    # Tables by name and readings as arrays: the file does not depend on SQLAlchemy objects.
    return {
        "readings": [(b.sensor, b.time, b.value, b.flags) for b in group.readings],
        "inserts": {table.name: rows for table, rows in group.inserts.items()},
        "insert_once": {table.name: rows for table, rows in group.insert_once.items()},
        "updates": [(table.name, row_id, changes) for table, row_id, changes in group.updates],
        "device_status": group.device_status,
        "checkpoints": group.checkpoints,
    }


def _group(plain: dict[str, Any]) -> WriteGroup:
    tables = metadata.tables
    return WriteGroup(
        readings=[ReadingBatch(*arrays) for arrays in plain["readings"]],
        inserts={tables[name]: rows for name, rows in plain["inserts"].items()},
        insert_once={tables[name]: rows for name, rows in plain["insert_once"].items()},
        updates=[(tables[name], row_id, changes) for name, row_id, changes in plain["updates"]],
        device_status=plain["device_status"],
        checkpoints=plain["checkpoints"],
    )
