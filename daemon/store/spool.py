"""The local spool: rows the database did not take before a shutdown, kept in a file until it takes them.

A SIGTERM must end the service within a bounded time whatever the database does. What the writer still holds then
is written here (atomically: a temporary file, fsync, rename), and written to the database first thing at the next
start. The messages those rows came from were never acknowledged, so the broker delivers them again as well; the
pipeline drops those copies (``SeenReadings`` is filled from the database after the spool went in).
The file is our own data, read only by this service, so it is pickled.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

from daemon.store.schema import metadata
from daemon.store.writer import WriteGroup
from detectors.readings import ReadingBatch

log = logging.getLogger(__name__)


def write_spool(path: Path, group: WriteGroup, max_bytes: int) -> bool:
    """Save ``group`` (its acknowledgements are not kept: unacknowledged messages come again); False if too big."""
    existing = read_spool(path, remove=False)
    if existing is not None:  # an earlier spool the database never took: keep both, in order
        group = existing.merged_with(group)
    data = pickle.dumps(_plain(group), protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > max_bytes:
        log.error(
            "the spool would take %d bytes > limit %d: not written; the broker still holds the unacknowledged "
            "messages, but rows from timers and operators since the database failed are lost",
            len(data),
            max_bytes,
        )
        return False
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    log.warning("database unavailable at shutdown: %d bytes of unwritten rows spooled to %s", len(data), path)
    return True


def read_spool(path: Path, *, remove: bool = True) -> WriteGroup | None:
    """The spooled rows, or None; ``remove`` deletes the file (call once they are queued for the database)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        group = _group(pickle.loads(data))  # noqa: S301 - our own file, written by write_spool
    except Exception:
        broken = path.with_name(path.name + ".unreadable")
        path.replace(broken)
        log.exception("spool %s cannot be read; moved aside to %s", path, broken)
        return None
    if remove:
        path.unlink()
    return group


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
