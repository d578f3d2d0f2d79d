"""The chain's two coordinators, one file: a batch through detectors, rules, alarms and plan, then to the store.

``Pipeline`` takes one batch of decoded readings (and the time it is judged at, read once where the batch entered)
through the detection core and hands the conditions to ``AlarmFlow``. ``AlarmFlow`` feeds every input of the alarm
chain (a batch's conditions, ticks, a person's action, a reload) to the pure ``daemon.chain.alarm_chain`` and gives
its one change set to ``daemon.chain.recorder``, which queues the rows; the service, drills, API and assessment hold
it as the one object for both. CPU work only, and no clock: time is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from daemon.chain.alarm_chain import AlarmChain, ChangeSet
from daemon.chain.recorder import AlarmListener, ChangeRecorder, FlowRowIds, PageListener
from daemon.chain.seen_readings import SeenReadings
from daemon.metrics.instruments import Metrics
from daemon.notify.outbox import Outbox
from daemon.store.writer import StoreWriter
from detectors.conditions import ConditionEvents
from detectors.core import CoreResult, DetectionCore
from detectors.readings import FLAG_NAMES, ReadingBatch
from plans.incident import IncidentChanges
from plans.model import Plan
from plans.roster import Roster
from rules.alarm import AlarmTransition
from rules.model import Rule
from rules.sensor_table import SensorTable


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

    def on_batch(self, now: float, batch: ReadingBatch, detected: CoreResult) -> None:
        """One pipeline batch (with the core's flags) and what the detection core found in it."""
        self._record(self.chain.on_batch(now, detected.conditions, batch, batch.valid_mask(), detected.sorted_batch))

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


class Pipeline:
    """Runs the detection core over each batch and keeps the latest value per sensor for /metrics."""

    def __init__(
        self,
        table: SensorTable,
        detector: DetectionCore,
        flow: AlarmFlow,
        writer: StoreWriter,
        metrics: Metrics,
        *,
        store_readings: bool = True,
    ) -> None:
        self.table = table
        self.detector = detector
        self.flow = flow
        self._writer = writer
        self._metrics = metrics
        self._store_readings = store_readings
        self.latest_value = np.full(len(table), np.nan)
        self.latest_time = np.full(len(table), np.nan)
        self.latest_flags = np.zeros(len(table), np.uint16)  # quality bits of the latest reading (sensor state)
        self.batch_listeners: list[Callable[[ReadingBatch], None]] = []  # e.g. the release assessment's window
        self.seen = SeenReadings()  # drops a redelivered reading before it is judged or stored a second time
        # The priority lane's sensors (``daemon/ingest/priority_lane.py``) remembered apart, so the bulk does not push
        # them out: the main session's copy of a lane message may come a whole backlog later (after a restart, when
        # the lane's pairing starts empty). None: no lane.
        self.lane_seen: SeenReadings | None = None
        self.lane_sensors = np.zeros(len(table), np.bool_)

    def process(self, batch: ReadingBatch, now: float) -> None:
        """Detect, run rules and plan at ``now`` (when the batch is judged), update latest values, queue the writes."""
        if not len(batch):
            return
        fresh = self.seen.fresh(batch)
        if self.lane_seen is not None:
            fresh = self._lane_fresh(batch, self.lane_seen, fresh)
        if fresh is not None:
            self._metrics.duplicate_readings.inc(int(np.count_nonzero(~fresh)))
            batch = batch.take(fresh)
            if not len(batch):
                return
        started = time.perf_counter()
        result = self.detector.process(batch, received_at=now)
        # Store and judge the readings with the quality bits the core found (stuck, jump, ...).
        batch = ReadingBatch(batch.sensor, batch.time, batch.value, result.flags)
        self.flow.on_batch(now, batch, result)
        self.after_detection(batch)
        self._metrics.batch_seconds.observe(time.perf_counter() - started)

    def keep_apart(self, devices: Sequence[int]) -> None:
        """Remember these devices' readings in a memory of their own (the priority lane's devices)."""
        self.lane_sensors = np.isin(self.table.device_of, devices)
        self.lane_seen = SeenReadings()

    def _lane_fresh(
        self, batch: ReadingBatch, lane_seen: SeenReadings, fresh: NDArray[np.bool_] | None
    ) -> NDArray[np.bool_] | None:
        """``fresh`` with the lane sensors' readings seen before (in the lane's own memory) left out too."""
        mine = self.lane_sensors[batch.sensor]
        if not mine.any():
            return fresh
        positions = np.flatnonzero(mine)
        lane_fresh = lane_seen.fresh(batch.take(mine))
        if lane_fresh is None:
            return fresh
        combined = np.ones(len(batch), np.bool_) if fresh is None else fresh.copy()
        combined[positions[~lane_fresh]] = False
        return combined

    def after_detection(self, batch: ReadingBatch) -> None:
        """What follows the chain for judged readings (with the core's flags): latest values, listeners, counts and
        the store. A replay calls it once for a block of quiet batches (``daemon.drills.block_replay``)."""
        self._update_latest(batch)
        for listener in self.batch_listeners:
            listener(batch)
        self._count_flags(batch)
        if self._store_readings:
            self._writer.add_readings(batch)
        self._metrics.ingest_readings.inc(len(batch))

    def tick(self, now: float) -> None:
        """Time-driven detection (offline, heartbeat, capture ratio), then the alarm and plan timers."""
        self.flow.on_conditions(now, self.detector.tick(now))
        self.flow.tick(now)

    def device_status(self, device: int, online: bool, now: float) -> None:
        """A device's MQTT status or last will."""
        self.flow.on_conditions(now, self.detector.device_status(device, online, now))

    def _update_latest(self, batch: ReadingBatch) -> None:
        # Without a sort: the newest time per sensor, then the readings that carry it.
        seen = np.where(np.isnan(self.latest_time), -np.inf, self.latest_time)
        np.maximum.at(seen, batch.sensor, batch.time)
        newest = batch.time == seen[batch.sensor]
        sensors = batch.sensor[newest]
        self.latest_time[sensors] = batch.time[newest]
        self.latest_value[sensors] = batch.value[newest]
        self.latest_flags[sensors] = batch.flags[newest]

    def _count_flags(self, batch: ReadingBatch) -> None:
        flagged = batch.flags[batch.flags != 0]
        if not flagged.shape[0]:
            return
        for bit, name in FLAG_NAMES.items():
            count = int(np.count_nonzero(flagged & bit))
            if count:
                self._metrics.flagged.labels(name).inc(count)
