"""The console channel: a page row addressed to the duty console is delivered when a console of its person (or of a
colleague in its role) has shown it, and acknowledged when acknowledged there.

No sender pushes a console row: the browser reports which rows it put on screen (``mark_shown``), and only then does
the row count as delivered. A fetch alone proves nothing (a tab in the background, a wall display, a script), so the
console posts the ids it rendered while the page was visible. Until then the row stays ``pending``, and the chain's
step timer moves the page on to the person's next channel exactly as for an SMS nobody received. A console row with
no next channel (the last of a chain, an urgent page's, the "nobody on duty" page) gives up at its step's time
(``expire_unshown``), so it counts toward the page nobody could be reached for; shown later, it is delivered late.

Who a console session is: the API user whose name is the roster person's id (``hazwatch user add zhang-wei``). A row
is theirs when it pages that person, or pages a role that the person holds in the roster; the "nobody on duty"
fallback row is anyone's who may acknowledge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.notify.outbox import NOBODY_ON_DUTY
from daemon.store.schema import incident_events, notifications
from plans.roster import Roster

CONSOLE = "console"
SHOWABLE = ("pending", "given_up")  # given up: nobody showed it in time; shown later is still delivered, late
NOT_SHOWN = "not shown on a console of its person or role within {timeout:g} s"
RECENT_S = 24 * 3600.0  # the console lists pages of the last day
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class ConsoleViewer:
    """A logged-in console session: its API user, and the roster person and roles that user is."""

    user: str
    may_acknowledge: bool
    person_id: str | None
    roles: frozenset[str]

    @classmethod
    def of(cls, user: str, may_acknowledge: bool, roster: Roster | None) -> ConsoleViewer:
        """The viewer for an API user; a user named like no roster person sees only the role-less fallback pages."""
        person = None if roster is None else next((p for p in roster.people if p.id == user), None)
        if person is None:
            return cls(user, may_acknowledge, None, frozenset())
        return cls(user, may_acknowledge, person.id, frozenset(person.roles))

    def addressed(self, row: dict[str, Any]) -> bool:
        """Whether this console session is (one of) the row's intended readers."""
        person = _person_of(row)
        if self.person_id is not None and person == self.person_id:
            return True
        if row["role"] and row["role"] in self.roles:
            return True
        return person == NOBODY_ON_DUTY.person_id and self.may_acknowledge


def _person_of(row: dict[str, Any]) -> str | None:
    try:
        extra = json.loads(row["payload"]).get("extra") or {}
    except (ValueError, AttributeError):
        return None
    value = extra.get("person_id")
    return value if isinstance(value, str) else None


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """What the console shows of a page row."""
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = {}
    extra = payload.get("extra") or {}
    return {
        "id": row["id"],
        "page_id": row["page_id"],
        "incident_id": row["incident_id"],
        "state": row["state"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "acknowledged_at": row["acknowledged_at"],
        "acknowledged_by": row["acknowledged_by"],
        "role": row["role"],
        "person": extra.get("person") or row["recipient"],
        # Every row carries the one payload form (daemon.notify.outbox.RowPayload): subject and tier are always set.
        "subject": payload.get("subject", ""),
        "tier": payload.get("tier"),
        "ack_deadline": payload.get("ack_deadline"),
    }


async def _candidates(engine: AsyncEngine, now: float, ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    query = select(notifications).where(
        notifications.c.channel == CONSOLE,
        notifications.c.drill.is_(False),  # a drill's console rows are its record, not pages to anyone
        notifications.c.created_at >= now - RECENT_S,
    )
    if ids is not None:
        query = query.where(notifications.c.id.in_(sorted(set(ids))))
    query = query.order_by(notifications.c.created_at.desc(), notifications.c.id.desc()).limit(MAX_LISTED)
    async with engine.connect() as connection:
        return [dict(r) for r in (await connection.execute(query)).mappings()]


async def pages_for(engine: AsyncEngine, viewer: ConsoleViewer, now: float) -> list[dict[str, Any]]:
    """The console page rows of the last day addressed to this viewer, newest first (open and answered)."""
    return [_view(row) for row in await _candidates(engine, now) if viewer.addressed(row)]


async def mark_shown(engine: AsyncEngine, viewer: ConsoleViewer, ids: Iterable[int], now: float) -> list[int]:
    """The browser showed these rows: each pending one addressed to the viewer becomes delivered, with who and when
    on the incident timeline. Returns the ids that changed (rows of others, or already delivered, are left alone)."""
    rows = [row for row in await _candidates(engine, now, ids) if viewer.addressed(row) and row["state"] in SHOWABLE]
    changed: list[int] = []
    async with engine.begin() as connection:
        for row in rows:
            result = await connection.execute(
                update(notifications)
                .where(notifications.c.id == row["id"], notifications.c.state == row["state"])
                .values(state="delivered", delivered_at=now, attempts=notifications.c.attempts + 1, last_error=None)
            )
            if result.rowcount != 1:
                continue  # the chain moved on (superseded) or another console was first
            changed.append(int(row["id"]))
            if row["incident_id"] is not None:
                detail = {"notification_id": row["id"], "channel": CONSOLE, "person": _view(row)["person"]}
                await connection.execute(
                    insert(incident_events).values(
                        incident_id=row["incident_id"],
                        time=now,
                        type="page_shown",
                        actor=viewer.user,
                        detail=json.dumps(detail, ensure_ascii=False),
                        ref=str(row["page_id"] or ""),
                        drill=False,
                    )
                )
    return changed


async def expire_unshown(engine: AsyncEngine, scope: ColumnElement[bool], now: float) -> set[str]:
    """Give up live console rows nobody showed within their step's time; returns their pages (maybe unreachable).

    A row with a next channel never gets here: ``advance_chains`` superseded it when it released the next one.
    """
    due = (
        scope,
        notifications.c.channel == CONSOLE,
        notifications.c.state == "pending",
        notifications.c.drill.is_(False),
        notifications.c.released_at + notifications.c.step_timeout_s <= now,
    )
    async with engine.connect() as connection:  # read first: the common answer is "none"
        found = (await connection.execute(select(notifications.c.id, notifications.c.step_timeout_s).where(*due))).all()
    if not found:
        return set()
    pages: set[str] = set()
    async with engine.begin() as connection:
        for row in found:
            result = await connection.execute(
                update(notifications)
                .where(notifications.c.id == row.id, notifications.c.state == "pending")
                .values(state="given_up", last_error=NOT_SHOWN.format(timeout=float(row.step_timeout_s)))
                .returning(notifications.c.page_id)
            )
            page = result.scalar()
            if page is not None:
                pages.add(str(page))
    return pages
