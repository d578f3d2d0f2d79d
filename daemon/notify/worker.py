"""The delivery worker: picks due outbox rows, delivers them, retries with capped exponential back-off.

Rows stay ``pending`` until a channel accepted them, so an outage or a restart loses nothing: the next worker
resumes from the table. Every row ends in an explicit state: ``delivered``, ``acknowledged``, ``failed`` (with the
error: permanent refusal, or no configured sender for its channel), ``given_up`` (retry budget spent) or
``superseded``.

Exactly once across a crash: a claimed row is marked ``sending`` (committed) before its request goes out, and its
outcome replaces that mark. A ``sending`` row whose lease ran out belongs to a process that died mid-request: it may
or may not have arrived. It is sent again, with the same ``Idempotency-Key``, only when its target is declared
``idempotent`` (the receiver drops the copy); otherwise it ends ``outcome_unknown`` and a ``notify.outcome_unknown``
alarm asks the operator to check with the receiver (never a blind second page).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from daemon.clock import Clock
from daemon.metrics.instruments import Metrics
from daemon.notify.chains import advance_chains, unreachable_roles
from daemon.notify.channels.base import Channel, Delivery, DeliveryError
from daemon.notify.channels.registry import undeliverable_reason
from daemon.notify.config import ChannelTarget, NotifyConfig
from daemon.notify.console_pages import expire_unshown
from daemon.notify.model import AlertFacts
from daemon.notify.outbox import RowPayload, row_tier
from daemon.notify.storms import URGENT_TIERS, person_of, plan_storms
from daemon.redaction import redact
from daemon.store.schema import alarms, notifications
from daemon.store.writer import WriteGroup

log = logging.getLogger(__name__)
CHANNEL_FAILING_RULE = "notify.channel_failing"
MAX_ROUNDS = 3  # deliver, advance the chains, deliver what they released (a chain step per round at most)
PAGE_UNDELIVERABLE_RULE = "notify.page_undeliverable"  # /healthz reads it (daemon/web/paging_health.py)
OUTCOME_UNKNOWN_RULE = "notify.outcome_unknown"
OPEN_STATES = ("pending", "sending")  # a row that may still be delivered (sending: a request is in flight)
# Alertmanager merges alerts with the same labels (https://prometheus.io/docs/alerting/latest/clients/): a re-post
# is a no-op, so its rows are always safe to send again.
IDEMPOTENT_CHANNELS = frozenset({"alertmanager"})
OUTCOME_UNKNOWN = (
    "outcome unknown: the service stopped while this was being sent and the receiver does not drop repeats; "
    "check with the receiver whether it arrived"
)


class ServiceAlarms(Protocol):
    """Where the worker raises and clears its own alarms (the alarm tracker implements it)."""

    def raise_service_alarm(
        self, rule: str, subject: str, message: str, now: float, *, notify_routes: bool = False
    ) -> None:
        """Raise (once) an alarm about the service itself; ``notify_routes``: the alarm routes hear it too."""
        ...

    def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
        """Clear it again."""
        ...


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What happened to one row in one pass."""

    row_id: int
    channel: str
    created_at: float
    attempts: int
    error: str | None  # None: delivered
    permanent: bool = False  # the row cannot ever be delivered (corrupt payload, unknown channel)
    page_id: str | None = None  # person pages: the page and role the row belongs to
    role: str | None = None


def backoff(attempts: int, config: NotifyConfig) -> float:
    """Seconds to wait after the ``attempts``-th failure: initial * factor^(n-1), capped."""
    return float(min(config.retry_initial_s * config.retry_factor ** max(attempts - 1, 0), config.retry_max_s))


def resend_is_safe(row: Mapping[str, Any]) -> bool:
    """A row cut mid-request may be sent again: its receiver drops a repeated Idempotency-Key."""
    if str(row["channel"]) in IDEMPOTENT_CHANNELS:
        return True
    try:
        return bool(json.loads(row["payload"])["target"].get("idempotent"))
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def decode_row(row: Mapping[str, Any], now: float) -> Delivery:
    """An outbox row as a Delivery; raises ValueError when the stored payload is unusable.

    Every row, a person's page or an alarm route's, stores one form (``daemon.notify.outbox.RowPayload``).
    """
    try:
        payload: RowPayload = json.loads(row["payload"])
        target = ChannelTarget.model_validate(payload["target"])
        facts = AlertFacts.from_json(payload["facts"])
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise ValueError(f"unusable payload: {exc}") from exc
    return Delivery(
        notification_id=int(row["id"]),
        idempotency_key=str(row["idempotency_key"]),
        event=str(row["event"]),
        recipient=str(row["recipient"]),
        language=str(row["language"]),
        target=target,
        facts=facts,
        extra=dict(payload.get("extra") or {}),
        now=now,
    )


class DeliveryWorker:
    """One per process. ``run`` loops; tests may call ``deliver_due`` directly with a manual clock."""

    def __init__(
        self,
        engine: AsyncEngine,
        channels: Mapping[str, Channel],
        clock: Clock,
        metrics: Metrics,
        config: NotifyConfig,
        service_alarms: ServiceAlarms | None = None,
        *,
        drill_run_id: int | None = None,
    ) -> None:
        self._engine = engine
        # A worker serves the live outbox (the service) or one drill run's rows (that replay), never both: the
        # service never picks up a drill's pages, and a replay never sends a live page.
        self._scope: ColumnElement[bool] = (
            notifications.c.drill.is_(False)
            if drill_run_id is None
            else and_(notifications.c.drill.is_(True), notifications.c.drill_run_id == drill_run_id)
        )
        self._scope_is_live = drill_run_id is None
        self._drill_targets = config.drill_targets()
        self._channels = channels
        self._clock = clock
        self._metrics = metrics
        self._config = config
        self._service_alarms = service_alarms
        self._wakeup = asyncio.Event()
        self._failing_since: dict[str, float] = {}
        self._alarmed: set[str] = set()
        self._last_resend = float("-inf")
        self._pass_lock = asyncio.Lock()
        self._unreachable_pages: set[tuple[str, str]] = set()
        self._ended_pages: set[str] = set()  # pages with a row that ended undelivered, not yet checked
        self._tidied_at = float("-inf")
        self._unreachable_roles: set[str] = set()
        # Attempts in flight, each recorded on its own as soon as it ends: a destination that hangs holds only its
        # own rows (until the attempt's time limit), never the pages to other destinations (issue 17).
        self._in_flight: set[asyncio.Task[None]] = set()
        # An HA leader's fencing check (``daemon.ha.fence``): in the claim's transaction and again just before a send.
        self.fence: Callable[[AsyncConnection], Awaitable[None]] | None = None
        self._unrecorded: list[AttemptResult] = []  # outcomes the database did not take yet (recorded first)
        self._running = False  # ``run`` is delivering: new rows may be claimed at insert and handed over
        # Claimed rows whose request has not started: a stop gives them back (``release_unsent``) instead of leaving
        # them ``sending`` for the cut-mid-request rule (they were never sent).
        self._unsent: dict[int, dict[str, Any]] = {}
        self._housekept_at = float("-inf")
        self._chains_due = False  # a page ended undelivered: its person's next channel is released at once

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The configured senders by channel type."""
        return self._channels

    @property
    def config(self) -> NotifyConfig:
        """The notification settings."""
        return self._config

    def poke(self) -> None:
        """Look for due rows now (called after a commit that queued notifications)."""
        self._wakeup.set()

    def claim_at_insert(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Outbox rows about to be inserted, those this worker sends right after the commit marked claimed.

        The store writer calls it inside the transaction that inserts the rows (``StoreWriter.page_claim``), so a
        page is claimed by the same commit that stores its alarm, and ``hand_over`` sends it with no second
        transaction (a claim is a write: on SQLite it also waits for the writer's lock). Claimed as ``_claim_due``
        would: ``sending`` under the attempt's lease, so a crash between the commit and the request leaves the row
        to the cut-mid-request rule, exactly like a row claimed from the table. Only while ``run`` delivers, only
        rows due now on a channel with a sender, and not beyond the in-flight cap (the table path takes the rest).
        """
        if not self._running or len(self._in_flight) >= 4 * self._config.batch_size:
            return rows
        now = self._clock.now()
        lease_until = now + self._config.request_timeout_s * 2
        live = self._scope_is_live
        return [
            {**row, "state": "sending", "next_attempt_at": lease_until}
            if row["state"] == "pending"
            and float(row["next_attempt_at"]) <= now
            and str(row["channel"]) in self._channels
            and bool(row.get("drill")) is not live
            else row
            for row in rows
        ]

    def after_commit(self, group: WriteGroup) -> None:
        """The store writer committed ``group``: send the pages it claimed; wake the pass for any other due row.

        A person's later channels are inserted ``held``: they wait for the chains' timer, so they wake nobody (a
        pass woken for them would hold the pass lock, and the storm rule of the claimed page waits for it).
        """
        self.hand_over(group.claimed_pages)
        claimed = {str(row["idempotency_key"]) for row in group.claimed_pages}
        if any(
            row["state"] == "pending" and str(row["idempotency_key"]) not in claimed
            for row in group.insert_once.get(notifications, ())
        ):
            self.poke()

    def hand_over(self, rows: list[dict[str, Any]]) -> None:
        """Send rows claimed at insert (``claim_at_insert``), now committed with their ids; called after commit."""
        if not rows:
            return
        self._unsent.update((int(row["id"]), row) for row in rows)
        task = asyncio.create_task(self._send_handed_over(rows), name=f"notify-handover-{rows[0]['id']}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send_handed_over(self, rows: list[dict[str, Any]]) -> None:
        now = self._clock.now()
        if not self._running:  # delivery stopped between the commit and now: the rows go back to the table
            await self.release_unsent()
            return
        grouped = [(row, 1) for row in rows]
        if any(row["chain_key"] is not None for row in rows):  # a person's pages: the storm rule applies
            try:
                async with self._pass_lock:
                    grouped = await self._group_storms(rows, now)
            except Exception:  # the rule needs the database; the claimed pages go out ungrouped rather than late
                log.exception("storm grouping of %d claimed pages failed; sending them one by one", len(rows))
        for held_back in {int(row["id"]) for row in rows} - {int(row["id"]) for row, _ in grouped}:
            self._unsent.pop(held_back, None)  # waits for its storm window, or rode along in another message
        for row, count in grouped:
            task = asyncio.create_task(self._attempt_and_record(row, now, count), name=f"notify-{row['id']}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def release_unsent(self) -> int:
        """Give back every claimed row whose request never started (after ``run`` stopped); returns how many."""
        rows, self._unsent = list(self._unsent.values()), {}
        for row in rows:
            await self._release(row)
        return len(rows)

    async def run(self) -> None:
        """Deliver until cancelled; database errors are logged and retried on the next pass.

        A pass claims and sends the due rows at every wake-up; the housekeeping (chains, undeliverable rows,
        Alertmanager re-sends, gauges) runs once per ``poll_interval_s``, or at once when a page ended undelivered
        (its person's next channel is released without waiting). It used to run at every wake-up, i.e. after every
        commit that queued a page, costing five queries on the loop while that page was being sent.
        """
        failing = False
        self._running = True
        try:
            while True:
                self._wakeup.clear()
                busy = False
                try:
                    busy = await self._dispatch_due() >= self._config.batch_size
                    now = self._clock.now()
                    if self._chains_due or now - self._housekept_at >= self._config.poll_interval_s:
                        self._chains_due = False
                        self._housekept_at = now
                        await self._tidy_chains()
                        await self.resend_firing()
                        await self.refresh_gauges()
                    failing = False
                except Exception as exc:  # the database may be unavailable: keep the loop alive
                    if not failing:  # one traceback per outage, not one per pass
                        log.exception("notification pass failed; retrying")
                    else:
                        log.warning("notification pass failed again: %s", (str(exc) or type(exc).__name__)[:200])
                    failing = True
                if busy:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._config.poll_interval_s):
                        await self._wakeup.wait()
        finally:
            self._running = False
            for task in self._in_flight:
                task.cancel()

    async def _dispatch_due(self) -> int:
        """Start an attempt for every due row and return without waiting for them (``run``'s pass)."""
        if len(self._in_flight) >= 4 * self._config.batch_size:
            return 0  # many attempts hang already: claim more once some end
        if self._unrecorded:  # outcomes first: a row the database still says is sending must not look orphaned
            results, self._unrecorded = self._unrecorded, []
            try:
                await self._record(results, self._clock.now())
            except Exception:
                self._unrecorded = results + self._unrecorded
                raise
            log.warning("recorded %d delivery outcomes kept while the database was unavailable", len(results))
        async with self._pass_lock:
            now = self._clock.now()
            rows = await self._group_storms(await self._claim_due(now), now)
            self._unsent.update((int(row["id"]), row) for row, _ in rows)
            for row, grouped in rows:
                task = asyncio.create_task(self._attempt_and_record(row, now, grouped), name=f"notify-{row['id']}")
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            return len(rows)

    async def _attempt_and_record(self, row: dict[str, Any], started: float, grouped: int = 1) -> None:
        if self.fence is not None:
            try:
                async with self._engine.begin() as connection:
                    await self.fence(connection)
            except Exception as exc:  # fenced out, or no database
                log.warning("notification %s not sent: %s", row["id"], exc)
                self._unsent.pop(int(row["id"]), None)
                await self._release(row)
                return
        result = await self._attempt(row, started, grouped)
        self._unsent.pop(int(row["id"]), None)  # refused before any request, or attempted: recorded below
        now = self._clock.now()
        try:
            await self._record([result], now)
        except Exception:  # kept in memory and recorded first on the next pass: the row is never re-sent blindly
            log.warning("could not record the outcome of notification %s; kept in memory", result.row_id)
            self._unrecorded.append(result)
            return
        if result.error is None and result.role is not None:
            self._clear_reached({result.role}, now)
        elif result.page_id is not None and result.error is not None:
            self._ended_pages.add(result.page_id)
            self._chains_due = True
            self.poke()  # the person's next channel is released on the next pass, not after a poll interval

    async def _release(self, row: Mapping[str, Any]) -> None:
        """Give a claimed row back unsent (it was not sent: the leader sends it, not as a row cut mid-request).

        Only while this claim's lease runs: nobody else can have claimed the row yet."""
        now = self._clock.now()
        with contextlib.suppress(Exception):  # no database: the row's lease ends and the cut-row rule applies
            async with self._engine.begin() as connection:
                await connection.execute(
                    update(notifications)
                    .where(
                        notifications.c.id == row["id"],
                        notifications.c.state == "sending",
                        notifications.c.next_attempt_at > now,
                    )
                    .values(state="pending", next_attempt_at=now)
                )

    async def _tidy_chains(self) -> None:
        """``run``'s pass over the chains: release next steps, fail what nobody can deliver, alarm the unreachable."""
        async with self._pass_lock:
            now = self._clock.now()
            released = await self._advance_chains(now)
            ended, self._ended_pages = self._ended_pages | await self.fail_undeliverable(now), set()
            await self._alarm_unreachable(ended, now)
        if released:
            self._chains_due = True  # what the release made due goes out, and its chains are tidied again
            self.poke()

    async def deliver_due(self) -> int:
        """Attempt every due row (up to ``batch_size``) concurrently; returns how many were attempted."""
        async with self._pass_lock:  # one pass at a time: a row in flight is never picked twice
            attempted = 0
            # Due rows first (the latency that matters), then the chains; what that released goes out at once.
            for _ in range(MAX_ROUNDS):
                now = self._clock.now()
                rows = await self._group_storms(await self._claim_due(now), now)
                results = await asyncio.gather(*(self._attempt(row, now, grouped) for row, grouped in rows))
                if results:
                    await self._record(results, now)
                attempted += len(rows)
                self._ended_pages |= {r.page_id for r in results if r.page_id is not None and r.error is not None}
                self._clear_reached({r.role for r in results if r.error is None and r.role is not None}, now)
                if self._wakeup.is_set() and now - self._tidied_at < self._config.poll_interval_s:
                    break  # new rows were queued meanwhile: send them first, tidy the chains on the next pass
                self._tidied_at = now
                released = await self._advance_chains(now)
                ended, self._ended_pages = self._ended_pages | await self.fail_undeliverable(now), set()
                await self._alarm_unreachable(ended, now)
                if not released:
                    break
            return attempted

    async def _advance_chains(self, now: float) -> int:
        """Release and supersede chain steps (a write transaction only when some step is held)."""
        async with self._engine.connect() as connection:
            held = await connection.execute(
                select(notifications.c.id).where(self._scope, notifications.c.state == "held").limit(1)
            )
            if held.first() is None:
                return 0
        async with self._engine.begin() as connection:
            return (await advance_chains(connection, self._scope, now)).released

    async def drain(self, wall: Clock, timeout_s: float) -> int:
        """Deliver every due row, pass after pass, until none is left or ``timeout_s`` of ``wall`` time passed.

        A replay calls it when the recording ends; a pass already in flight is waited for, not doubled.
        """
        deadline = wall.now() + timeout_s
        attempted = 0
        while wall.now() < deadline:
            count = await self.deliver_due()
            if not count:
                break
            attempted += count
        return attempted

    async def give_up_pending(self, reason: str) -> int:
        """Mark this worker's undelivered rows on its channels failed with ``reason`` (a drill that ended)."""
        last_error = func.coalesce(notifications.c.last_error + "; ", "") + reason
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(notifications)
                .where(
                    self._scope,
                    notifications.c.state == "pending",
                    notifications.c.channel.in_(sorted(self._channels)),
                )
                .values(state="failed", last_error=last_error)
            )
        return max(result.rowcount, 0)

    async def fail_undeliverable(self, now: float) -> set[str]:
        """Fail at once, with the reason, every pending row whose channel no configured sender can deliver.

        Returns the pages those rows belong to (their people may now be unreachable). Console rows nobody showed
        within their step's time give up here too.
        """
        pages = await expire_unshown(self._engine, self._scope, now)
        async with self._engine.connect() as connection:  # read first: the common answer is "none"
            found = (
                await connection.execute(
                    select(notifications.c.channel)
                    .where(self._scope, notifications.c.state == "pending")
                    .where(notifications.c.channel.not_in(sorted(self._channels)))
                    .distinct()
                )
            ).scalars()
            channels = [c for c in found if undeliverable_reason(str(c), self._channels) is not None]
        if not channels:
            return pages
        async with self._engine.begin() as connection:
            for channel in channels:
                reason = undeliverable_reason(str(channel), self._channels) or ""
                where = and_(self._scope, notifications.c.state == "pending", notifications.c.channel == channel)
                page_ids = await connection.execute(select(notifications.c.page_id).where(where).distinct())
                pages |= {str(page) for page in page_ids.scalars() if page is not None}
                result = await connection.execute(
                    update(notifications)
                    .where(self._scope, notifications.c.state == "pending", notifications.c.channel == channel)
                    .values(state="failed", last_error=reason, next_attempt_at=now)
                )
                self._metrics.notifications_failed.labels(str(channel)).inc(max(result.rowcount, 0))
                self._metrics.notification_deliveries.labels(str(channel), "failed").inc(max(result.rowcount, 0))
                log.error("%d %s notifications cannot be delivered: %s", result.rowcount, channel, reason)
        return pages

    async def _alarm_unreachable(self, pages: set[str], now: float) -> None:
        """A page that ended on every channel of every person of a role is an alarm: nobody was reached."""
        if not pages:
            return
        async with self._engine.connect() as connection:
            unreachable = await unreachable_roles(connection, pages)
        for page_id, role, errors in unreachable:
            if (page_id, role) in self._unreachable_pages:
                continue
            self._unreachable_pages.add((page_id, role))
            self._metrics.pages_undeliverable.labels(role or "none").inc()
            message = f"page {page_id} reached nobody of role {role or '(none)'}: {'; '.join(errors)[:500]}"
            log.error("%s", message)
            self._unreachable_roles.add(role)
            if self._service_alarms is not None:
                self._service_alarms.raise_service_alarm(
                    PAGE_UNDELIVERABLE_RULE, f"notify:{role}", message, now, notify_routes=True
                )

    def _clear_reached(self, roles: set[str], now: float) -> None:
        """A role reached again clears its undeliverable alarm."""
        for role in roles & self._unreachable_roles:
            self._unreachable_roles.discard(role)
            if self._service_alarms is not None:
                self._service_alarms.clear_service_alarm(PAGE_UNDELIVERABLE_RULE, f"notify:{role}", now)

    async def _claim_due(self, now: float) -> list[dict[str, Any]]:
        # Claiming pushes next_attempt_at past the attempt's time limit (a lease): a second service instance on the
        # same database skips rows in flight, and a crash mid-attempt makes the row due again after the lease.
        # A ``sending`` row past its lease was cut mid-request by a crash (its process would have recorded it).
        query = (
            select(notifications)
            .where(
                self._scope,
                notifications.c.state.in_(OPEN_STATES),
                notifications.c.next_attempt_at <= now,
                # rows of channels without a sender were failed by fail_undeliverable; console rows wait to be shown
                notifications.c.channel.in_(sorted(self._channels)),
            )
            .order_by(notifications.c.next_attempt_at, notifications.c.id)
            .limit(self._config.batch_size)
        )
        lease_until = now + self._config.request_timeout_s * 2
        claimed = []
        unknown: list[dict[str, Any]] = []
        async with self._engine.begin() as connection:
            if self.fence is not None:
                await self.fence(connection)
            for found in (await connection.execute(query)).mappings().all():
                row = dict(found)
                cut = row["state"] == "sending"
                values: dict[str, Any] = {"state": "sending", "next_attempt_at": lease_until}
                if cut and not resend_is_safe(row):
                    values = {"state": "outcome_unknown", "last_error": OUTCOME_UNKNOWN, "next_attempt_at": now}
                result = await connection.execute(
                    update(notifications)
                    .where(
                        notifications.c.id == row["id"],
                        notifications.c.state == row["state"],
                        notifications.c.next_attempt_at <= now,
                    )
                    .values(**values)
                )
                if result.rowcount != 1:
                    continue
                if values["state"] == "outcome_unknown":
                    unknown.append(row)
                    continue
                if cut:
                    log.warning("notification %s was cut mid-request by a crash: sent again, same Idempotency-Key "
                                "(its receiver drops repeats)", row["id"])  # fmt: skip
                claimed.append({**row, "state": "sending"})
        for lost in unknown:
            self._outcome_unknown(lost, now)
        return claimed

    def _outcome_unknown(self, row: Mapping[str, Any], now: float) -> None:
        message = f"notification {row['id']} via {row['channel']} to {redact(str(row['recipient']))}: {OUTCOME_UNKNOWN}"
        log.error("%s", message)
        self._metrics.notification_deliveries.labels(str(row["channel"]), "outcome_unknown").inc()
        if self._service_alarms is not None:
            self._service_alarms.raise_service_alarm(OUTCOME_UNKNOWN_RULE, f"notify:{row['id']}", message, now)

    async def _group_storms(self, rows: list[dict[str, Any]], now: float) -> list[tuple[dict[str, Any], int]]:
        """Apply the storm rule (``storms.plan_storms``): what goes now, what waits, what rides along."""
        window = self._config.storm_window_s
        if window <= 0 or not any(row["chain_key"] is not None for row in rows):
            return [(row, 1) for row in rows]
        recent = select(
            notifications.c.chain_key, notifications.c.channel, notifications.c.delivered_at, notifications.c.payload
        ).where(self._scope, notifications.c.chain_key.is_not(None), notifications.c.delivered_at >= now - window)
        last_sent: dict[tuple[str, str], float] = {}
        last_urgent: dict[tuple[str, str], float] = {}
        async with self._engine.connect() as connection:
            for found in (await connection.execute(recent)).mappings():
                sent = dict(found)
                key = (str(person_of(sent)), str(sent["channel"]))
                last_sent[key] = max(last_sent.get(key, 0.0), float(sent["delivered_at"]))
                if row_tier(sent) in URGENT_TIERS:
                    last_urgent[key] = max(last_urgent.get(key, 0.0), float(sent["delivered_at"]))
        decision = plan_storms(rows, last_sent, last_urgent, now, window)
        async with self._engine.begin() as connection:
            for row_id, until in decision.wait:
                await connection.execute(
                    update(notifications)
                    .where(notifications.c.id == row_id, notifications.c.state.in_(OPEN_STATES))
                    .values(state="pending", next_attempt_at=until)
                )
            for row_id, carrier in decision.merged:
                await connection.execute(
                    update(notifications)
                    .where(notifications.c.id == row_id, notifications.c.state.in_(OPEN_STATES))
                    .values(
                        state="delivered", delivered_at=now, last_error=f"sent together with notification {carrier}"
                    )
                )
        return decision.send

    async def _attempt(self, row: dict[str, Any], now: float, grouped: int = 1) -> AttemptResult:
        result = functools.partial(
            AttemptResult,
            int(row["id"]),
            str(row["channel"]),
            float(row["created_at"]),
            int(row["attempts"]) + 1,
            page_id=row["page_id"],
            role=row["role"],
        )
        channel = self._channels.get(str(row["channel"]))
        if channel is None:
            return result(f"no channel {row['channel']!r}", permanent=True)
        try:
            delivery = decode_row(row, now)
        except ValueError as exc:
            return result(str(exc), permanent=True)
        if grouped > 1:
            delivery = dataclasses.replace(delivery, extra={**delivery.extra, "grouped": grouped})
        refusal = self._refusal(bool(row["drill"]), delivery.target)
        if refusal is not None:
            log.error("notification %s not sent: %s", row["id"], refusal)
            return result(refusal, permanent=True)
        self._unsent.pop(int(row["id"]), None)  # from here on the request may reach the receiver
        try:
            async with asyncio.timeout(self._config.request_timeout_s):
                await channel.send(delivery)
        except DeliveryError as exc:
            return result(str(exc), permanent=exc.permanent)
        except TimeoutError:
            return result("timed out")
        return result(None)

    def _refusal(self, drill: bool, target: ChannelTarget) -> str | None:
        """Why a row must not go to its target: defence in depth behind the routing, which should never ask."""
        drill_target = target.key() in self._drill_targets
        if drill and not drill_target:
            return f"refused: a drill page goes only to drill-route destinations, not {target.type} {target.key()[1]}"
        if not drill and drill_target:
            return f"refused: a live page never goes to a drill-route destination ({target.type} {target.key()[1]})"
        return None

    def outcome_values(self, result: AttemptResult, now: float) -> dict[str, Any]:
        """The row's new columns after an attempt."""
        if result.error is None:
            return {"state": "delivered", "delivered_at": now, "attempts": result.attempts, "last_error": None}
        out_of_budget = now - result.created_at >= self._config.give_up_after_s
        return {
            "state": "failed" if result.permanent else "given_up" if out_of_budget else "pending",
            "attempts": result.attempts,
            "last_error": redact(result.error)[:1000],  # GET /api/notifications shows it
            "next_attempt_at": now + backoff(result.attempts, self._config),
        }

    async def attempt(self, row: dict[str, Any], now: float) -> AttemptResult:
        """One attempt at a row (the memory path: ``daemon.notify.memory_delivery``); the caller records it."""
        return await self._attempt(row, now)

    async def _record(self, results: list[AttemptResult], now: float) -> None:
        async with self._engine.begin() as connection:
            for result in results:
                where = and_(notifications.c.id == result.row_id, notifications.c.state.in_(OPEN_STATES))
                values = self.outcome_values(result, now)
                await connection.execute(update(notifications).where(where).values(**values))
        self.count_outcomes(results, now)

    def count_outcomes(self, results: list[AttemptResult], now: float) -> None:
        """Metrics and log lines of recorded attempts, and the channels' failing state."""
        config = self._config
        for result in results:
            out_of_budget = now - result.created_at >= config.give_up_after_s
            outcome = (
                "delivered"
                if result.error is None
                else "failed"
                if result.permanent
                else "given_up"
                if out_of_budget
                else "retry"
            )
            self._metrics.notification_deliveries.labels(result.channel, outcome).inc()
            if result.error is None and result.page_id is not None:
                self._metrics.page_first_delivery_seconds.observe(max(now - result.created_at, 0.0))
            if result.error is None:
                self._metrics.notifications_sent.labels(result.channel).inc()
                self._metrics.notification_delivery_seconds.labels(result.channel).observe(
                    max(now - result.created_at, 0.0)
                )
            else:
                self._metrics.notifications_failed.labels(result.channel).inc()
                log.warning("notification %d via %s failed: %s", result.row_id, result.channel, redact(result.error))
        self._track_channels(results, now)

    def _track_channels(self, results: list[AttemptResult], now: float) -> None:
        outcome: dict[str, bool] = {}
        for result in results:
            if result.permanent:
                continue  # a corrupt row says nothing about the channel's health
            outcome[result.channel] = outcome.get(result.channel, False) or result.error is None
        for channel, succeeded in outcome.items():
            self._metrics.notification_channel_failing.labels(channel).set(0 if succeeded else 1)
            if succeeded:
                self._failing_since.pop(channel, None)
                if channel in self._alarmed and self._service_alarms is not None:
                    self._service_alarms.clear_service_alarm(CHANNEL_FAILING_RULE, f"notify:{channel}", now)
                self._alarmed.discard(channel)
                continue
            since = self._failing_since.setdefault(channel, now)
            if now - since >= self._config.channel_failing_alarm_s and channel not in self._alarmed:
                self._alarmed.add(channel)
                log.error("notification channel %s failing for %.0f s", channel, now - since)
                if self._service_alarms is not None:
                    self._service_alarms.raise_service_alarm(
                        CHANNEL_FAILING_RULE,
                        f"notify:{channel}",
                        f"notification channel {channel} failing for {now - since:.0f} s",
                        now,
                    )

    async def resend_firing(self) -> int:
        """Re-send delivered Alertmanager alerts whose alarm still fires (Alertmanager expires silent alerts)."""
        now = self._clock.now()
        if now - self._last_resend < self._config.alertmanager_resend_s:
            return 0
        self._last_resend = now
        channel = self._channels.get("alertmanager")
        if channel is None:
            return 0
        query = (
            select(notifications)
            .join(alarms, alarms.c.id == notifications.c.alarm_id)
            .where(
                self._scope,
                notifications.c.channel == "alertmanager",
                notifications.c.event == "alarm",
                notifications.c.state == "delivered",
                alarms.c.cleared_at.is_(None),
            )
        )
        async with self._engine.connect() as connection:
            rows = [dict(r) for r in (await connection.execute(query)).mappings().all()]
        sent = 0
        for row in rows:
            try:
                async with asyncio.timeout(self._config.request_timeout_s):
                    await channel.send(decode_row(row, now))
                sent += 1
            except (DeliveryError, ValueError, TimeoutError) as exc:
                log.warning("alertmanager re-send of notification %s failed: %s", row["id"], redact(str(exc)))
        return sent

    async def refresh_gauges(self) -> None:
        """Pending / unacknowledged counts and the oldest unacknowledged age, for /metrics."""
        now = self._clock.now()
        unacked = and_(
            notifications.c.state == "delivered",
            notifications.c.acknowledged_at.is_(None),
            notifications.c.event != "resolved",
        )
        async with self._engine.connect() as connection:
            pending = (
                await connection.execute(
                    select(func.count()).where(self._scope, notifications.c.state.in_(OPEN_STATES))
                )
            ).scalar_one()
            count, oldest = (
                await connection.execute(
                    select(func.count(), func.min(notifications.c.created_at)).where(self._scope, unacked)
                )
            ).one()
        self._metrics.notifications_pending.set(pending)
        self._metrics.notifications_unacknowledged.set(count)
        self._metrics.notification_oldest_unacknowledged_age.set(0.0 if oldest is None else max(now - oldest, 0.0))
