"""The rule engine: condition transitions and readings become alarm events with the rule's delays."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from detectors.readings import FLAG_STUCK, ReadingBatch
from detectors.substances import SUBSTANCES
from rules.engine import RuleEngine
from rules.loading import load_rules
from rules.model import ConditionSpec, Message, Priority, Rule, Selector
from rules.sensor_table import SensorTable
from rules.yaml_source import ConfigFileError
from tests.rules.rules_support import events


def test_default_rules_cover_every_gas_and_aegl_window(default_rules: list[Rule]) -> None:
    ids = {r.id for r in default_rules}
    for gas, substance in SUBSTANCES.items():
        g = gas.lower()
        assert {f"{g}-level1", f"{g}-level2", f"{g}-idlh"} <= ids
        for minutes in (10, 30, 60):
            assert f"{g}-aegl2-{minutes}min" in ids
            assert f"{g}-aegl3-{minutes}min" in ids
        assert (f"{g}-aegl1-60min" in ids) == (substance.aegl1_60min is not None)
    assert {"gamma-level-200", "gamma-level-1000", "gamma-level-2000", "source-tamper", "quality-capture-low"} <= ids


def test_condition_event_becomes_alarm_event_with_messages(table: SensorTable, default_rules: list[Rule]) -> None:
    engine = RuleEngine(default_rules, table)
    out = engine.process(100.0, [events(table, "gas.aegl2_10min", [("gas-n01-cl2", 100.0, True)], 3.1, 2.8)])
    assert [e.rule_id for e in out] == ["cl2-aegl2-10min"]
    event = out[0]
    assert event.alarm_id == "cl2-aegl2-10min@gas-n01-cl2"
    assert event.priority is Priority.URGENT
    assert event.latching
    assert "3.1 ppm" in event.message_en
    assert "AEGL-2 (2.8 ppm)" in event.message_en
    assert "氯气" in event.message_zh


def test_selector_limits_rules_to_matching_sensors(table: SensorTable, default_rules: list[Rule]) -> None:
    engine = RuleEngine(default_rules, table)
    # a Cl2 condition at an HCl sensor must not fire the Cl2 rule
    out = engine.process(1.0, [events(table, "gas.aegl2_10min", [("gas-n01-hcl", 1.0, True)])])
    assert [e.rule_id for e in out] == ["hcl-aegl2-10min"]
    # source.missing on the category II camera fires the cat I/II rule only
    out = engine.process(2.0, [events(table, "source.missing", [("src-cam-01-dose", 2.0, True)])])
    assert [e.rule_id for e in out] == ["source-missing-cat-1-2"]


def _rule(**kw: object) -> Rule:
    base: dict[str, object] = {
        "id": "test-rule",
        "selector": Selector(sensor=["gas-n01-cl2"]),
        "condition": ConditionSpec(name="gas.level1"),
        "priority": Priority.MEDIUM,
        "classification": "hazard",
        "message": Message(zh="{sensor}", en="{sensor} {value}"),
    }
    return Rule.model_validate(base | kw)


def test_on_delay_holds_then_releases_and_drops_blips(table: SensorTable) -> None:
    engine = RuleEngine([_rule(on_delay_s=30.0)], table)
    s = "gas-n01-cl2"
    assert engine.process(10.0, [events(table, "gas.level1", [(s, 0.0, True)])]) == []
    # cleared before the delay ran out: the alarm never happens
    assert engine.process(20.0, [events(table, "gas.level1", [(s, 20.0, False)])]) == []
    assert engine.process(100.0) == []
    engine.process(110.0, [events(table, "gas.level1", [(s, 110.0, True)])])
    out = engine.process(150.0)
    assert [(e.time, e.active) for e in out] == [(140.0, True)]


def test_off_delay(table: SensorTable) -> None:
    engine = RuleEngine([_rule(off_delay_s=60.0)], table)
    s = "gas-n01-cl2"
    assert [e.active for e in engine.process(0.0, [events(table, "gas.level1", [(s, 0.0, True)])])] == [True]
    assert engine.process(30.0, [events(table, "gas.level1", [(s, 30.0, False)])]) == []
    out = engine.process(95.0)
    assert [(e.time, e.active) for e in out] == [(90.0, False)]


def test_level_rule_runs_on_batches_with_delay_and_ignores_invalid(
    table: SensorTable, default_rules: list[Rule]
) -> None:
    engine = RuleEngine([r for r in default_rules if r.condition.name == "level"], table)
    g = table.index["gamma-01-dose"]
    stuck = int(FLAG_STUCK)
    # invalid readings at 5,000 nSv/h must not raise anything
    bad = ReadingBatch.from_lists([g, g, g], [0.0, 60.0, 120.0], [5000.0] * 3, [stuck] * 3)
    assert engine.process(120.0, batch=bad) == []
    batch = ReadingBatch.from_lists([g] * 5, [200.0, 260.0, 320.0, 380.0, 440.0], [100.0, 300.0, 300.0, 300.0, 300.0])
    out = engine.process(440.0, batch=batch)
    assert [(e.rule_id, e.time, e.active) for e in out] == [("gamma-level-200", 380.0, True)]
    assert "200 nSv/h" in out[0].message_en


def test_engine_snapshot_restores_pending_and_level_state(table: SensorTable, default_rules: list[Rule]) -> None:
    rules = [*[r for r in default_rules if r.condition.name == "level"], _rule(on_delay_s=30.0)]
    engine = RuleEngine(rules, table)
    g = table.index["gamma-01-dose"]
    engine.process(60.0, batch=ReadingBatch.from_lists([g, g], [0.0, 60.0], [300.0, 300.0]))
    engine.process(60.0, [events(table, "gas.level1", [("gas-n01-cl2", 50.0, True)])])
    restored = RuleEngine(rules, table)
    restored.restore(engine.snapshot())
    out = restored.process(130.0, batch=ReadingBatch.from_lists([g, g], [120.0, 130.0], [300.0, 300.0]))
    assert sorted((e.rule_id, e.time) for e in out) == [("gamma-level-200", 120.0), ("test-rule", 80.0)]


def test_bad_rule_file_reports_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "rules:\n"
        "  - id: ok-rule\n"
        "    condition: {name: gas.level1}\n"
        "    priority: low\n"
        "    classification: hazard\n"
        "    message: {zh: a, en: b}\n"
        "  - id: bad-rule\n"
        "    condition:\n"
        "      name: gas.no_such_thing\n"
        "    priority: low\n"
        "    classification: hazard\n"
        "    message: {zh: a, en: '{nope}'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as info:
        load_rules([path])
    by_field = {i.field: i for i in info.value.issues}
    assert by_field["rules.1.condition.name"].line == 9
    assert "unknown condition" in by_field["rules.1.condition.name"].message
    assert by_field["rules.1.message.en"].line == 12
    assert all(i.file == str(path) for i in info.value.issues)


def test_level_params_required_only_for_level() -> None:
    with pytest.raises(ValueError, match="params"):
        ConditionSpec(name="level")
    with pytest.raises(ValueError, match="params"):
        ConditionSpec.model_validate({"name": "gas.level1", "params": {"above": 1}})
    params = ConditionSpec.model_validate({"name": "level", "params": {"below": 1}}).params
    assert params is not None
    assert math.isclose(params.below or 0, 1)


def test_sensors_of_lists_selected_sensors(table: SensorTable, default_rules: list[Rule]) -> None:
    engine = RuleEngine(default_rules, table)
    cat_1_2 = engine.sensors_of("source-missing-cat-1-2")
    assert cat_1_2
    devices = [table.devices[int(table.device_of[table.index[s]])] for s in cat_1_2]
    assert all(d.source is not None and d.source.category in (1, 2) for d in devices)
    expected = {d.id for d in table.devices if d.source is not None and d.source.category <= 2}
    assert {d.id for d in devices} == expected
    gamma = engine.sensors_of("gamma-level-2000")
    assert gamma
    assert all(table.sensors[table.index[s]].kind == "gamma_dose_rate" for s in gamma)
    with pytest.raises(KeyError):
        engine.sensors_of("no-such-rule")
