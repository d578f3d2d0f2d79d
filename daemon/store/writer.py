"""One writer task owns all database writes: groups them into few transactions and retries on failure."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.metrics import Metrics
from daemon.notify.model import NotificationIntent
from daemon.notify.outbox import enqueue
from daemon.store.schema import alarm_events, alarms, device_status, quarantine, readings
from detectors.readings import ReadingBatch

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteGroup:
    """Rows to write in one transaction, collected between two commits."""

    readings: list[tuple[str, float, float, int, bool]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    alarm_inserts: list[dict[str, Any]] = field(default_factory=list)
    alarm_updates: list[dict[str, Any]] = field(default_factory=list)
    alarm_events: list[dict[str, Any]] = field(default_factory=list)
    device_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[tuple[NotificationIntent, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.readings
            or self.quarantine
            or self.alarm_inserts
            or self.alarm_updates
            or self.alarm_events
            or self.device_status
            or self.notifications
        )


CommitHook = Callable[[WriteGroup], None]


class StoreWriter:
    """Accepts writes without waiting and commits them in the background, in arrival order."""

    def __init__(
        self, engine: AsyncEngine, sensor_ids: Sequence[str], metrics: Metrics, *, drill: bool = False
    ) -> None:
        self._engine = engine
        self._sensor_ids = list(sensor_ids)
        self._metrics = metrics
        self._drill = drill
        self._pending = WriteGroup()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self.after_commit: list[CommitHook] = []

    def add_readings(self, batch: ReadingBatch) -> None:
        """Queue a batch of readings."""
        if not len(batch):
            return
        ids = self._sensor_ids
        drill = self._drill
        self._pending.readings.extend(
            (ids[s], t, v, f, drill)
            for s, t, v, f in zip(
                batch.sensor.tolist(), batch.time.tolist(), batch.value.tolist(), batch.flags.tolist(), strict=True
            )
        )
        self._signal()

    def add_quarantine(self, received_at: float, topic: str, reason: str, detail: str, payload: bytes) -> None:
        """Queue one quarantined input with its raw payload."""
        self._pending.quarantine.append(
            {
                "received_at": received_at,
                "topic": topic,
                "reason": reason,
                "detail": detail,
                "payload": payload,
                "drill": self._drill,
            }
        )
        self._signal()

    def add_alarm(self, row: dict[str, Any]) -> None:
        """Queue a new alarm row (with its application-assigned id)."""
        self._pending.alarm_inserts.append({**row, "drill": self._drill})
        self._signal()

    def update_alarm(self, alarm_id: int, changes: dict[str, Any]) -> None:
        """Queue changes to an alarm row."""
        self._pending.alarm_updates.append({"id": alarm_id, **changes})
        self._signal()

    def add_alarm_event(self, row: dict[str, Any]) -> None:
        """Queue an alarm state transition."""
        self._pending.alarm_events.append({**row, "drill": self._drill})
        self._signal()

    def add_notification(self, intent: NotificationIntent, now: float) -> None:
        """Queue a notification intent: its outbox rows commit in the same transaction as the rows queued with it."""
        self._pending.notifications.append((intent, now))
        self._signal()

    def set_device_status(self, device_id: str, online: bool, changed_at: float) -> None:
        """Queue a device's latest online/offline state."""
        self._pending.device_status[device_id] = {"device_id": device_id, "online": online, "changed_at": changed_at}
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
            await self._commit_pending()
            if self._closing and not self._pending:
                return

    def close(self) -> None:
        """Ask ``run`` to finish after committing everything queued (await the task to wait for it)."""
        self._closing = True
        self._wakeup.set()

    async def _commit_pending(self) -> None:
        delay = 0.1
        while self._pending:
            group, self._pending = self._pending, WriteGroup()
            started = time.perf_counter()
            try:
                async with self._engine.begin() as connection:
                    await self._write(connection, group)
            except Exception:
                # Keep the rows: put them back in front of anything newer and retry with back-off.
                self._metrics.store_errors.inc()
                log.exception("database write failed; retrying in %.1fs", delay)
                self._pending = _merge(group, self._pending)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._metrics.store_seconds.observe(time.perf_counter() - started)
            for hook in self.after_commit:
                try:
                    hook(group)
                except Exception:  # a listener's bug must not stop the writer
                    log.exception("after-commit hook failed")
        self._metrics.store_backlog.set(0)
        self._idle.set()

    async def _write(self, connection: AsyncConnection, group: WriteGroup) -> None:
        if group.readings:
            await _insert_readings(connection, group.readings)
        if group.quarantine:
            await connection.execute(insert(quarantine), group.quarantine)
        if group.alarm_inserts:
            await connection.execute(insert(alarms), group.alarm_inserts)
        for change in group.alarm_updates:
            values = {k: v for k, v in change.items() if k != "id"}
            await connection.execute(update(alarms).where(alarms.c.id == change["id"]).values(**values))
        if group.alarm_events:
            await connection.execute(insert(alarm_events), group.alarm_events)
        if group.device_status:
            rows = list(group.device_status.values())
            upsert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            statement = upsert(device_status)
            statement = statement.on_conflict_do_update(
                index_elements=["device_id"],
                set_={"online": statement.excluded.online, "changed_at": statement.excluded.changed_at},
            )
            await connection.execute(statement, rows)
        for intent, now in group.notifications:
            await enqueue(connection, intent, now)


READING_COLUMNS = ("sensor_id", "time", "value", "flags", "drill")


async def _insert_readings(connection: AsyncConnection, rows: list[tuple[str, float, float, int, bool]]) -> None:
    """Bulk-insert readings the fastest way each backend offers.

    Readings are the bulk of all writes (10+ rows per message); SQLAlchemy's per-row parameter
    processing would cost more than the database itself. SQLite gets one executemany of plain
    tuples, PostgreSQL a binary COPY on the same connection and transaction.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        await connection.exec_driver_sql(
            f"INSERT INTO readings ({', '.join(READING_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",  # noqa: S608 - constant
            rows,
        )
    elif dialect == "postgresql":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:
            raise RuntimeError("asyncpg connection is closed")
        await driver.copy_records_to_table("readings", records=rows, columns=READING_COLUMNS)
    else:
        await connection.execute(insert(readings), [dict(zip(READING_COLUMNS, row, strict=True)) for row in rows])


def _merge(first: WriteGroup, second: WriteGroup) -> WriteGroup:
    return WriteGroup(
        readings=first.readings + second.readings,
        quarantine=first.quarantine + second.quarantine,
        alarm_inserts=first.alarm_inserts + second.alarm_inserts,
        alarm_updates=first.alarm_updates + second.alarm_updates,
        alarm_events=first.alarm_events + second.alarm_events,
        device_status={**first.device_status, **second.device_status},
        notifications=first.notifications + second.notifications,
    )
