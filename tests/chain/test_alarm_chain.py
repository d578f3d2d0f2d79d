"""The alarm chain is pure: a step returns one change set and queues nothing; reloads go through engine methods."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from daemon.chain.alarm_chain import AlarmChain, ChangeSet
from daemon.chain.build import AlarmSetup, fresh_state
from daemon.config import DEFAULT_SITE, AlarmConfig
from daemon.site_file import load_site
from detectors.conditions import ConditionEvents
from plans.incident import NotificationKind
from rules.alarm import AlarmState
from rules.sensor_table import SensorTable

T0 = 1_700_000_000.0  # a Wednesday morning in China: the night duty officer is on


def _on(table: SensorTable, condition: str, sensor: str, t: float, active: bool = True) -> ConditionEvents:
    i = table.index[sensor]
    return ConditionEvents(
        condition, np.array([i], np.int32), np.array([t]), np.array([active]), np.array([30.0]), np.array([20.0])
    )


@pytest.fixture
def chain() -> AlarmChain:
    table = SensorTable.build(load_site(DEFAULT_SITE))
    _, state = fresh_state(table, AlarmSetup.load(AlarmConfig()), drill=False)
    return AlarmChain(table, state)


def test_a_condition_returns_one_change_set_with_alarm_incident_and_pages(chain: AlarmChain) -> None:
    """An AEGL-2 Cl2 exposure raises its alarm, opens an incident and pages the roster, all in one frozen value."""
    changes = chain.on_conditions(T0, [_on(chain.table, "gas.aegl2_10min", "gas-n01-cl2", T0)])
    assert isinstance(changes, ChangeSet)
    raised = [c for c in changes.alarms if c.transition.to_state is AlarmState.ACTIVE_UNACK]
    assert [c.transition.sensor_id for c in raised] == ["gas-n01-cl2"]
    assert raised[0].level == 20.0  # the level the condition crossed
    [incident] = changes.incidents
    assert incident.status == "open"
    assert incident.proposed_tier != "none"
    assert incident.detail["zones"] == [chain.table.zone[chain.table.index["gas-n01-cl2"]]]
    assert {entry.incident_id for entry in changes.timeline} == {incident.key}
    opening = [page for page in changes.pages if page.kind is NotificationKind.OPEN]
    assert opening
    assert opening[0].recipients  # somebody on duty is paged
    with pytest.raises(dataclasses.FrozenInstanceError):
        changes.time = 0.0  # type: ignore[misc]  # a change set is a value


def test_nothing_happening_is_an_empty_change_set(chain: AlarmChain) -> None:
    assert not chain.on_conditions(T0, [])
    assert not chain.tick(T0 + 1)


def test_a_reload_without_the_rule_ends_its_alarm_and_keeps_the_others(chain: AlarmChain) -> None:
    table = chain.table
    chain.on_conditions(T0, [_on(table, "gas.aegl2_10min", "gas-n01-cl2", T0)])
    raised = set(chain.state.book.alarms)
    assert raised
    setup = AlarmSetup.load(AlarmConfig())
    gone = next(iter(raised)).split("@", 1)[0]
    dropped = chain.reload([r for r in setup.rules if r.id != gone], setup.plan, setup.roster)
    assert dropped
    assert all(alarm_id.startswith(f"{gone}@") for alarm_id in dropped)
    assert set(chain.state.book.alarms) == raised - set(dropped)
    # The condition is still on: active_conditions hands it to rules a reload adds, at the reload's time.
    [events] = [e for e in chain.active_conditions(T0 + 5) if e.condition == "gas.aegl2_10min"]
    assert events.sensor.tolist() == [table.index["gas-n01-cl2"]]
    assert events.time.tolist() == [T0 + 5]
