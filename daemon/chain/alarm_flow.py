"""The alarm chain wired to its recorder: each input goes through ``AlarmChain`` and its one change set is recorded.

``daemon.chain.alarm_chain`` is the pure part (rules → alarm book → incidents, returning a ``ChangeSet``);
``daemon.chain.recorder`` turns change sets into typed rows and tells the listeners. This class only joins the two
for the pipeline, the service, the API and the assessment, which hold one object for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from daemon.chain.alarm_chain import AlarmChain
from daemon.chain.changes import ChangeSet
from daemon.chain.flow_state import Episode, FlowState
from daemon.chain.recorder import AlarmListener, ChangeRecorder, FlowRowIds, PageListener, QueuedPage
from daemon.notify.outbox import Outbox
from detectors.conditions import ConditionEvents
from detectors.hysteresis import SortedBatch
from detectors.readings import ReadingBatch
from plans.incident import IncidentChanges
from plans.model import Plan
from plans.roster import Roster
from rules.alarm import AlarmTransition
from rules.model import Rule

# Checkpoints written before the split name ``daemon.chain.alarm_flow.FlowState`` and ``.Episode``: pickle finds
# them here.
__all__ = [
    "AlarmFlow",
    "AlarmListener",
    "Episode",
    "FlowRowIds",
    "FlowState",
    "PageListener",
    "QueuedPage",
]


class AlarmFlow:
    """Feeds the chain and records what each step changed."""

    def __init__(self, chain: AlarmChain, recorder: ChangeRecorder) -> None:
        if chain.state is not recorder.state:
            raise ValueError("the chain and its recorder must share one state (it is checkpointed as one unit)")
        self.table = chain.table
        self.state = chain.state
        self.chain = chain
        self.recorder = recorder

    # ---- what the service, drills and API attach to the recorder

    @property
    def row_ids(self) -> FlowRowIds:
        """Where new rows are numbered (an HA takeover moves it past the ids the old leader stored)."""
        return self.recorder.row_ids

    @property
    def listeners(self) -> list[AlarmListener]:
        """Told about every stored raise and return to normal."""
        return self.recorder.listeners

    @property
    def page_listeners(self) -> list[PageListener]:
        """Told about every plan page queued."""
        return self.recorder.page_listeners

    @property
    def outbox(self) -> Outbox:
        """Turns plan pages into outbox rows (per-person channel chains)."""
        return self.recorder.outbox

    @outbox.setter
    def outbox(self, outbox: Outbox) -> None:
        self.recorder.outbox = outbox

    @property
    def condition_changes(self) -> int:
        """Condition transitions seen so far (the service checkpoints after a batch that changed one)."""
        return self.chain.condition_changes

    # ---- inputs

    def on_batch(
        self,
        now: float,
        conditions: Sequence[ConditionEvents],
        batch: ReadingBatch,
        valid: NDArray[np.bool_],
        sorted_batch: SortedBatch | None,
    ) -> None:
        """One pipeline batch."""
        self._record(self.chain.on_batch(now, conditions, batch, valid, sorted_batch))

    def on_conditions(self, now: float, conditions: Sequence[ConditionEvents]) -> None:
        """Condition transitions that come without readings (time-driven detectors, device status, reloads)."""
        self._record(self.chain.on_conditions(now, conditions))

    def tick(self, now: float) -> None:
        """Time passing: delayed rule events, shelf expiry, re-alarm, escalation and report reminders."""
        self._record(self.chain.tick(now))

    def apply_transitions(self, transitions: list[AlarmTransition], now: float) -> None:
        """Store transitions caused by a person (acknowledge, shelve, ...) and let the plan see them."""
        self._record(self.chain.transitions(transitions, now))

    def apply_incident_changes(self, changes: IncidentChanges, now: float) -> None:
        """Store incident changes caused by a person (confirm level, comment, close, ...)."""
        self._record(self.chain.incident_changes(changes, now))

    def reload(self, rules: Sequence[Rule], plan: Plan, roster: Roster, now: float) -> list[str]:
        """New rules, plan and roster in force; alarms whose rule is gone end. Returns their ids."""
        dropped = self.chain.reload(rules, plan, roster)
        for alarm_id in dropped:
            self.recorder.end_episode(alarm_id, now, "rule removed by a configuration reload")
        # A new rule on a condition that is already on would otherwise wait for the next transition.
        self.on_conditions(now, self.chain.active_conditions(now))
        return dropped

    # ---- service alarms

    def raise_service_alarm(
        self, rule: str, subject: str, message: str, now: float, *, notify_routes: bool = False
    ) -> None:
        """An alarm about the service itself, once until cleared (see ``ChangeRecorder.raise_service_alarm``)."""
        self.recorder.raise_service_alarm(rule, subject, message, now, notify_routes=notify_routes)

    def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
        """Clear a service alarm."""
        self.recorder.clear_service_alarm(rule, subject, now)

    def end_episode(self, alarm_id: str, now: float, reason: str) -> None:
        """Close the stored episode of an alarm that no longer exists."""
        self.recorder.end_episode(alarm_id, now, reason)

    def _record(self, changes: ChangeSet) -> None:
        if changes:
            self.recorder.record(changes)
