"""Background tasks that never die silently: a task that fails is logged, counted, restarted, and shows in /healthz.

A dead flush timer once left batches closing only when full while /healthz said "ok". Every long-running task of
the service runs here instead of in a bare ``asyncio.create_task``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

from daemon.clock import Clock
from daemon.metrics.instruments import Metrics

log = logging.getLogger(__name__)
# How long /healthz reports a task's failure after it was restarted.
RECENT_FAILURE_S = 300.0
RESTART_MIN_S = 0.1
RESTART_MAX_S = 30.0
# A cancelled task that has not ended after this long lost its cancellation (e.g. Python 3.11's wait_for drops one
# that arrives as the awaited thing completes, CPython gh-86296): log where it is and cancel it again, so a stop
# never waits for ever on one task.
CANCEL_GRACE_S = 5.0

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class TaskHealth:
    """What /healthz says about one task."""

    restarts: int = 0
    last_failure_at: float | None = None
    last_error: str = ""
    running: bool = False


class Supervisor:
    """Runs named tasks, restarting each (with back-off) whenever it raises."""

    def __init__(self, metrics: Metrics, clock: Clock, cancel_grace_s: float = CANCEL_GRACE_S) -> None:
        self._metrics = metrics
        self._cancel_grace_s = cancel_grace_s
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.health: dict[str, TaskHealth] = {}

    def start(self, name: str, factory: TaskFactory) -> None:
        """Run ``factory()`` as task ``name``; a new coroutine from it replaces one that failed."""
        self.health[name] = TaskHealth()
        self._tasks[name] = asyncio.create_task(self._keep_running(name, factory), name=name)

    async def _keep_running(self, name: str, factory: TaskFactory) -> None:
        health = self.health[name]
        delay = RESTART_MIN_S
        while True:
            health.running = True
            started = self._clock.now()
            try:
                await factory()
            except asyncio.CancelledError:
                health.running = False
                raise
            except Exception as exc:
                health.running = False
                health.restarts += 1
                health.last_failure_at = self._clock.now()
                health.last_error = f"{type(exc).__name__}: {exc}"[:200]
                self._metrics.task_restarts.labels(name).inc()
                log.exception("background task %s failed; restarting it in %.1fs", name, delay)
            else:
                health.running = False
                log.info("background task %s finished", name)
                return
            await asyncio.sleep(delay)
            # A task that ran a while before failing starts the back-off again.
            delay = RESTART_MIN_S if self._clock.now() - started > RESTART_MAX_S else min(delay * 2, RESTART_MAX_S)

    def running(self, name: str) -> bool:
        """Whether task ``name`` was started and not stopped."""
        return name in self._tasks

    async def stop_one(self, name: str) -> None:
        """Cancel task ``name`` (if it runs) and wait for it: a follower of a high-availability pair sends no pages."""
        task = self._tasks.pop(name, None)
        if task is not None:
            await end_task(task, self._cancel_grace_s)

    def problems(self, now: float) -> dict[str, str]:
        """Tasks that failed recently, with why."""
        out: dict[str, str] = {}
        for name, health in self.health.items():
            if health.last_failure_at is not None and now - health.last_failure_at < RECENT_FAILURE_S:
                out[name] = f"failed {now - health.last_failure_at:.0f}s ago ({health.restarts} restarts): " + (
                    health.last_error
                )
        return out

    async def stop(self) -> None:
        """Cancel every task and wait for it."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            await end_task(task, self._cancel_grace_s)
        self._tasks.clear()


async def end_task(task: asyncio.Task[Any], grace_s: float = CANCEL_GRACE_S) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again (and saying where it was) each time it runs
    on ``grace_s`` after a cancellation."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=grace_s)
        if not task.done():
            log.error(
                "background task %s still runs %.1fs after it was cancelled; cancelling it again. It is at:\n%s",
                task.get_name(),
                grace_s,
                await_chain(task),
            )
    with contextlib.suppress(asyncio.CancelledError):
        await task


def await_chain(task: asyncio.Task[Any]) -> str:
    """Where ``task`` is suspended: each coroutine down its chain of awaits (``print_stack`` shows only the top)."""
    frames: list[traceback.FrameSummary] = []
    awaited: object = task.get_coro()
    while isinstance(awaited, CoroutineType) and awaited.cr_frame is not None:
        frame = awaited.cr_frame
        frames.append(traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        awaited = awaited.cr_await
    return "".join(traceback.format_list(frames)) + (f"  awaiting {awaited!r}\n" if awaited is not None else "")
