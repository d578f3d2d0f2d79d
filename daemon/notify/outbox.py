"""The transactional outbox: notifications are rows written in the same transaction as their cause."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Protocol

from sqlalchemy import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from daemon.notify.model import NotificationIntent
from daemon.store.rows import NotificationRow
from daemon.store.schema import notifications

log = logging.getLogger(__name__)
KEY_LIMIT = 200  # notifications.idempotency_key is String(200)


def row_key(intent_key: str, recipient: str, index: int, channel: str) -> str:
    """The idempotency key of one delivery: event key + recipient + channel slot (hashed if too long)."""
    key = f"{intent_key}|{recipient}|{index}:{channel}"
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_LIMIT - 65]}#{digest}"


def outbox_rows(intent: NotificationIntent, now: float) -> list[NotificationRow]:
    """One pending row per recipient channel, each carrying everything needed to deliver it after a restart."""
    facts = intent.facts.to_json()
    rows: list[NotificationRow] = []
    for recipient in intent.recipients:
        for index, target in enumerate(recipient.channels):
            payload = {"facts": facts, "target": target.model_dump(), "extra": intent.extra}
            rows.append(
                {
                    "idempotency_key": row_key(intent.key, recipient.name, index, target.type),
                    "incident_id": intent.facts.incident_id,
                    "alarm_id": intent.facts.alarm_id,
                    "event": intent.event,
                    "channel": target.type,
                    "recipient": recipient.name,
                    "role": intent.role,
                    "language": recipient.language,
                    "payload": json.dumps(payload, ensure_ascii=False),
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "drill": intent.facts.drill,
                    # routes reach systems, every channel at once: no person chain
                    "page_id": None,
                    "chain_key": None,
                    "chain_step": None,
                    "step_timeout_s": None,
                    "released_at": now,
                }
            )
    return rows


def _insert_ignoring_duplicates(connection: AsyncConnection) -> Insert:
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(notifications).on_conflict_do_nothing(index_elements=["idempotency_key"])


async def enqueue(connection: AsyncConnection, intent: NotificationIntent, now: float) -> int:
    """Insert the intent's rows in the caller's transaction; duplicates of a key are ignored. Returns rows added."""
    rows = outbox_rows(intent, now)
    if not rows:
        return 0
    result = await connection.execute(_insert_ignoring_duplicates(connection), rows)
    added = max(result.rowcount, 0)
    if added < len(rows):
        log.info("outbox: %d of %d rows for %s already queued", len(rows) - added, len(rows), intent.key)
    return added


class OutboxWriter(Protocol):
    """Where outbox rows are queued to commit with their cause (the store writer)."""

    def add_notification(self, row: NotificationRow) -> None:
        """Queue one outbox row; a row whose idempotency key is already stored is skipped."""
        ...


class OutboxSink:
    """Turns intents into outbox rows on a writer: the one place an intent becomes rows (store never imports notify)."""

    def __init__(self, writer: OutboxWriter) -> None:
        self._writer = writer

    def add_notification_intent(self, intent: NotificationIntent, now: float) -> None:
        """Queue an intent's outbox rows, committed with the rows queued with them (duplicates skipped)."""
        for row in outbox_rows(intent, now):
            self._writer.add_notification(row)
