"""Before pytest-timeout fails a test, print where every asyncio task is waiting.

pytest-timeout prints each thread's stack, but an event loop that waits for ever shows only ``select()``: the task
that holds the test (a stop waiting on a worker that lost its cancellation, say) is invisible. A timer thread fires
a few seconds before the timeout and prints each task's chain of awaits to stderr, which pytest shows with the
failure. tests/conftest.py imports the autouse fixture.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

MARGIN_S = 5.0  # printed this long before pytest-timeout fires


def _timeout_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 0)


def _report(name: str) -> None:
    # Imported here: tests/conftest.py imports this module, and the xdist controller should not pay for the daemon.
    from daemon.tasks.supervisor import await_chain

    # asyncio keeps every task of every loop in this WeakSet; read from this thread (the loop is stuck anyway).
    every: set[asyncio.Task[Any]] = getattr(asyncio.tasks, "_all_tasks")  # noqa: B009 - private, untyped
    try:
        tasks = list(every)
    except RuntimeError:  # the set changed while being copied: one more try
        tasks = list(every)
    pending = [t for t in tasks if not t.done()]
    lines = [f"\n+++ {name}: {MARGIN_S:.0f}s before its timeout, {len(pending)} asyncio tasks are waiting +++"]
    for task in pending:
        lines.append(f"--- task {task.get_name()} ---\n{await_chain(task)}")
    print("\n".join(lines), file=sys.stderr, flush=True)


@pytest.fixture(autouse=True)
def report_tasks_before_a_timeout(request: pytest.FixtureRequest) -> Iterator[None]:
    timeout = _timeout_of(request.node)
    if timeout <= MARGIN_S:
        yield
        return
    timer = threading.Timer(timeout - MARGIN_S, _report, args=(request.node.nodeid,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
