"""The alarm book: the ISA-18.2 lifecycle of every alarm, operator actions, and noise control.

Noise control per ISA-18.2: chattering is an alarm that changes state too often in a short window (>= 3 in 60 s),
a flood is more than N new alarms within a sliding window (> 10 in 10 minutes).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rules import condition_names
from rules.alarm import ANNUNCIATED_ACTIVE, Alarm, AlarmState, AlarmTransition
from rules.engine import AlarmEvent
from rules.errors import AlarmActionError, UnknownAlarmError
from rules.model import Classification, Priority, Rule
from rules.sensor_table import SensorTable

SYSTEM = "system"

# Alarms a person has already been told about that must never be hidden by a dependent-alarm rule.
_FAIL_SAFE = frozenset({Classification.HAZARD, Classification.SECURITY})


def count_recent_flips(flips: list[float], time: float, window_s: float) -> int:
    """Record a condition change at ``time``, forget changes older than the window, return how many remain."""
    flips.append(time)
    cutoff = time - window_s
    # flips arrive in time order, so the stale ones are a prefix
    stale = 0
    while stale < len(flips) and flips[stale] <= cutoff:
        stale += 1
    del flips[:stale]
    return len(flips)


@dataclass
class FloodDetector:
    """Counts annunciations in a sliding window; in flood while the count is above the limit."""

    max_alarms: int = 10
    window_s: float = 600.0
    times: deque[float] = field(default_factory=deque)

    def add(self, time: float) -> bool:
        """Count one new alarm; return whether the system is now in flood."""
        self.times.append(time)
        return self.in_flood(time)

    def in_flood(self, now: float) -> bool:
        """Whether more than ``max_alarms`` alarms arrived in the window ending at ``now``."""
        while self.times and self.times[0] <= now - self.window_s:
            self.times.popleft()
        return len(self.times) > self.max_alarms


@dataclass(frozen=True, slots=True)
class BookConfig:
    """Alarm-management parameters (defaults from ISA-18.2 / EEMUA 191 practice)."""

    max_shelve_s: float = 8 * 3600.0  # one shift: a shelved alarm must come back within the shift
    chatter_transitions: int = 3  # >= 3 transitions ...
    chatter_window_s: float = 60.0  # ... in 60 s is chattering
    chatter_hold_s: float = 300.0  # a chattering alarm stays on until its condition is clear this long
    flood_alarms: int = 10  # more than 10 new alarms ...
    flood_window_s: float = 600.0  # ... in 10 minutes is a flood


class AlarmBook:
    """In-memory alarm states; every method returns the transitions it caused, for the daemon to store."""

    def __init__(self, table: SensorTable, rules: Iterable[Rule], config: BookConfig | None = None) -> None:
        self.table = table
        self.config = config or BookConfig()
        self.rules = {rule.id: rule for rule in rules}
        self.alarms: dict[str, Alarm] = {}
        self.out_of_service_sensors: set[int] = set()
        self.flood = FloodDetector(self.config.flood_alarms, self.config.flood_window_s)

    # ---- queries

    def get(self, alarm_id: str) -> Alarm:
        """The alarm with that id."""
        try:
            return self.alarms[alarm_id]
        except KeyError:
            raise UnknownAlarmError(alarm_id) from None

    def standing(self) -> list[Alarm]:
        """Alarms not in the normal state (the operator's alarm list, including shelved and suppressed ones)."""
        return [a for a in self.alarms.values() if a.state is not AlarmState.NORMAL]

    def device_offline(self, device: int) -> bool:
        """Whether an offline / heartbeat-lost alarm of that device has its condition active."""
        return any(
            a.device == device and a.process_active and a.condition in condition_names.DEVICE_OFFLINE
            for a in self.alarms.values()
        )

    # ---- condition changes

    def on_condition(self, events: Iterable[AlarmEvent], now: float) -> list[AlarmTransition]:
        """Apply the rule engine's alarm events (each carries its own time), then expire timers up to ``now``.

        Timers (shelving, chatter hold, re-alarm) due before an event expire before it is applied, so a
        large batch gives the same transitions as the same readings arriving one at a time.
        """
        out: list[AlarmTransition] = []
        for event in sorted(events, key=lambda e: e.time):
            out.extend(self._expire(event.time))
            self._on_event(event, out)
        out.extend(self._expire(now))
        return out

    def _alarm_for(self, event: AlarmEvent) -> Alarm:
        alarm = self.alarms.get(event.alarm_id)
        if alarm is None:
            rule = self.rules.get(event.rule_id)
            alarm = Alarm(
                alarm_id=event.alarm_id,
                rule_id=event.rule_id,
                sensor=event.sensor,
                sensor_id=event.sensor_id,
                device=int(self.table.device_of[event.sensor]),
                condition=event.condition,
                priority=event.priority,
                classification=event.classification,
                latching=event.latching,
                shelvable=rule.shelvable if rule else True,
                realarm_after_s=rule.realarm_after_s if rule else None,
                out_of_service=event.sensor in self.out_of_service_sensors,
            )
            self.alarms[event.alarm_id] = alarm
        return alarm

    def _on_event(self, event: AlarmEvent, out: list[AlarmTransition]) -> None:
        is_new = event.alarm_id not in self.alarms
        alarm = self._alarm_for(event)
        if is_new and alarm.out_of_service:
            self._settle(alarm, event.time, SYSTEM, "sensor is out of service", out)
        alarm.value = event.value
        alarm.message_zh, alarm.message_en = event.message_zh, event.message_en
        if event.active == alarm.process_active:
            return  # no change of the condition (e.g. a restart re-reporting a standing condition)
        t = event.time
        flips = count_recent_flips(alarm.flips, t, self.config.chatter_window_s)
        is_root = alarm.condition in condition_names.DEVICE_OFFLINE
        reason = "condition active" if event.active else "condition cleared"
        if event.active:
            held = alarm.chatter_hold and alarm.state in ANNUNCIATED_ACTIVE
            alarm.process_active = True
            alarm.clear_since = None
            if not held:
                alarm.acked = False
                alarm.active_since = t
            if not is_root and self.device_offline(alarm.device) and not alarm.suppressed_by_design:
                # a device that is offline cannot have reported this: it is a consequence, not news
                alarm.suppressed_by_design = True
                reason = "condition active while its device is offline: suppressed by design"
        else:
            alarm.process_active = False
            if alarm.chatter_hold:
                alarm.clear_since = t
                reason = "condition cleared; chattering alarm held until clear for the hold time"
            elif alarm.latching and alarm.state in ANNUNCIATED_ACTIVE:
                alarm.latched = True
                reason = "condition cleared; latched until reset"
        if flips >= self.config.chatter_transitions and not alarm.chatter_hold:
            alarm.chatter_hold = True
            if not alarm.process_active:
                alarm.clear_since = t
            reason = f"chattering ({flips} changes in {self.config.chatter_window_s:g} s): held active"
        self._settle(alarm, t, SYSTEM, reason, out)
        if is_root:
            self._propagate_offline(alarm, t, out)

    def _propagate_offline(self, root: Alarm, t: float, out: list[AlarmTransition]) -> None:
        """Suppress or release the alarms that depend on a device being online."""
        offline = self.device_offline(root.device)
        for alarm in self.alarms.values():
            if alarm.device != root.device or alarm.condition in condition_names.DEVICE_OFFLINE:
                continue
            if offline and not alarm.suppressed_by_design:
                if alarm.classification in _FAIL_SAFE and alarm.state in ANNUNCIATED_ACTIVE:
                    continue  # never hide a hazard someone has already been shown
                alarm.suppressed_by_design = True
                self._settle(alarm, t, SYSTEM, f"suppressed by design: device offline ({root.alarm_id})", out)
            elif not offline and alarm.suppressed_by_design:
                alarm.suppressed_by_design = False
                self._leave_suppression(alarm, t)
                self._settle(alarm, t, SYSTEM, "device back online", out)

    # ---- operator actions

    def acknowledge(self, alarm_id: str, actor: str, now: float, reason: str = "") -> list[AlarmTransition]:
        """Acknowledge an unacknowledged alarm (active, returned or latched)."""
        alarm = self.get(alarm_id)
        if alarm.state not in (AlarmState.ACTIVE_UNACK, AlarmState.RETURNED_UNACK, AlarmState.LATCHED_UNACK):
            raise AlarmActionError(f"{alarm_id} is {alarm.state.value}: nothing to acknowledge")
        alarm.acked = True
        alarm.acked_at = now
        return self._settled(alarm, now, actor, reason or "acknowledged")

    def reset(self, alarm_id: str, actor: str, now: float, reason: str = "") -> list[AlarmTransition]:
        """Reset a latched alarm whose condition has cleared (resetting also acknowledges it)."""
        alarm = self.get(alarm_id)
        if alarm.state not in (AlarmState.LATCHED_UNACK, AlarmState.LATCHED_ACKED):
            raise AlarmActionError(f"{alarm_id} is {alarm.state.value}: only a latched, cleared alarm can be reset")
        alarm.latched = False
        alarm.acked = True
        alarm.acked_at = now
        return self._settled(alarm, now, actor, reason or "reset")

    def shelve(self, alarm_id: str, actor: str, reason: str, duration_s: float, now: float) -> list[AlarmTransition]:
        """Shelve an alarm for at most ``config.max_shelve_s``; it returns by itself when the time ends."""
        alarm = self.get(alarm_id)
        if not alarm.shelvable:
            raise AlarmActionError(f"{alarm_id} may not be shelved (rule {alarm.rule_id} is safety-critical)")
        if alarm.out_of_service or alarm.shelved_until is not None:
            raise AlarmActionError(f"{alarm_id} is {alarm.state.value}: cannot shelve")
        if not 0 < duration_s <= self.config.max_shelve_s:
            raise AlarmActionError(f"shelve time must be in (0, {self.config.max_shelve_s:g}] s, got {duration_s:g}")
        if not reason.strip():
            raise AlarmActionError("shelving needs a reason")
        alarm.shelved_until = now + duration_s
        alarm.shelved_by, alarm.shelve_reason = actor, reason
        return self._settled(alarm, now, actor, f"shelved for {duration_s:g} s: {reason}")

    def unshelve(self, alarm_id: str, actor: str, now: float, reason: str = "") -> list[AlarmTransition]:
        """Return a shelved alarm to service before its shelf time ends."""
        alarm = self.get(alarm_id)
        if alarm.shelved_until is None:
            raise AlarmActionError(f"{alarm_id} is not shelved")
        return self._unshelve(alarm, actor, now, reason or "unshelved")

    def _unshelve(self, alarm: Alarm, actor: str, now: float, reason: str) -> list[AlarmTransition]:
        alarm.shelved_until = None
        alarm.shelved_by = alarm.shelve_reason = ""
        self._leave_suppression(alarm, now)
        return self._settled(alarm, now, actor, reason)

    def set_out_of_service(
        self, sensor_id: str, out_of_service: bool, actor: str, now: float, reason: str = ""
    ) -> list[AlarmTransition]:
        """Take a sensor's alarms out of service (maintenance) or return them to service."""
        try:
            sensor = self.table.index[sensor_id]
        except KeyError:
            raise UnknownAlarmError(f"unknown sensor {sensor_id!r}") from None
        if out_of_service:
            self.out_of_service_sensors.add(sensor)
        else:
            self.out_of_service_sensors.discard(sensor)
        out: list[AlarmTransition] = []
        text = reason or ("out of service" if out_of_service else "returned to service")
        for alarm in self.alarms.values():
            if alarm.sensor != sensor or alarm.out_of_service == out_of_service:
                continue
            alarm.out_of_service = out_of_service
            if not out_of_service:
                self._leave_suppression(alarm, now)
            self._settle(alarm, now, actor, text, out)
        return out

    # ---- time

    def tick(self, now: float) -> list[AlarmTransition]:
        """Advance time: end shelving, release chatter holds, re-alarm alarms left active too long."""
        return self._expire(now)

    def next_due(self) -> float:
        """The earliest time a timer of ``tick`` can fire (shelf end, chatter hold release, re-alarm); inf: none.

        Before it, ``tick`` and an empty ``on_condition`` change nothing (a replay skips those calls).
        """
        due = math.inf
        for alarm in self.alarms.values():
            if alarm.shelved_until is not None:
                due = min(due, alarm.shelved_until)
            if alarm.chatter_hold and not alarm.process_active and alarm.clear_since is not None:
                due = min(due, alarm.clear_since + self.config.chatter_hold_s)
            if (
                alarm.state is AlarmState.ACTIVE_ACKED
                and alarm.realarm_after_s is not None
                and alarm.acked_at is not None
            ):
                due = min(due, alarm.acked_at + alarm.realarm_after_s)
        return due

    def _expire(self, now: float) -> list[AlarmTransition]:
        out: list[AlarmTransition] = []
        for alarm in self.alarms.values():
            if alarm.shelved_until is not None and alarm.shelved_until <= now:
                out.extend(self._unshelve(alarm, SYSTEM, alarm.shelved_until, "shelf time ended"))
            if (
                alarm.chatter_hold
                and not alarm.process_active
                and alarm.clear_since is not None
                and now - alarm.clear_since >= self.config.chatter_hold_s
            ):
                at = alarm.clear_since + self.config.chatter_hold_s
                was_active = alarm.state in ANNUNCIATED_ACTIVE
                alarm.chatter_hold = False
                alarm.clear_since = None
                if alarm.latching and was_active:
                    alarm.latched = True
                self._settle(alarm, at, SYSTEM, "chatter hold released: condition clear for the hold time", out)
            if (
                alarm.state is AlarmState.ACTIVE_ACKED
                and alarm.realarm_after_s is not None
                and alarm.acked_at is not None
                and now - alarm.acked_at >= alarm.realarm_after_s
            ):
                alarm.acked = False
                at = alarm.acked_at + alarm.realarm_after_s
                self._settle(alarm, at, SYSTEM, f"re-alarm: still active {alarm.realarm_after_s:g} s after ack", out)
        out.sort(key=lambda tr: tr.time)
        return out

    # ---- bookkeeping

    @staticmethod
    def _leave_suppression(alarm: Alarm, t: float) -> None:
        """An alarm coming back from shelving, suppression or maintenance starts fresh."""
        if alarm.suppressed:
            return
        alarm.latched = False
        alarm.chatter_hold = False
        alarm.clear_since = None
        # still active: it is news again; clear: nothing to acknowledge
        alarm.acked = not alarm.process_active
        if alarm.process_active:
            alarm.active_since = t

    def _settled(self, alarm: Alarm, t: float, actor: str, reason: str) -> list[AlarmTransition]:
        out: list[AlarmTransition] = []
        self._settle(alarm, t, actor, reason, out)
        return out

    def _settle(self, alarm: Alarm, t: float, actor: str, reason: str, out: list[AlarmTransition]) -> None:
        """Record a transition if the flags moved the alarm to another state."""
        new = alarm.derived_state()
        if new is alarm.state:
            return
        old, alarm.state = alarm.state, new
        # only new annunciations count towards a flood
        flood = self.flood.add(t) if new is AlarmState.ACTIVE_UNACK else self.flood.in_flood(t)
        out.append(
            AlarmTransition(
                alarm_id=alarm.alarm_id,
                rule_id=alarm.rule_id,
                sensor=alarm.sensor,
                sensor_id=alarm.sensor_id,
                condition=alarm.condition,
                priority=alarm.priority,
                classification=alarm.classification,
                time=t,
                from_state=old,
                to_state=new,
                process_active=alarm.process_active,
                actor=actor,
                reason=reason,
                value=alarm.value,
                message_zh=alarm.message_zh,
                message_en=alarm.message_en,
                flood=flood,
            )
        )

    # ---- persistence

    def snapshot(self) -> dict[str, Any]:
        """All alarm state as plain data (JSON-able) for the daemon to persist."""
        return {
            "alarms": [dataclasses.asdict(a) for a in self.alarms.values()],
            "out_of_service_sensors": sorted(self.out_of_service_sensors),
            "flood_times": list(self.flood.times),
        }

    def with_rules(self, rules: Sequence[Rule]) -> tuple[AlarmBook, list[str]]:
        """A new book with ``rules`` in force, keeping alarms whose rule still exists; also the ids of those dropped."""
        kept = {rule.id for rule in rules}
        state = self.snapshot()
        dropped = [a["alarm_id"] for a in state["alarms"] if a["rule_id"] not in kept]
        state["alarms"] = [a for a in state["alarms"] if a["rule_id"] in kept]
        return AlarmBook.from_snapshot(self.table, rules, state, self.config), dropped

    @classmethod
    def from_snapshot(
        cls, table: SensorTable, rules: Iterable[Rule], snapshot: dict[str, Any], config: BookConfig | None = None
    ) -> AlarmBook:
        """Rebuild a book saved by ``snapshot``."""
        book = cls(table, rules, config)
        for data in snapshot["alarms"]:
            alarm = Alarm(
                **{
                    **data,
                    "priority": Priority(data["priority"]),
                    "classification": Classification(data["classification"]),
                    "state": AlarmState(data["state"]),
                    "flips": list(data["flips"]),
                }
            )
            book.alarms[alarm.alarm_id] = alarm
        book.out_of_service_sensors = set(snapshot["out_of_service_sensors"])
        book.flood.times = deque(snapshot["flood_times"])
        return book
