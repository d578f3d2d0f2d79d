"""The rule engine: detector condition transitions and batch readings in, alarm events out."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.conditions import ConditionEvents
from detectors.hysteresis import HysteresisState, SortedBatch
from detectors.kinds import CANONICAL_UNIT
from detectors.readings import ReadingBatch, censored_mask
from detectors.thresholds import HIGH, LOW, ThresholdDetector, ThresholdParams
from rules import condition_names
from rules.model import Classification, Priority, Rule
from rules.selector import selected_sensors
from rules.sensor_table import SensorTable


def alarm_id_of(rule_id: str, sensor_id: str) -> str:
    """The stable id of the alarm a rule raises at a sensor."""
    return f"{rule_id}@{sensor_id}"


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """A rule's condition turned on or off at a sensor (after the rule's on/off delay)."""

    alarm_id: str
    rule_id: str
    sensor: int  # number in the sensor table
    sensor_id: str
    condition: str
    time: float
    active: bool
    value: float
    level: float
    priority: Priority
    classification: Classification
    latching: bool
    message_zh: str
    message_en: str


def _fmt(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.4g}"


# Said of a value that is only a lower bound: the detector read at or above its full scale (or a window mean
# holds such readings), so the true value may be far higher.
CENSORED_EN = " (at or above full scale: the true value may be higher)"
CENSORED_ZH = "（读数达到或超过满量程，实际值可能更高）"  # noqa: RUF001 (Chinese punctuation)


@dataclass
class _Pending:
    """An event waiting out its rule's on- or off-delay."""

    due: float
    event: AlarmEvent


# RuleEngine's fields made from its rules and table in ``__post_init__`` (see ``__getstate__``).
_DERIVED = ("_by_condition", "_level", "_rules_by_id", "_full_scale")


@dataclass
class RuleEngine:
    """Matches condition transitions to rules and evaluates ``level`` rules on reading batches."""

    rules: Sequence[Rule]
    table: SensorTable
    _by_condition: dict[str, list[tuple[Rule, NDArray[np.bool_]]]] = field(init=False, default_factory=dict)
    _level: list[tuple[Rule, ThresholdDetector]] = field(init=False, default_factory=list)
    _emitted: dict[str, bool] = field(init=False, default_factory=dict)  # alarm id -> last emitted state
    _pending: dict[str, _Pending] = field(init=False, default_factory=dict)
    _rules_by_id: dict[str, Rule] = field(init=False, default_factory=dict)
    _full_scale: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.table)
        self._full_scale = np.array(
            [np.nan if s.full_scale is None else s.full_scale for s in self.table.sensors], np.float64
        )
        self._rules_by_id = {rule.id: rule for rule in self.rules}
        for rule in self.rules:
            mask = selected_sensors(rule.selector, self.table)
            params = rule.condition.params
            if params is None:
                self._by_condition.setdefault(rule.condition.name, []).append((rule, mask))
                continue
            nan = np.full(n, np.nan)

            def level(value: float | None, mask: NDArray[np.bool_] = mask) -> NDArray[np.float64]:
                return np.where(mask, np.nan if value is None else value, np.nan)

            # one detector per level rule: the debouncing kernel carries per-sensor state for us
            detector = ThresholdDetector(
                ThresholdParams(
                    high=level(params.above),
                    high_high=nan,
                    low=level(params.below),
                    deadband=np.full(n, params.deadband),
                    on_delay_s=np.full(n, rule.on_delay_s),
                    off_delay_s=np.full(n, rule.off_delay_s),
                )
            )
            self._level.append((rule, detector))

    def __getstate__(self) -> dict[str, Any]:
        # Masks, level parameters and lookups follow from the rules and the table (a checkpoint names those); only
        # the level rules' carried states go with the rest of the carried state.
        state = {k: v for k, v in self.__dict__.items() if k not in _DERIVED}
        state["_level_states"] = [detector.states for _, detector in self._level]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        level_states = state.pop("_level_states", None)
        self.__dict__.update(state)
        if level_states is not None:  # else saved whole, before the derived fields were left out
            self._by_condition, self._level = {}, []
            self.__post_init__()
            self.restore_level_states(level_states)

    def rules_for(self, condition: str) -> list[Rule]:
        """Rules that react to a detector condition."""
        return [rule for rule, _ in self._by_condition.get(condition, [])]

    def sensors_of(self, rule_id: str) -> list[str]:
        """Sensor ids a rule applies to."""
        for pairs in self._by_condition.values():
            for rule, mask in pairs:
                if rule.id == rule_id:
                    return [self.table.sensors[i].id for i in np.flatnonzero(mask)]
        for rule, detector in self._level:
            if rule.id == rule_id:
                p = detector.params
                hit = ~np.isnan(p.high) | ~np.isnan(p.low)
                return [self.table.sensors[i].id for i in np.flatnonzero(hit)]
        raise KeyError(rule_id)

    def process(
        self,
        now: float,
        condition_events: Sequence[ConditionEvents] = (),
        batch: ReadingBatch | None = None,
        valid: NDArray[np.bool_] | None = None,
        sorted_batch: SortedBatch | None = None,
    ) -> list[AlarmEvent]:
        """Turn this cycle's condition transitions and readings into alarm events, in time order.

        ``valid`` is the batch's valid mask in batch order (default ``batch.valid_mask()``); pass the
        ``sorted_batch`` the detection core already built to save a sort. Events still inside a rule's
        on/off delay are held and released by a later call whose ``now`` is past the delay.
        """
        raw: list[AlarmEvent] = []
        for events in condition_events:
            for rule, mask in self._by_condition.get(events.condition, []):
                raw.extend(self._events_for(rule, mask, events))
        if batch is not None and len(batch) and self._level:
            raw.extend(self._level_events(batch, valid, sorted_batch))
        raw.sort(key=lambda e: e.time)
        out: list[AlarmEvent] = []
        for event in raw:
            self._release_one(event.alarm_id, event.time, out)
            self._offer(event, out)
        self._release_due(now, out)
        out.sort(key=lambda e: e.time)
        return out

    def _events_for(self, rule: Rule, mask: NDArray[np.bool_], events: ConditionEvents) -> list[AlarmEvent]:
        hit = np.flatnonzero(mask[events.sensor])
        censored = events.censored_or_false()
        return [
            self._event(
                rule,
                int(events.sensor[i]),
                time=float(events.time[i]),
                active=bool(events.active[i]),
                value=float(events.value[i]),
                level=float(events.level[i]),
                censored=bool(censored[i]),
            )
            for i in hit
        ]

    def _level_events(
        self, batch: ReadingBatch, valid: NDArray[np.bool_] | None, sorted_batch: SortedBatch | None
    ) -> list[AlarmEvent]:
        sb = sorted_batch if sorted_batch is not None else SortedBatch.build(batch.sensor, batch.time)
        value = batch.value[sb.order]
        ok = (valid if valid is not None else batch.valid_mask())[sb.order]
        # A reading at or above full scale is a lower bound: it raises every level it reaches (its value is at
        # least the reading) and clears none.
        flags = batch.flags[sb.order]
        censored = censored_mask(flags) if flags.any() else None
        if censored is not None and censored.any():
            # A saturated detector's true value is at least its full scale, whatever it reported.
            value = np.where(censored, np.fmax(value, self._full_scale[sb.sensor]), value)
        out: list[AlarmEvent] = []
        for rule, detector in self._level:
            for events in detector.process(sb, value, ok, censored):
                if events.condition not in (HIGH, LOW):
                    continue
                out.extend(
                    self._event(
                        rule, int(s), time=float(t), active=bool(a), value=float(v), level=float(lv), censored=bool(c)
                    )
                    for s, t, a, v, lv, c in zip(
                        events.sensor,
                        events.time,
                        events.active,
                        events.value,
                        events.level,
                        events.censored_or_false(),
                        strict=True,
                    )
                )
        return out

    def _event(
        self,
        rule: Rule,
        sensor: int,
        *,
        time: float,
        active: bool,
        value: float,
        level: float,
        censored: bool = False,
    ) -> AlarmEvent:
        spec = self.table.sensors[sensor]
        device = self.table.devices[int(self.table.device_of[sensor])]
        fields = {
            "sensor": spec.id,
            "device": device.id,
            "zone": self.table.zone[sensor],
            "site": self.table.site.site,
            "value": ("≥" if censored else "") + _fmt(value),
            "level": _fmt(level),
            "unit": CANONICAL_UNIT[spec.kind],
            "substance": spec.substance or "",
            "nuclide": device.source.nuclide if device.source else "",
            "category": device.source.category if device.source else "",
            "rule": rule.id,
        }
        return AlarmEvent(
            alarm_id=alarm_id_of(rule.id, spec.id),
            rule_id=rule.id,
            sensor=sensor,
            sensor_id=spec.id,
            condition=rule.condition.name,
            time=time,
            active=active,
            value=value,
            level=level,
            priority=rule.priority,
            classification=rule.classification,
            latching=rule.latching,
            message_zh=rule.message.zh.format(**fields) + (CENSORED_ZH if censored else ""),
            message_en=rule.message.en.format(**fields) + (CENSORED_EN if censored else ""),
        )

    def _rule(self, rule_id: str) -> Rule:
        return self._rules_by_id[rule_id]

    def _offer(self, event: AlarmEvent, out: list[AlarmEvent]) -> None:
        """Emit now, hold for the rule's delay, or drop because it undoes a held event."""
        if event.condition == condition_names.LEVEL:
            # the threshold kernel has already applied the delays
            self._emit(event, out)
            return
        self._pending.pop(event.alarm_id, None)
        if event.active == self._emitted.get(event.alarm_id, False):
            return  # the opposite transition was still waiting out its delay: the blip never happened
        rule = self._rule(event.rule_id)
        delay = rule.on_delay_s if event.active else rule.off_delay_s
        if delay <= 0:
            self._emit(event, out)
        else:
            self._pending[event.alarm_id] = _Pending(event.time + delay, event)

    def _emit(self, event: AlarmEvent, out: list[AlarmEvent]) -> None:
        self._emitted[event.alarm_id] = event.active
        out.append(event)

    def _release_one(self, alarm_id: str, time: float, out: list[AlarmEvent]) -> None:
        pending = self._pending.get(alarm_id)
        if pending is not None and pending.due <= time:
            del self._pending[alarm_id]
            self._emit(_delayed(pending), out)

    def _release_due(self, now: float, out: list[AlarmEvent]) -> None:
        due = [(p.due, alarm_id) for alarm_id, p in self._pending.items() if p.due <= now]
        heapq.heapify(due)
        while due:
            _, alarm_id = heapq.heappop(due)
            self._emit(_delayed(self._pending.pop(alarm_id)), out)

    def next_due(self) -> float:
        """When the first event held for its rule's delay is released; inf: none is held."""
        return min((p.due for p in self._pending.values()), default=math.inf)

    def level_states(self) -> list[dict[str, HysteresisState]]:
        """The level rules' carried states, copied (a replay restores them when it undoes a trial block)."""
        return [
            {
                name: HysteresisState(st.raw.copy(), st.raw_since.copy(), st.active.copy())
                for name, st in d.states.items()
            }
            for _, d in self._level
        ]

    def restore_level_states(self, states: list[dict[str, HysteresisState]]) -> None:
        """Put back states taken by ``level_states``."""
        for (_, detector), kept in zip(self._level, states, strict=True):
            detector.states = kept

    def level_events(
        self, batch: ReadingBatch, valid: NDArray[np.bool_] | None, sorted_batch: SortedBatch | None
    ) -> list[AlarmEvent]:
        """The ``level`` rules' transitions over ``batch`` (state carried; no held events are released)."""
        return self._level_events(batch, valid, sorted_batch) if len(batch) and self._level else []

    def snapshot(self) -> dict[str, Any]:
        """Carried state as plain data (JSON-able) for the daemon to persist."""
        return {
            "emitted": dict(self._emitted),
            "pending": [_event_to_dict(p.event) | {"due": p.due} for p in self._pending.values()],
            "level": {
                rule.id: {
                    name: {"raw": st.raw.tolist(), "raw_since": st.raw_since.tolist(), "active": st.active.tolist()}
                    for name, st in detector.states.items()
                }
                for rule, detector in self._level
            },
        }

    def with_rules(self, rules: Sequence[Rule]) -> RuleEngine:
        """A new engine with ``rules`` in force that keeps this one's carried state for rules that still exist."""
        kept = {rule.id for rule in rules}
        state = self.snapshot()
        state["pending"] = [p for p in state["pending"] if p["rule_id"] in kept]
        engine = RuleEngine(rules, self.table)
        engine.restore(state)
        return engine

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Restore carried state saved by ``snapshot`` (rules and sensor table must be the same)."""
        self._emitted = {str(k): bool(v) for k, v in snapshot["emitted"].items()}
        self._pending = {}
        for item in snapshot["pending"]:
            data = dict(item)
            due = float(data.pop("due"))
            event = _event_from_dict(data)
            self._pending[event.alarm_id] = _Pending(due, event)
        for rule, detector in self._level:
            for name, st in snapshot["level"].get(rule.id, {}).items():
                detector.states[name] = HysteresisState(
                    np.asarray(st["raw"], np.bool_),
                    np.asarray(st["raw_since"], np.float64),
                    np.asarray(st["active"], np.bool_),
                )


def _delayed(pending: _Pending) -> AlarmEvent:
    """The held event, stamped with the moment its delay ran out."""
    e = pending.event
    return AlarmEvent(
        e.alarm_id,
        e.rule_id,
        e.sensor,
        e.sensor_id,
        e.condition,
        pending.due,
        e.active,
        e.value,
        e.level,
        e.priority,
        e.classification,
        e.latching,
        e.message_zh,
        e.message_en,
    )


def _event_to_dict(event: AlarmEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in AlarmEvent.__slots__}


def _event_from_dict(data: dict[str, Any]) -> AlarmEvent:
    return AlarmEvent(
        **{**data, "priority": Priority(data["priority"]), "classification": Classification(data["classification"])}
    )
