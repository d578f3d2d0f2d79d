"""Hypothesis stateful test: the alarm book follows the ISA-18.2 state diagram for any sequence of events."""

from __future__ import annotations

import math

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rules.alarm import AlarmState, AlarmTransition
from rules.book import AlarmBook, BookConfig
from rules.engine import AlarmEvent
from rules.errors import AlarmActionError
from rules.model import Classification, Priority
from rules.sensor_table import SensorTable

S = AlarmState
SENSOR = "gas-n01-cl2"

# The ISA-18.2 diagram as an explicit table over the annunciation state (no shelving / maintenance layer).
ON = {S.NORMAL: S.ACTIVE_UNACK, S.RETURNED_UNACK: S.ACTIVE_UNACK, S.LATCHED_UNACK: S.ACTIVE_UNACK,
      S.LATCHED_ACKED: S.ACTIVE_UNACK}  # fmt: skip
OFF_PLAIN = {S.ACTIVE_UNACK: S.RETURNED_UNACK, S.ACTIVE_ACKED: S.NORMAL}
OFF_LATCHING = {S.ACTIVE_UNACK: S.LATCHED_UNACK, S.ACTIVE_ACKED: S.LATCHED_ACKED}
ACK = {S.ACTIVE_UNACK: S.ACTIVE_ACKED, S.RETURNED_UNACK: S.NORMAL, S.LATCHED_UNACK: S.LATCHED_ACKED}
RESET = {S.LATCHED_UNACK: S.NORMAL, S.LATCHED_ACKED: S.NORMAL}


class ModelAlarm:
    """Reference model of one alarm."""

    def __init__(self, latching: bool) -> None:
        self.latching = latching
        self.base = S.NORMAL  # annunciation state, frozen while suppressed
        self.process = False
        self.shelved_until: float | None = None
        self.oos = False
        self.exists = False  # the book creates an alarm at its first condition event

    @property
    def visible(self) -> AlarmState:
        if not self.exists:
            return S.NORMAL
        if self.oos:
            return S.OUT_OF_SERVICE
        if self.shelved_until is not None:
            return S.SHELVED
        return self.base

    def leave_suppression(self) -> None:
        if not self.oos and self.shelved_until is None:
            self.base = S.ACTIVE_UNACK if self.process else S.NORMAL


class LifecycleMachine(RuleBasedStateMachine):
    """Drive an AlarmBook and the reference model with the same random actions."""

    table: SensorTable

    def __init__(self) -> None:
        super().__init__()
        # no chatter hold or flood here: those have their own tests
        self.book = AlarmBook(self.table, [], BookConfig(chatter_transitions=10**9))
        self.now = 0.0
        self.model: dict[str, ModelAlarm] = {}
        self.last: dict[str, AlarmState] = {}

    @initialize()
    def create(self) -> None:
        for alarm_id, latching in (("latching", True), ("plain", False)):
            self.model[alarm_id] = ModelAlarm(latching)
            self.last[alarm_id] = S.NORMAL

    def _check(self, transitions: list[AlarmTransition], actor: str | None = None) -> None:
        for tr in transitions:
            assert tr.from_state is self.last[tr.alarm_id], "every transition starts where the previous one ended"
            assert tr.from_state is not tr.to_state
            assert tr.reason
            if actor is not None:
                assert tr.actor == actor
            self.last[tr.alarm_id] = tr.to_state
        for alarm_id, model in self.model.items():
            assert self.last[alarm_id] is model.visible, "the recorded transitions end in the model's state"

    def _event(self, alarm_id: str, active: bool) -> AlarmEvent:
        return AlarmEvent(
            alarm_id=alarm_id, rule_id=alarm_id, sensor=self.table.index[SENSOR], sensor_id=SENSOR,
            condition="gas.level1", time=self.now, active=active, value=1.0, level=math.nan,
            priority=Priority.HIGH, classification=Classification.HAZARD,
            latching=self.model[alarm_id].latching, message_zh="", message_en="",
        )  # fmt: skip

    @rule(alarm_id=st.sampled_from(["latching", "plain"]), active=st.booleans())
    def condition(self, alarm_id: str, active: bool) -> None:
        model = self.model[alarm_id]
        model.exists = True
        if active != model.process:
            model.process = active
            if model.visible is model.base:  # not suppressed
                table = ON if active else (OFF_LATCHING if model.latching else OFF_PLAIN)
                model.base = table.get(model.base, model.base)
        self._check(self.book.on_condition([self._event(alarm_id, active)], self.now))

    def _action(self, table: dict[AlarmState, AlarmState], alarm_id: str, call: str) -> None:
        model = self.model[alarm_id]
        allowed = model.visible is model.base and model.base in table
        try:
            transitions = getattr(self.book, call)(alarm_id, "op", self.now)
        except AlarmActionError:
            assert not allowed
            return
        assert allowed
        model.base = table[model.base]
        self._check(transitions, "op")

    @precondition(lambda self: self.book.alarms)
    @rule(alarm_id=st.sampled_from(["latching", "plain"]))
    def acknowledge(self, alarm_id: str) -> None:
        if alarm_id in self.book.alarms:
            self._action(ACK, alarm_id, "acknowledge")

    @rule(alarm_id=st.sampled_from(["latching", "plain"]))
    def reset(self, alarm_id: str) -> None:
        if alarm_id in self.book.alarms:
            self._action(RESET, alarm_id, "reset")

    @rule(alarm_id=st.sampled_from(["latching", "plain"]), duration=st.sampled_from([30.0, 90.0, 600.0]))
    def shelve(self, alarm_id: str, duration: float) -> None:
        if alarm_id not in self.book.alarms:
            return
        model = self.model[alarm_id]
        allowed = not model.oos and model.shelved_until is None
        try:
            transitions = self.book.shelve(alarm_id, "op", "test", duration, self.now)
        except AlarmActionError:
            assert not allowed
            return
        assert allowed
        model.shelved_until = self.now + duration
        self._check(transitions, "op")

    @rule(alarm_id=st.sampled_from(["latching", "plain"]))
    def unshelve(self, alarm_id: str) -> None:
        if alarm_id not in self.book.alarms:
            return
        model = self.model[alarm_id]
        try:
            transitions = self.book.unshelve(alarm_id, "op", self.now)
        except AlarmActionError:
            assert model.shelved_until is None
            return
        model.shelved_until = None
        model.leave_suppression()
        self._check(transitions, "op")

    @rule(out=st.booleans())
    def out_of_service(self, out: bool) -> None:
        transitions = self.book.set_out_of_service(SENSOR, out, "op", self.now)
        for model in self.model.values():
            if model.oos != out:
                model.oos = out
                if model.exists:
                    model.leave_suppression()
        self._check(transitions, "op")

    @rule(dt=st.sampled_from([1.0, 45.0, 400.0]))
    def wait(self, dt: float) -> None:
        self.now += dt
        transitions = self.book.tick(self.now)
        for model in self.model.values():
            if model.shelved_until is not None and model.shelved_until <= self.now:
                model.shelved_until = None
                model.leave_suppression()
        self._check(transitions, "system")

    @invariant()
    def book_matches_model(self) -> None:
        for alarm_id, alarm in self.book.alarms.items():
            assert alarm.state is self.model[alarm_id].visible


@pytest.fixture
def machine_cls(table: SensorTable) -> type[LifecycleMachine]:
    LifecycleMachine.table = table
    return LifecycleMachine


def test_lifecycle_state_machine(machine_cls: type[LifecycleMachine]) -> None:
    test_case = machine_cls.TestCase
    test_case.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
    test_case().runTest()
