"""One writer task owns all database writes: groups them into few transactions and retries on failure."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Table, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.metrics.instruments import Metrics
from daemon.store.reading_chunks import encode_chunks
from daemon.store.rows import (
    AlarmEventRow,
    AlarmRow,
    AlarmUpdate,
    ChecklistItemRow,
    ChecklistItemUpdate,
    CheckpointRow,
    DeviceStatusRow,
    IncidentEventRow,
    IncidentRow,
    IncidentUpdate,
    NotificationRow,
    PageLinkRow,
)
from daemon.store.schema import (
    alarm_events,
    alarms,
    checklist_items,
    checkpoints,
    device_status,
    incident_events,
    incidents,
    notifications,
    page_links,
    quarantine,
    reading_chunks,
)
from detectors.readings import ReadingBatch

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteGroup:
    """Rows to write in one transaction, collected between two commits.

    Inserts run before updates, so a row inserted and changed in the same group ends up changed.
    """

    readings: list[ReadingBatch] = field(default_factory=list)  # packed into chunks when written
    inserts: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    insert_once: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)  # skip rows whose key exists
    # (table, id or outbox idempotency key, changes): an outbox row sent from memory has no id yet
    updates: list[tuple[Table, int | str, dict[str, Any]]] = field(default_factory=list)
    device_status: dict[str, DeviceStatusRow] = field(default_factory=dict)
    checkpoints: dict[str, CheckpointRow] = field(default_factory=dict)
    # Broker acknowledgements of the messages these rows (and every earlier group's) came from: sent after commit.
    acks: list[Callable[[], None]] = field(default_factory=list)
    # Set by the commit, not queued: the outbox rows this commit inserted already claimed for the local delivery
    # worker (``StoreWriter.page_claim``), with their ids; the after-commit hooks hand them over.
    claimed_pages: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.readings
            or self.inserts
            or self.insert_once
            or self.updates
            or self.device_status
            or self.checkpoints
            or self.acks
        )

    def row_count(self) -> int:
        """Readings, inserted rows and updates in the group (what ``/healthz`` reports as held)."""
        return (
            sum(len(batch) for batch in self.readings)
            + sum(len(rows) for rows in self.inserts.values())
            + sum(len(rows) for rows in self.insert_once.values())
            + len(self.updates)
        )

    def merged_with(self, newer: WriteGroup) -> WriteGroup:
        """This group followed by a newer one (used to retry a failed commit without reordering)."""
        merged = WriteGroup(
            readings=self.readings + newer.readings, updates=self.updates + newer.updates, acks=self.acks + newer.acks
        )
        for attribute in ("inserts", "insert_once"):
            target: dict[Table, list[dict[str, Any]]] = getattr(merged, attribute)
            for source in (getattr(self, attribute), getattr(newer, attribute)):
                for table, rows in source.items():
                    target.setdefault(table, []).extend(rows)
        merged.device_status = {**self.device_status, **newer.device_status}
        merged.checkpoints = {**self.checkpoints, **newer.checkpoints}
        return merged


CommitHook = Callable[[WriteGroup], None]


class PageClaim(Protocol):
    """The local delivery worker's side of claiming outbox rows in the transaction that inserts them."""

    def claim_at_insert(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows as they are to be inserted: copies of those the worker sends right after this commit, marked
        claimed (``sending`` under a lease); the others unchanged. The queued rows themselves are not changed."""
        ...


class Hold(Protocol):
    """Where a follower's groups go instead of the database (high availability: ``daemon.ha.standby``)."""

    holding: bool

    def keep(self, group: WriteGroup) -> None:
        """Hold one group instead of committing it."""
        ...


def _first_line() -> str:
    """The current exception's message, first line only (a retry's log line)."""
    exc = sys.exc_info()[1]
    return str(exc).splitlines()[0][:200] if exc is not None and str(exc) else type(exc).__name__


class StoreWriter:
    """Accepts writes without waiting and commits them in the background, in arrival order."""

    def __init__(
        self,
        engine: AsyncEngine,
        sensor_ids: Sequence[str],
        metrics: Metrics,
        *,
        drill: bool = False,
        drill_run_id: int | None = None,
        retry_max_s: float = 10.0,
    ) -> None:
        self._engine = engine
        self._retry_max_s = retry_max_s  # the longest pause between retries of a failed commit
        self._sensor_ids = list(sensor_ids)
        self._metrics = metrics
        self._drill = drill
        self._drill_run_id = drill_run_id
        # A drill's rows (all but checklist items) name their run; live rows leave the column null.
        self._marks: dict[str, Any] = (
            {"drill": drill} if drill_run_id is None else {"drill": drill, "drill_run_id": drill_run_id}
        )
        self._pending = WriteGroup()
        self._committing: WriteGroup | None = None  # the group in the transaction now (spooled if it never ends)
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self.failing_since: float | None = None  # wall time of the first failed commit of a run of failures
        self.before_commit: list[CommitHook] = []  # may add to the group about to commit (a checkpoint of the state)
        self.after_commit: list[CommitHook] = []  # told about each committed group (event bus, notifier wake-up)
        self.hold: Hold | None = None  # an HA follower holds its groups; the leader writes them
        # An HA leader's fencing check, first in every commit's transaction (``daemon.ha.fence``).
        self.fence: Callable[[AsyncConnection], Awaitable[None]] | None = None
        # Outbox rows are claimed for the delivery worker in their own insert (no second transaction before a page
        # goes out); None: the worker claims them from the table.
        self.page_claim: PageClaim | None = None

    def add_readings(self, batch: ReadingBatch) -> None:
        """Queue a batch of readings (the batch's arrays must not change afterwards)."""
        if not len(batch):
            return
        self._pending.readings.append(batch)
        self._signal()

    def add_quarantine(self, received_at: float, topic: str, reason: str, detail: str, payload: bytes) -> None:
        """Queue one quarantined input with its raw payload."""
        self._insert(
            quarantine,
            {"received_at": received_at, "topic": topic, "reason": reason, "detail": detail, "payload": payload},
        )

    def add_alarm(self, row: AlarmRow) -> None:
        """Queue a new alarm row (with its application-assigned id)."""
        self._insert(alarms, row)

    def update_alarm(self, alarm_id: int, changes: AlarmUpdate) -> None:
        """Queue changes to an alarm row."""
        self._update(alarms, alarm_id, changes)

    def add_alarm_event(self, row: AlarmEventRow) -> None:
        """Queue an alarm state transition."""
        self._insert(alarm_events, row)

    def add_incident(self, row: IncidentRow) -> None:
        """Queue a new incident row (application-assigned id)."""
        self._insert(incidents, row)

    def update_incident(self, incident_id: int, changes: IncidentUpdate) -> None:
        """Queue changes to an incident row."""
        self._update(incidents, incident_id, changes)

    def add_incident_event(self, row: IncidentEventRow) -> None:
        """Queue one line of an incident's timeline."""
        self._insert(incident_events, row)

    def add_checklist_item(self, row: ChecklistItemRow) -> None:
        """Queue a checklist item of an incident."""
        self._insert(checklist_items, row, drill_column=False)

    def update_checklist_item(self, item_id: int, changes: ChecklistItemUpdate) -> None:
        """Queue changes to a checklist item."""
        self._update(checklist_items, item_id, changes)

    def add_notification(self, row: NotificationRow) -> None:
        """Queue an outbox row; a row whose idempotency key is already stored is skipped (never sent twice)."""
        self._pending.insert_once.setdefault(notifications, []).append({**row, **self._marks})
        self._signal()

    def uncommitted_notifications(self) -> list[dict[str, Any]]:
        """Outbox rows queued and not in a transaction now (safe to change: ``daemon.notify.memory_delivery``)."""
        return list(self._pending.insert_once.get(notifications, ()))

    def update_notification(self, idempotency_key: str, changes: dict[str, Any]) -> None:
        """Queue changes to the outbox row with this key (committed after the row's own insert)."""
        self._pending.updates.append((notifications, idempotency_key, changes))
        self._signal()

    def add_page_link(self, row: PageLinkRow) -> None:
        """Queue the acknowledgement link of a person's page, committed with its outbox rows."""
        self._pending.inserts.setdefault(page_links, []).append(dict(row))
        self._signal()

    def add_acks(self, acks: list[Callable[[], None]]) -> None:
        """Acknowledge messages to the broker once everything queued so far has committed."""
        if acks:
            self._pending.acks.extend(acks)
            self._signal()

    def set_device_status(self, device_id: str, online: bool, changed_at: float) -> None:
        """Queue a device's latest online/offline state."""
        self._pending.device_status[device_id] = {"device_id": device_id, "online": online, "changed_at": changed_at}
        self._signal()

    def save_checkpoint(self, name: str, time: float, fingerprint: str, data: bytes) -> None:
        """Queue the engines' state; it commits with every row queued before it, so both agree."""
        self._pending.checkpoints[name] = {"name": name, "time": time, "fingerprint": fingerprint, "data": data}
        self._signal()

    def _insert(self, table: Table, row: Mapping[str, Any], *, drill_column: bool = True) -> None:
        self._pending.inserts.setdefault(table, []).append({**row, **self._marks} if drill_column else dict(row))
        self._signal()

    def _update(self, table: Table, row_id: int, changes: Mapping[str, Any]) -> None:
        self._pending.updates.append((table, row_id, dict(changes)))
        self._signal()

    def requeue(self, group: WriteGroup) -> None:
        """Commit ``group`` before anything queued after it (a spool's rows at start; at an HA takeover, the rows the
        old leader did not write)."""
        if group:
            self._pending = group.merged_with(self._pending)
            self._signal()

    def _signal(self) -> None:
        self._idle.clear()
        self._metrics.store_backlog.set(1)
        self._wakeup.set()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._pending:
            self._wakeup.set()
        await self._idle.wait()

    async def run(self) -> None:
        """Commit queued writes until ``close`` is called, then commit what is left and return."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._commit_pending()
            except Exception:  # a bug here must not stop every later write: keep the rows, try again
                log.exception("the store writer failed; retrying in 1s")
                if self._committing is not None:
                    self._pending = self._committing.merged_with(self._pending)
                    self._committing = None
                self._wakeup.set()
                await asyncio.sleep(1.0)
            if self._closing and not self._pending:
                return

    def close(self) -> None:
        """Ask ``run`` to finish after committing everything queued (await the task to wait for it)."""
        self._closing = True
        self._wakeup.set()

    async def _commit_pending(self) -> None:
        delay = min(0.1, self._retry_max_s)
        while self._pending:
            group, self._pending = self._pending, WriteGroup()
            for prepare in self.before_commit:
                prepare(group)
            if self.hold is not None and self.hold.holding:
                # A follower holds its rows for a takeover, but acknowledges its input as if committed: its own
                # broker session would stall at the receive maximum otherwise (the leader stores the same stream).
                acks, group.acks = group.acks, []
                self.hold.keep(group)
                self._acknowledge(acks)
                continue
            started = time.perf_counter()
            self._committing = group
            try:
                async with self._engine.begin() as connection:
                    await self._write(connection, group)
            except (IntegrityError, DataError, ProgrammingError):
                # Retrying cannot fix a row the database refuses: save every other row, report the bad ones.
                self._metrics.store_errors.inc()
                log.exception("database refused part of a write group; writing its rows one by one")
                await self._write_salvaging(group)
            except Exception:
                # Keep the rows: put them back in front of anything newer and retry with back-off.
                self._metrics.store_errors.inc()
                if self.failing_since is None:
                    self.failing_since = time.time()
                    log.exception("database write failed; retrying in %.1fs", delay)
                else:  # one traceback per outage, not one per retry
                    log.warning("database write failed again (%s); retrying in %.1fs", _first_line(), delay)
                self._pending = group.merged_with(self._pending)
                self._committing = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            self._committing = None
            self._metrics.store_seconds.observe(time.perf_counter() - started)
            if self.failing_since is not None:
                log.warning("database writes work again after %.1fs", time.time() - self.failing_since)
                self.failing_since = None
            self._acknowledge(group.acks)
            for hook in self.after_commit:
                try:
                    hook(group)
                except Exception:  # a listener's bug must not stop the writer
                    log.exception("after-commit hook failed")
        self._metrics.store_backlog.set(0)
        self._idle.set()

    def unwritten(self) -> WriteGroup:
        """Everything not committed: the group in a transaction that never ended, then the queue (after a
        ``close`` that timed out and cancelled ``run``)."""
        if self._committing is None:
            return self._pending
        return self._committing.merged_with(self._pending)

    def backlog_rows(self) -> int:
        """Readings and rows queued or in a transaction not yet committed (during an outage the rows sit in the
        retried transaction most of the time, with nothing queued beside them: counting the queue alone said 0)."""
        committing = 0 if self._committing is None else self._committing.row_count()
        return committing + self._pending.row_count()

    def unacknowledged(self) -> int:
        """Broker messages whose rows wait for a commit (they count against the MQTT receive window)."""
        committing = 0 if self._committing is None else len(self._committing.acks)
        return committing + len(self._pending.acks)

    def _acknowledge(self, acks: list[Callable[[], None]]) -> None:
        for ack in acks:
            try:
                ack()
            except Exception:  # a lost connection: the broker delivers the message again, the pipeline drops it
                log.warning("could not acknowledge a message to the broker", exc_info=True)
        self._metrics.mqtt_acks.inc(len(acks))

    async def _write_salvaging(self, group: WriteGroup) -> None:
        """Write each row of a refused group in its own transaction; log and count the ones still refused."""
        singles: list[WriteGroup] = []
        if group.readings:
            singles.append(WriteGroup(readings=group.readings))
        for table, rows in group.inserts.items():
            singles += [WriteGroup(inserts={table: [row]}) for row in rows]
        for table, rows in group.insert_once.items():
            singles += [WriteGroup(insert_once={table: [row]}) for row in rows]
        singles += [WriteGroup(updates=[update_]) for update_ in group.updates]
        if group.device_status or group.checkpoints:
            singles.append(WriteGroup(device_status=group.device_status, checkpoints=group.checkpoints))
        for single in singles:
            try:
                async with self._engine.begin() as connection:
                    # no after-commit hook hears these: their pages are left to the worker's own claim
                    await self._write(connection, single, claim_pages=False)
            except (IntegrityError, DataError, ProgrammingError) as exc:
                self._metrics.store_rows_rejected.inc()
                log.error("database refused a row, dropped: %s; row: %.500r", exc.orig, single)  # noqa: TRY400

    async def _insert_claiming(
        self,
        connection: AsyncConnection,
        claim: PageClaim,
        statement: Any,
        rows: list[dict[str, Any]],
        group: WriteGroup,
    ) -> None:
        """Insert outbox rows, some claimed for the local worker; note the claimed ones that were inserted.

        A row whose idempotency key is already stored is skipped by the insert and not returned, so a page is
        never handed over twice (a redelivered message raising the same alarm again).
        """
        prepared = claim.claim_at_insert(rows)
        claimed = {
            str(row["idempotency_key"]): row for row, queued in zip(prepared, rows, strict=True) if row is not queued
        }
        if not claimed:
            await connection.execute(statement, prepared)
            return
        inserted = await connection.execute(
            statement.returning(notifications.c.id, notifications.c.idempotency_key), prepared
        )
        for row_id, key in inserted:
            row = claimed.get(str(key))
            if row is not None:
                group.claimed_pages.append({**row, "id": int(row_id)})

    async def _write(self, connection: AsyncConnection, group: WriteGroup, *, claim_pages: bool = True) -> None:
        """Every row of ``group`` in ``connection``'s transaction (``claim_pages``: outbox rows may be claimed)."""
        if self.fence is not None:
            await self.fence(connection)
        if group.readings:
            # Everything queued since the last commit becomes one chunk (or a few, for huge backlogs).
            batch = group.readings[0] if len(group.readings) == 1 else ReadingBatch.concat(group.readings)
            await connection.execute(
                insert(reading_chunks),
                encode_chunks(batch, self._sensor_ids, drill=self._drill, drill_run_id=self._drill_run_id),
            )
        for table, rows in group.inserts.items():
            await connection.execute(insert(table), rows)
        upsert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        group.claimed_pages = []
        for table, rows in group.insert_once.items():
            if table is notifications and self.page_claim is not None and claim_pages:
                claim = self.page_claim
                await self._insert_claiming(connection, claim, upsert(table).on_conflict_do_nothing(), rows, group)
                continue
            await connection.execute(upsert(table).on_conflict_do_nothing(), rows)
        for table, row_id, changes in group.updates:
            key = table.c.idempotency_key if isinstance(row_id, str) else table.c.id
            await connection.execute(update(table).where(key == row_id).values(**changes))
        if group.device_status:
            statement = upsert(device_status)
            statement = statement.on_conflict_do_update(
                index_elements=["device_id"],
                set_={"online": statement.excluded.online, "changed_at": statement.excluded.changed_at},
            )
            await connection.execute(statement, list(group.device_status.values()))
        if group.checkpoints:
            statement = upsert(checkpoints)
            statement = statement.on_conflict_do_update(
                index_elements=["name"],
                set_={name: statement.excluded[name] for name in ("time", "fingerprint", "data")},
            )
            await connection.execute(statement, list(group.checkpoints.values()))
