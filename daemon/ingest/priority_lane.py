"""The priority lane: a second MQTT session for the devices whose alarms must not wait behind a backlog.

A broker keeps one queue per session, in publish order (MQTT 5.0 section 4.6). Under overload the service's session
queues minutes of bulk input, and a reading of a sealed-source monitor published now waits behind all of it: the
service's look-ahead and pre-screen (``priority.py``) can only reorder what it has received, at most a receive
window's worth (packet ids are 16 bits). In bench/overload.py at 3x capacity for 60 s, alarm latency recovered
62-241 s after the load ended. The only queue the broker keeps apart is another session's: the priority lane
subscribes to the priority devices' topics on its own session, with its own small receive window, and what it
delivers is judged within a batch window, ahead of the look-ahead.

MQTT cannot subscribe to "everything but these topics", so the main session still receives the priority devices'
messages (``<prefix>/#``; undeclared devices must still be quarantined, and nothing depends on the lane being up).
Each message then comes twice, once per session. ``LaneCopies`` pairs them: each session delivers a topic's messages
in publish order, so the second copy of a message is the first unmatched copy from the other session with the same
bytes. The first copy is judged; the second is acknowledged (after the rows queued so far commit) and dropped.
Acknowledging it early loses nothing: until its rows commit, the first copy stays unacknowledged on its own
session, which delivers it again after a crash.

A message only one session ever delivers (published before the lane's subscription existed, or after a session
expired) is judged once, from the session that has it; the other session's unmatched copies before a match are
dropped from memory then (its order says they will never come). What each session delivered unmatched is bounded per
topic (``UNMATCHED_PER_TOPIC``); past it the oldest is forgotten, and a copy arriving later falls back to the
pipeline's memory of seen readings (``seen_readings``), as after a restart, when this pairing starts empty.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable
from enum import IntEnum

from daemon.ingest.mqtt import Ack, MessageHandler
from daemon.metrics.instruments import Metrics
from rules.sensor_table import SensorTable

# Unmatched copies remembered per topic and session: a priority device's messages during a long main-session backlog.
UNMATCHED_PER_TOPIC = 100_000
# How far back (in the pipeline's seen-reading generations, 200,000 readings each) a start looks for the lane's
# readings (``Pipeline.keep_apart``): a main-session backlog of up to 2 M readings at a restart. hazwatch default.
LANE_SEEN_SCAN = 10


class Lane(IntEnum):
    """The session a message came on."""

    MAIN = 0
    PRIORITY = 1


def priority_topics(table: SensorTable, prefix: str, devices: Iterable[str]) -> list[str]:
    """The data and status topics of the site's devices named (by id or by type) in ``devices``."""
    wanted = set(devices)
    base = f"{prefix.strip('/')}/{table.site.site}"
    topics: list[str] = []
    for device in table.devices:
        if device.id in wanted or device.type.value in wanted:
            topics += [f"{base}/{device.id}", f"{base}/{device.id}/status"]
    return topics


class LaneCopies:
    """Pairs the two copies of each message on the priority topics, one per session."""

    def __init__(self, topics: Iterable[str], per_topic: int = UNMATCHED_PER_TOPIC) -> None:
        self._unmatched: dict[str, tuple[deque[bytes], deque[bytes]]] = {
            topic: (deque(maxlen=per_topic), deque(maxlen=per_topic)) for topic in topics
        }

    @property
    def topics(self) -> list[str]:
        """The priority topics (what the lane subscribes to)."""
        return list(self._unmatched)

    def first_copy(self, lane: Lane, topic: str, payload: bytes) -> bool:
        """True when this is the first copy of the message (judge it); False: the other session delivered it first."""
        queues = self._unmatched.get(topic)
        if queues is None:
            return True  # not a priority topic: only the main session receives it
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        other = queues[1 - lane]
        for position, seen in enumerate(other):
            if seen == digest:
                # The other session's copies before it were never sent here (this session would have delivered
                # them first): forget them too.
                for _ in range(position + 1):
                    other.popleft()
                return False
        queues[lane].append(digest)
        return True

    def unmatched(self) -> int:
        """Copies remembered in all (memory)."""
        return sum(len(main) + len(priority) for main, priority in self._unmatched.values())

    def unmatched_from(self, lane: Lane) -> int:
        """Copies ``lane`` delivered that the other session has not (yet): from PRIORITY, how many messages the main
        session's queue is behind the lane."""
        return sum(len(queues[lane]) for queues in self._unmatched.values())

    def is_priority(self, topic: str) -> bool:
        """Whether ``topic`` is one of the lane's."""
        return topic in self._unmatched


def lane_handler(
    copies: LaneCopies,
    lane: Lane,
    handler: MessageHandler,
    acknowledge: Callable[[list[Ack]], None],
    metrics: Metrics | None = None,
) -> MessageHandler:
    """``handler`` for the first copy of each message from ``lane``; the second copy is acknowledged with
    ``acknowledge`` (once everything queued so far has committed) and dropped. ``metrics``: the lane's figures
    (``hazwatch_priority_lane_*``), updated with each priority topic's message."""

    def handle(topic: str, payload: bytes, received: float, ack: Ack | None) -> None:
        first = copies.first_copy(lane, topic, payload)
        if metrics is not None and copies.is_priority(topic):
            if first:
                metrics.priority_lane_messages.labels(lane.name.lower()).inc()
            metrics.priority_lane_main_behind.set(copies.unmatched_from(Lane.PRIORITY))
        if first:
            handler(topic, payload, received, ack)
        elif ack is not None:
            acknowledge([ack])

    return handle
