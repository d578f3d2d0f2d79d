"""What /healthz reports beyond a broker connection and a database ping: stalls, ingest lag, a full receive window
(the broker queues more than the service takes: overload), failed tasks, a store that cannot write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.clock import Clock
from daemon.ingest.intake import Intake
from daemon.store.writer import StoreWriter
from daemon.tasks.supervisor import Supervisor

# Share of the MQTT receive window in use from which the broker is taken to hold more than the service can see.
WINDOW_FULL = 0.8


@dataclass(slots=True)
class ServiceHealth:
    """Reads the running parts at each probe; ``check`` says whether the service does its job right now."""

    intake: Intake
    writer: StoreWriter
    supervisor: Supervisor
    clock: Clock
    stall_after_s: float
    lag_degraded_s: float = 30.0
    behind_degraded_s: float = 10.0  # beyond the sensors' usual lateness (ingest/lateness.py)
    receive_window: int = 0  # the MQTT 5 Receive Maximum (0: unknown, not judged)
    # Whether the priority lane's session is connected (None: no lane). Said, not judged: the main session still
    # receives every topic, so a lane down delays nothing that one session would not.
    priority_lane_connected: Callable[[], bool | None] = lambda: None
    # Supervisors stopped apart from the service's own (a high-availability pair's, which must stop last).
    more_supervisors: tuple[Supervisor, ...] = ()

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details): unhealthy when a batch is stuck, input piles up, a task failed lately or writes keep
        failing."""
        now = self.clock.now()
        waiting, oldest = self.intake.waiting()
        lag = 0.0 if oldest is None else max(0.0, now - oldest)
        last = self.intake.last_applied_at
        # Messages wait and nothing went through for a while: the chain is stuck (a dead timer, a hung worker).
        stalled = waiting > 0 and lag > self.stall_after_s and (last is None or now - last > self.stall_after_s)
        # Messages are acknowledged after their rows commit: when the unacknowledged ones fill the receive window,
        # the broker stops sending and queues the rest, where the service cannot count it. Overload, said so.
        unacknowledged = waiting + self.writer.unacknowledged()
        window_full = self.receive_window > 0 and unacknowledged >= WINDOW_FULL * self.receive_window
        lagging = lag > self.lag_degraded_s
        tasks = self.supervisor.problems(now)
        for supervisor in self.more_supervisors:
            tasks |= supervisor.problems(now)
        failing_since = self.writer.failing_since
        store_failing = failing_since is not None and now - failing_since > self.stall_after_s
        behind = self.intake.behind_s
        # What waits unjudged is late by its wait too, before any batch of it says so (the look-ahead fills first).
        excess = None if self.intake.behind_excess_s is None else max(self.intake.behind_excess_s, lag)
        # When the service's own loop is the bottleneck the window never fills (TCP holds the rest): how much later
        # than usual the data it judges arrived is then the honest sign (bench/overload.py showed it). Judged against
        # each sensor's usual lateness, so a growing backlog counts within seconds and a skewed clock never does.
        # Caught up (nothing unacknowledged) for stall_after_s: the last batch's lateness is history, not a backlog
        # (a backlog's tail stays the last figure until fresh data comes; the broker sends all it holds while the
        # window is open).
        recent = last is not None and now - last <= self.stall_after_s
        behind_far = excess is not None and excess > self.behind_degraded_s and (unacknowledged > 0 or recent)
        details: dict[str, Any] = {
            "messages_waiting": waiting,
            "ingest_lag_s": round(lag, 3),
            "stalled": stalled,
            "unacknowledged_messages": unacknowledged,
            "receive_window": self.receive_window,
            "broker_queues_more": window_full,
            "data_behind_s": None if behind is None else round(behind, 1),
            "data_later_than_usual_s": None if excess is None else round(excess, 1),
            "failed_tasks": tasks,
            "store_failing_s": None if failing_since is None else round(now - failing_since, 1),
            "store_backlog_rows": self.writer.backlog_rows(),
            "priority_lane_connected": self.priority_lane_connected(),
        }
        return not (stalled or lagging or window_full or behind_far or tasks or store_failing), details
