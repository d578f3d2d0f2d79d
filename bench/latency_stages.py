"""Where an alarm page's time goes: a timestamp per stage of one event, from publish to the page request received.

The bench arms the probe before it publishes an event (one at a time) and reads it when the page arrives. The probe
wraps the methods each stage passes through, at class level and before the service is built (a bound method
captured at start would not see a later patch); each wrapper marks its stage the first time it runs after the stage
before it was marked, so the unrelated background traffic (gamma readings, other commits) does not move the marks.
Every mark keeps the wall time (``perf_counter``), this process's CPU time (``process_time``, every thread) and the
event loop thread's CPU time (``thread_time``; every mark is made on the loop's thread): on a machine shared with
other work, the wall time between two marks includes waiting for a core, the CPU times do not, and the loop's
column leaves out the other threads (the writer's database thread, the assessment's).

Stages, in order:

- received: the MQTT message reached the intake (publish -> here: client, broker, paho, loop);
- batch_closed: the intake batch holding it closed (the batching window);
- decoded: its batch entered the pipeline (decode, in place or in a worker);
- detected: the detection core finished the batch;
- outbox_queued: the page's outbox row was queued on the store writer (rules, alarm book, plan, outbox);
- commit_started: the writer began the transaction holding the row (waiting for the commit before it);
- committed: that transaction committed (the commit itself, fsync included);
- handed_over: the delivery worker took the row (claimed in the commit and handed over by the after-commit hook;
  before that: woken by the commit, a claim transaction of its own);
- send_started: the channel's ``send`` began;
- request_received: the receiver got the request (set by the bench).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from daemon.ingest.intake import Intake
from daemon.notify.worker import DeliveryWorker
from daemon.store.schema import notifications
from daemon.store.writer import StoreWriter, WriteGroup
from detectors.core import DetectionCore

STAGES = (
    "publish",
    "received",
    "batch_closed",
    "decoded",
    "detected",
    "outbox_queued",
    "commit_started",
    "committed",
    "handed_over",
    "send_started",
    "request_received",
)


class StageProbe:
    """Stage marks of the armed event; ``events`` keeps every finished one."""

    def __init__(self) -> None:
        self.topic: str | None = None
        self.marks: dict[str, tuple[float, float, float]] = {}
        self.events: list[dict[str, tuple[float, float, float]]] = []

    def arm(self, topic: str) -> None:
        """The next event goes to ``topic``; marks start now (publish)."""
        self.topic = topic
        self.marks = {}
        self.mark("publish")

    def finish(self) -> None:
        """The page arrived: keep this event's marks."""
        if self.topic is None:
            return
        self.mark("request_received")
        self.events.append(self.marks)
        self.topic = None

    def mark(self, stage: str) -> None:
        """Record ``stage`` once, and only after the stage before it."""
        if self.topic is None or stage in self.marks:
            return
        index = STAGES.index(stage)
        required = STAGES[index - 1] if index else None
        if required is not None and required not in self.marks:
            return
        self.marks[stage] = (time.perf_counter(), time.process_time(), time.thread_time())

    def reached(self, stage: str) -> bool:
        """Whether the armed event passed ``stage``."""
        return stage in self.marks

    def report(self) -> list[str]:
        """Per stage: median and p99 of the wall time, the process's CPU time and the event loop thread's CPU time
        spent since the stage before (every mark is made on the loop's thread)."""
        header = ("wall p50", "wall p99", "CPU p50", "CPU p99", "loop p50", "loop p99")
        lines = [f"{'stage':<18}" + "".join(f"{h:>10}" for h in header) + "  (ms, n)"]
        for stage in STAGES[1:]:
            spans: list[list[float]] = [[], [], []]
            for marks in self.events:
                if stage not in marks:
                    continue
                before = next(s for s in reversed(STAGES[: STAGES.index(stage)]) if s in marks)
                for column in range(3):
                    spans[column].append((marks[stage][column] - marks[before][column]) * 1000)
            if spans[0]:
                figures = [float(np.percentile(column, q)) for column in spans for q in (50, 99)]
                lines.append(f"{stage:<18}" + "".join(f"{f:>10.1f}" for f in figures) + f"  ({len(spans[0])})")
        totals = [(m["request_received"][1] - m["publish"][1]) * 1000 for m in self.events if "request_received" in m]
        if totals:
            t50, t99 = np.percentile(totals, [50, 99])
            lines.append(f"CPU of this process from publish to request: p50 {t50:.1f} ms, p99 {t99:.1f} ms")
        return lines


def _wrap(owner: type, name: str, before: Callable[..., object] | None, after: Callable[..., object] | None) -> None:
    original = getattr(owner, name)

    if _is_coroutine(original):

        @functools.wraps(original)
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if before is not None:
                before(self, *args, **kwargs)
            result = await original(self, *args, **kwargs)
            if after is not None:
                after(self, result, *args, **kwargs)
            return result

        setattr(owner, name, async_wrapper)
        _patched.append((owner, name, original))
        return

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before(self, *args, **kwargs)
        result = original(self, *args, **kwargs)
        if after is not None:
            after(self, result, *args, **kwargs)
        return result

    setattr(owner, name, wrapper)
    _patched.append((owner, name, original))


def _is_coroutine(function: Any) -> bool:
    import inspect  # only here

    return inspect.iscoroutinefunction(function)


_patched: list[tuple[type, str, Any]] = []


def _has_page(group: WriteGroup) -> bool:
    return bool(group.insert_once.get(notifications))


@contextmanager
def installed(probe: StageProbe, channel_type: type) -> Iterator[None]:
    """Patch the stage methods (``channel_type``: the sender class whose ``send`` the page goes through)."""

    def on_accept(_intake: Intake, topic: str, *_: Any, **__: Any) -> None:
        if topic == probe.topic:
            probe.mark("received")

    def on_submit(_intake: Intake, raw: list[tuple[str, bytes, float]], *_: Any, **__: Any) -> None:
        if any(message[0] == probe.topic for message in raw):  # the closed batch holds the event's message
            probe.mark("batch_closed")

    def on_write(_writer: StoreWriter, _connection: Any, group: WriteGroup) -> None:
        if probe.reached("outbox_queued") and _has_page(group):
            probe.mark("commit_started")

    _wrap(Intake, "accept", on_accept, None)
    _wrap(Intake, "_submit", on_submit, None)
    _wrap(Intake, "_apply", lambda *_, **__: probe.mark("decoded"), None)
    _wrap(DetectionCore, "process", None, lambda *_, **__: probe.mark("detected"))
    _wrap(StoreWriter, "add_notification", lambda *_, **__: probe.mark("outbox_queued"), None)
    _wrap(StoreWriter, "_write", on_write, None)
    _wrap(DeliveryWorker, "_claim_due", None, lambda _w, rows, *_, **__: probe.mark("handed_over") if rows else None)
    _wrap(DeliveryWorker, "hand_over", lambda _w, rows, *_, **__: probe.mark("handed_over") if rows else None, None)
    _wrap(channel_type, "send", lambda *_, **__: probe.mark("send_started"), None)
    try:
        yield
    finally:
        while _patched:
            owner, name, original = _patched.pop()
            setattr(owner, name, original)


def commit_hook(probe: StageProbe) -> Callable[[WriteGroup], None]:
    """An ``after_commit`` hook marking the commit of the page's row (put it first in the writer's list)."""

    def hook(group: WriteGroup) -> None:
        if probe.reached("commit_started") and _has_page(group):
            probe.mark("committed")

    return hook
