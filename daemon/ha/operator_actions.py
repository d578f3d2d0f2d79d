"""Operator actions of a high-availability pair: one record in the database, applied by the leader, mirrored by both.

Either instance takes the request (console, API, a page's link). It writes the action to ``operator_actions`` and
notifies the channel below (PostgreSQL LISTEN/NOTIFY, with a short poll behind it). The leader applies pending
actions in order through its engines (``EngineOperations``: the alarm book, the incident engine, the stored rows),
under its fencing token, and records the answer; the instance that took the request returns that answer. The
follower mirrors every applied action into its own engines (``daemon.ha.mirror``), so an acknowledgement made on
either console stops the leader's escalation at once and is still there after a takeover.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.ha.fence import Fence
from daemon.ha.leadership import asyncpg_dsn
from daemon.ha.mirror import Engines, mirror
from daemon.store.schema import operator_actions
from daemon.web.api.errors import ApiError, Conflict, Forbidden, InvalidRequest, NotFound
from daemon.web.api.operations import Operations

log = logging.getLogger(__name__)
CHANNEL = "hazwatch_operator_actions"
FINAL = ("done", "refused")
ERRORS: dict[int, type[ApiError]] = {400: InvalidRequest, 403: Forbidden, 404: NotFound, 409: Conflict}


class ActionPendingError(ApiError):
    """Recorded, not applied yet: no leader answered in time (the leader, or the next one, applies it)."""

    status = 202


class ActionLog:
    """Submits, applies (leader) and mirrors (follower) operator actions; ``run`` listens for new ones."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: str,
        local: Operations,
        engines: Callable[[], Engines],
        fence: Fence,
        is_leader: Callable[[], bool],
        *,
        timeout_s: float,
        poll_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._dsn = asyncpg_dsn(url)
        self._local = local
        self._engines = engines  # called at each mirror: a rules reload replaces the flow's engines
        self._fence = fence
        self._is_leader = is_leader
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._lock = asyncio.Lock()  # one action at a time, in id order, whoever calls
        self._seen = 0  # the last action this instance applied or mirrored
        self._answers: dict[int, Any] = {}  # action id -> the answer (or the ApiError) for a waiting request
        self._progress = asyncio.Condition()
        self._wakeup = asyncio.Event()

    # --- taking a request

    async def submit(self, kind: str, args: dict[str, Any]) -> Any:
        """Record one action and return its answer (or raise its refusal), whichever instance applies it."""
        async with self._engine.begin() as connection:
            action_id = (
                await connection.execute(
                    insert(operator_actions)
                    .values(kind=kind, args=json.dumps(args), submitted_at=float(args["now"]), state="pending")
                    .returning(operator_actions.c.id)
                )
            ).scalar_one()
            await connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": str(action_id)})
        if self._is_leader():
            await self.apply_pending()
        try:
            async with asyncio.timeout(self._timeout_s), self._progress:
                await self._progress.wait_for(lambda: action_id in self._answers)
        except TimeoutError:
            raise ActionPendingError(
                f"operator action {action_id} is recorded; no leader has applied it yet (it will be applied when "
                "one does)"
            ) from None
        answer = self._answers.pop(action_id)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    # --- the leader applies, the follower mirrors

    async def apply_pending(self) -> None:
        """Leader: apply every pending action (and any an old leader left half-applied), oldest first."""
        async with self._lock:
            await self._mirror_applied()  # what an old leader finished and this instance has not seen yet
            epoch = self._fence.epoch
            if epoch is None:
                return
            query = (
                select(operator_actions)
                .where(operator_actions.c.id > self._seen, operator_actions.c.state.not_in(FINAL))
                .order_by(operator_actions.c.id)
            )
            async with self._engine.connect() as connection:
                rows = (await connection.execute(query)).mappings().all()
            for row in rows:
                if not await self._claim(int(row["id"]), epoch):
                    return  # fenced out: the new leader applies the rest
                answer, state, stored = await self._apply(row["kind"], json.loads(row["args"]))
                async with self._engine.begin() as connection:
                    await self._fence(connection)
                    await connection.execute(
                        update(operator_actions)
                        .where(operator_actions.c.id == row["id"])
                        .values(state=state, result=stored)
                    )
                    await connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": str(row["id"])})
                await self._answered(int(row["id"]), answer)

    async def mirror_applied(self) -> None:
        """Follower (and a leader taking over, before it writes): copy applied actions into this instance's engines."""
        async with self._lock:
            await self._mirror_applied()

    async def _mirror_applied(self) -> None:
        query = select(operator_actions).where(operator_actions.c.id > self._seen).order_by(operator_actions.c.id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        for row in rows:
            if row["state"] not in FINAL:
                return  # applied in order: nothing after an unapplied action is mirrored before it
            if row["state"] == "done":
                await mirror(row["kind"], self._engines(), self._engine, json.loads(row["args"]))
            await self._answered(int(row["id"]), _answer(row["state"], row["result"]))

    async def _claim(self, action_id: int, epoch: int) -> bool:
        try:
            async with self._engine.begin() as connection:
                await self._fence(connection)
                claimed = await connection.execute(
                    update(operator_actions)
                    .where(
                        operator_actions.c.id == action_id,
                        (operator_actions.c.state == "pending")
                        | ((operator_actions.c.state == "applying") & (operator_actions.c.epoch < epoch)),
                    )
                    .values(state="applying", epoch=epoch)
                )
        except Exception as exc:  # fenced out, or the database went away: leave it to the leader
            log.warning("HA: operator action %d not applied here: %s", action_id, exc)
            return False
        return bool(claimed.rowcount)

    async def _apply(self, kind: str, args: dict[str, Any]) -> tuple[Any, str, str]:
        """The answer, the stored state and the stored result of one action applied through the engines."""
        try:
            answer = await getattr(self._local, kind)(**args)
        except ApiError as exc:
            return exc, "refused", json.dumps({"status": exc.status, "error": str(exc)})
        except Exception as exc:
            log.exception("HA: operator action %s failed", kind)
            return (
                ApiError(f"the action failed on the leader: {type(exc).__name__}"),
                "refused",
                json.dumps({"status": 500, "error": "the action failed on the leader (logged)"}),
            )
        return answer, "done", json.dumps(answer, default=str)

    async def _answered(self, action_id: int, answer: Any) -> None:
        self._seen = max(self._seen, action_id)
        async with self._progress:
            self._answers[action_id] = answer
            self._progress.notify_all()
        if len(self._answers) > 1000:  # answers nobody here waits for (actions taken on the other instance)
            for old in sorted(self._answers)[:-100]:
                self._answers.pop(old, None)

    def wake(self) -> None:
        """Look for actions now (a new leader applies what is pending)."""
        self._wakeup.set()

    # --- listening

    async def run(self) -> None:
        """React to new and applied actions at once (LISTEN), and poll in case a notification was missed."""
        connection: Any = None
        try:
            while True:
                if connection is None or connection.is_closed():
                    connection = await self._listen()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wakeup.wait()
                self._wakeup.clear()
                try:
                    await (self.apply_pending() if self._is_leader() else self.mirror_applied())
                except Exception:  # the database may be briefly unavailable: try again on the next round
                    log.exception("HA: operator actions pass failed; retrying")
        finally:
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    async def _listen(self) -> Any:
        try:
            connection = await asyncpg.connect(**self._dsn, timeout=5)
            await connection.add_listener(CHANNEL, lambda *_: self._wakeup.set())
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("HA: cannot listen for operator actions (%s); polling", exc)
            return None
        return connection


def _answer(state: str, stored: str | None) -> Any:
    data = json.loads(stored or "null")
    if state == "done":
        return data
    status = int(data.get("status", 500)) if isinstance(data, dict) else 500
    message = str(data.get("error", "refused")) if isinstance(data, dict) else "refused"
    error = ERRORS.get(status, ApiError)(message)
    if error.status != status:
        error.status = status
    return error
