"""Alarm lifecycle behaviours: latching, shelving, out of service, re-alarm, chattering, flood, dependencies."""

from __future__ import annotations

import pytest

from rules.alarm import AlarmState
from rules.book import AlarmBook, BookConfig
from rules.engine import RuleEngine
from rules.errors import AlarmActionError
from rules.model import Rule
from rules.sensor_table import SensorTable
from tests.rules.rules_support import events

S = AlarmState


class Rig:
    """Rule engine + alarm book over the default rules."""

    def __init__(self, table: SensorTable, rules: list[Rule], config: BookConfig | None = None) -> None:
        self.table = table
        self.engine = RuleEngine(rules, table)
        self.book = AlarmBook(table, rules, config)

    def cond(self, condition: str, sensor: str, t: float, active: bool):  # type: ignore[no-untyped-def]
        out = self.engine.process(t, [events(self.table, condition, [(sensor, t, active)])])
        return self.book.on_condition(out, t)


@pytest.fixture
def rig(table: SensorTable, default_rules: list[Rule]) -> Rig:
    return Rig(table, default_rules)


AEGL2 = "cl2-aegl2-10min@gas-n01-cl2"
LEVEL1 = "cl2-level1@gas-n01-cl2"


def test_latching_alarm_stays_until_reset(rig: Rig) -> None:
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", 0.0, True)
    rig.book.acknowledge(AEGL2, "li-na", 10.0)
    tr = rig.cond("gas.aegl2_10min", "gas-n01-cl2", 100.0, False)
    assert [(t.from_state, t.to_state) for t in tr] == [(S.ACTIVE_ACKED, S.LATCHED_ACKED)]
    assert not tr[0].process_active
    rig.book.tick(10_000.0)
    assert rig.book.get(AEGL2).state is S.LATCHED_ACKED
    with pytest.raises(AlarmActionError):
        rig.book.acknowledge(AEGL2, "li-na", 10_001.0)
    tr = rig.book.reset(AEGL2, "li-na", 10_002.0)
    assert [(t.to_state, t.actor) for t in tr] == [(S.NORMAL, "li-na")]


def test_reset_refused_while_condition_active(rig: Rig) -> None:
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", 0.0, True)
    with pytest.raises(AlarmActionError):
        rig.book.reset(AEGL2, "li-na", 1.0)


def test_non_latching_alarm_returns_unacknowledged(rig: Rig) -> None:
    rig.cond("gas.level1", "gas-n01-cl2", 0.0, True)
    tr = rig.cond("gas.level1", "gas-n01-cl2", 100.0, False)
    assert tr[0].to_state is S.RETURNED_UNACK
    tr = rig.book.acknowledge(LEVEL1, "li-na", 120.0)
    assert tr[0].to_state is S.NORMAL


def test_shelved_alarm_returns_when_shelf_time_ends(rig: Rig) -> None:
    rig.cond("gas.level1", "gas-n01-cl2", 0.0, True)
    tr = rig.book.shelve(LEVEL1, "li-na", "detector being recalibrated", 600.0, 10.0)
    assert (tr[0].to_state, tr[0].actor) == (S.SHELVED, "li-na")
    assert "recalibrated" in tr[0].reason
    assert rig.book.tick(500.0) == []
    tr = rig.book.tick(700.0)
    assert [(t.from_state, t.to_state, t.time, t.actor) for t in tr] == [(S.SHELVED, S.ACTIVE_UNACK, 610.0, "system")]
    assert tr[0].reason == "shelf time ended"


def test_shelving_limits(rig: Rig) -> None:
    rig.cond("gas.level1", "gas-n01-cl2", 0.0, True)
    with pytest.raises(AlarmActionError, match="shelve time"):
        rig.book.shelve(LEVEL1, "li-na", "why", 9 * 3600.0, 1.0)
    with pytest.raises(AlarmActionError, match="reason"):
        rig.book.shelve(LEVEL1, "li-na", " ", 60.0, 1.0)
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", 0.0, True)
    with pytest.raises(AlarmActionError, match="may not be shelved"):
        rig.book.shelve(AEGL2, "li-na", "noisy", 60.0, 1.0)


def test_shelved_alarm_that_cleared_comes_back_normal(rig: Rig) -> None:
    rig.cond("gas.level1", "gas-n01-cl2", 0.0, True)
    rig.book.shelve(LEVEL1, "li-na", "known leak, crew on site", 600.0, 10.0)
    assert rig.cond("gas.level1", "gas-n01-cl2", 100.0, False) == []
    tr = rig.book.unshelve(LEVEL1, "li-na", 200.0)
    assert tr[0].to_state is S.NORMAL


def test_out_of_service_hides_and_returns(rig: Rig) -> None:
    rig.cond("gas.level1", "gas-n01-cl2", 0.0, True)
    tr = rig.book.set_out_of_service("gas-n01-cl2", True, "wang", 10.0, "calibration")
    assert [(t.to_state, t.actor, t.reason) for t in tr] == [(S.OUT_OF_SERVICE, "wang", "calibration")]
    # a new alarm on the sensor in maintenance is born out of service
    assert rig.cond("gas.level2", "gas-n01-cl2", 20.0, True)[0].to_state is S.OUT_OF_SERVICE
    rig.cond("gas.level1", "gas-n01-cl2", 30.0, False)
    tr = rig.book.set_out_of_service("gas-n01-cl2", False, "wang", 40.0)
    assert {t.alarm_id: t.to_state for t in tr} == {LEVEL1: S.NORMAL, "cl2-level2@gas-n01-cl2": S.ACTIVE_UNACK}


def test_re_alarm_of_alarm_left_active(rig: Rig) -> None:
    rig.cond("gas.level2", "gas-n01-cl2", 0.0, True)  # cl2-level2 re-alarms after 1,800 s
    rig.book.acknowledge("cl2-level2@gas-n01-cl2", "li-na", 100.0)
    assert rig.book.tick(1800.0) == []
    tr = rig.book.tick(2000.0)
    assert [(t.from_state, t.to_state, t.time) for t in tr] == [(S.ACTIVE_ACKED, S.ACTIVE_UNACK, 1900.0)]
    assert tr[0].is_annunciation
    assert "re-alarm" in tr[0].reason


def test_chattering_alarm_is_held(rig: Rig) -> None:
    s = "gas-n01-cl2"
    states = []
    for i, active in enumerate([True, False, True, False, True, False, True, False]):
        states += [t.to_state for t in rig.cond("gas.level1", s, 10.0 * i, active)]
    # on, off, then the third change (re-activation) trips the hold: no more transitions while it chatters
    assert states == [S.ACTIVE_UNACK, S.RETURNED_UNACK, S.ACTIVE_UNACK]
    alarm = rig.book.get(LEVEL1)
    assert alarm.chatter_hold
    assert rig.book.tick(70.0 + 200.0) == []
    tr = rig.book.tick(70.0 + 300.0)
    assert [(t.to_state, t.time) for t in tr] == [(S.RETURNED_UNACK, 370.0)]
    assert "chatter hold released" in tr[0].reason


def test_one_big_batch_gives_the_same_transitions_as_ticks_between_events(
    table: SensorTable, default_rules: list[Rule]
) -> None:
    """A chatter hold that expires in the middle of a batch is released before the later events of that batch."""
    s = "gas-n01-cl2"
    pattern = [(0.0, True), (10.0, False), (20.0, True), (30.0, False), (500.0, True), (510.0, False), (900.0, True)]
    stepwise = Rig(table, default_rules)
    expected = []
    for t, active in pattern:
        expected += stepwise.book.tick(t)
        expected += stepwise.cond("gas.level1", s, t, active)
    expected += stepwise.book.tick(1000.0)
    batched = Rig(table, default_rules)
    out = batched.engine.process(1000.0, [events(table, "gas.level1", [(s, t, a) for t, a in pattern])])
    got = batched.book.on_condition(out, 1000.0)
    assert [(t.time, t.to_state) for t in got] == [(t.time, t.to_state) for t in expected]
    assert any("chatter hold released" in t.reason for t in got)


def test_flood_is_flagged_after_ten_alarms_in_ten_minutes(rig: Rig, table: SensorTable) -> None:
    gas_sensors = [s.id for s in table.sensors if s.kind == "gas"][:12]
    flags = []
    for i, sensor in enumerate(gas_sensors):
        tr = rig.cond("gas.level1", sensor, 10.0 * i, True)
        flags.append(tr[0].flood)
    assert flags == [False] * 10 + [True, True]
    assert not rig.book.flood.in_flood(10.0 * 11 + 600.0)


def test_offline_device_suppresses_its_dependent_alarms(rig: Rig) -> None:
    # source monitor: heartbeat lost on the device's first sensor
    rig.cond("quality.stuck", "src-gauge-01-battery", 0.0, True)
    tr = rig.cond("source.heartbeat_lost", "src-gauge-01-dose", 10.0, True)
    states = {t.alarm_id: t.to_state for t in tr}
    assert states["source-heartbeat-lost-cat-4-5@src-gauge-01-dose"] is S.ACTIVE_UNACK
    assert states["quality-stuck@src-gauge-01-battery"] is S.SUPPRESSED
    # a "missing" report while the device is offline is a consequence, not news
    tr = rig.cond("source.missing", "src-gauge-01-dose", 20.0, True)
    assert tr[0].to_state is S.SUPPRESSED
    assert "offline" in tr[0].reason
    rig.cond("source.missing", "src-gauge-01-dose", 25.0, False)
    rig.cond("quality.stuck", "src-gauge-01-battery", 26.0, False)
    tr = rig.cond("source.heartbeat_lost", "src-gauge-01-dose", 30.0, False)
    assert {t.alarm_id: t.to_state for t in tr} == {
        "source-heartbeat-lost-cat-4-5@src-gauge-01-dose": S.RETURNED_UNACK,
        "quality-stuck@src-gauge-01-battery": S.NORMAL,
        "source-missing-cat-4-5@src-gauge-01-dose": S.NORMAL,
    }


def test_offline_never_hides_an_annunciated_hazard(rig: Rig) -> None:
    rig.cond("gas.aegl2_10min", "gas-n01-cl2", 0.0, True)
    rig.cond("quality.offline", "gas-n01-cl2", 10.0, True)
    assert rig.book.get(AEGL2).state is S.ACTIVE_UNACK


def test_snapshot_round_trip(rig: Rig, table: SensorTable, default_rules: list[Rule]) -> None:
    rig.cond("gas.level1", "gas-n01-cl2", 0.0, True)
    rig.book.shelve(LEVEL1, "li-na", "known", 600.0, 10.0)
    rig.book.set_out_of_service("gas-n02-cl2", True, "wang", 11.0)
    book = AlarmBook.from_snapshot(table, default_rules, rig.book.snapshot())
    assert book.get(LEVEL1).state is S.SHELVED
    assert book.out_of_service_sensors == {table.index["gas-n02-cl2"]}
    assert [t.to_state for t in book.tick(700.0)] == [S.ACTIVE_UNACK]
