"""Per-substance rule templates: one rule written once, rendered for every gas and every published AEGL duration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from detectors.substances import AEGL_DURATIONS_MIN, SUBSTANCES
from rules import templates
from rules.loading import DEFAULTS_DIR, load_rules
from rules.templates import window_name
from rules.yaml_source import ConfigFileError
from tests.helpers import run_cli


def _expected_ids(formula: str) -> set[str]:
    substance = SUBSTANCES[formula]
    gas = formula.lower()
    ids = {f"{gas}-level1", f"{gas}-level2", f"{gas}-idlh"}
    for level in (1, 2, 3):
        values = substance.aegl(level)
        if values is None:
            continue
        ids |= {f"{gas}-aegl{level}-{window_name(m)}" for m, v in zip(AEGL_DURATIONS_MIN, values, strict=True) if v}
    # An ERPG rule only where that ERPG tier is published and the AEGL of the same tier is not (DOE PAC hierarchy).
    ids |= {
        f"{gas}-erpg{tier}"
        for tier, value in enumerate(substance.erpg, start=1)
        if value is not None and substance.aegl(tier) is None
    }
    return ids


def test_shipped_gas_rules_cover_every_substance_and_published_duration() -> None:
    rules = {rule.id: rule for rule in load_rules([DEFAULTS_DIR / "gas.yaml"])}
    for formula in SUBSTANCES:
        gas = formula.lower()
        assert {i for i in rules if i.startswith(f"{gas}-")} == _expected_ids(formula), formula
        idlh = rules[f"{gas}-idlh"].condition.params
        assert idlh is not None
        assert idlh.above == SUBSTANCES[formula].idlh
        assert rules[f"{gas}-level1"].selector.substance == [formula]
        assert SUBSTANCES[formula].name_zh in rules[f"{gas}-level1"].message.zh
    assert "cocl2-aegl1-60min" not in rules  # phosgene AEGL-1 is "not recommended": no rule, no false comfort
    assert rules["cl2-aegl1-10min"].condition.name == "gas.aegl1_10min"
    assert rules["nh3-aegl3-8h"].latching
    assert "{sensor}" in rules["hf-aegl2-30min"].message.en  # the engine's own placeholders survive rendering


def test_a_gas_added_to_the_table_gets_its_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a substance is one entry in detectors/substances.py: the rules follow."""
    sulfur_dioxide = replace(SUBSTANCES["Cl2"], formula="SO2", name_en="sulfur dioxide", name_zh="二氧化硫", idlh=100.0)
    monkeypatch.setitem(SUBSTANCES, "SO2", sulfur_dioxide)
    rules = {rule.id: rule for rule in load_rules([DEFAULTS_DIR / "gas.yaml"])}
    assert {i for i in rules if i.startswith("so2-")} == _expected_ids("SO2")
    assert rules["so2-idlh"].message.en.endswith("above IDLH (100.0 ppm)")


def test_an_erpg_rule_stands_in_only_where_the_aegl_of_its_tier_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """H2S ERPG-1 (0.1 ppm, an odour level) is under its AEGL-1: with the AEGL published it raises nothing of its own;
    a gas whose AEGL-1 is not published is judged against its ERPG-1 instead."""
    rules = {rule.id: rule for rule in load_rules([DEFAULTS_DIR / "gas.yaml"])}
    assert "h2s-erpg1" not in rules
    assert "h2s-aegl1-60min" in rules
    no_aegl1 = replace(SUBSTANCES["NH3"], formula="XNH3", aegl1_all=None, name_en="ammonia without AEGL-1")
    monkeypatch.setitem(SUBSTANCES, "XNH3", no_aegl1)
    rules = {rule.id: rule for rule in load_rules([DEFAULTS_DIR / "gas.yaml"])}
    assert "xnh3-erpg1" in rules
    assert "xnh3-erpg2" not in rules
    assert not any(i.startswith("xnh3-aegl1-") for i in rules)
    assert rules["xnh3-erpg1"].condition.name == "gas.erpg1_60min"


def test_template_errors_point_at_the_template(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(
        "per_substance:\n  - id: '${id}-x'\n    selector: {kind: [gas]}\n    condition: {name: gas.level1}\n"
        "    priority: medium\n    classification: hazard\n    message: {zh: '${nam_zh}', en: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError, match=r"unknown placeholder \$\{nam_zh\}"):
        load_rules([unknown])
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(
        "per_substance:\n  - id: '${id}-x'\n    selector: {kind: [gas]}\n    condition: {name: gas.level1}\n"
        "    priority: loudest\n    classification: hazard\n    message: {zh: x, en: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as caught:
        load_rules([invalid])
    assert {(issue.line, issue.field.split(".")[-1]) for issue in caught.value.issues} == {(5, "priority")}
    bad_each = tmp_path / "each.yaml"
    bad_each.write_text("per_substance:\n  - for_each: aegl4\n    id: x\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match="for_each must be one of"):
        load_rules([bad_each])


def test_a_whole_placeholder_keeps_its_type() -> None:
    fields = {"idlh": 10.0, "id": "cl2"}
    assert templates.render({"above": "${idlh}", "id": "${id}-x", "n": 3}, fields) == {
        "above": 10.0,
        "id": "cl2-x",
        "n": 3,
    }


def test_rules_show_prints_the_rendered_rules() -> None:
    result = run_cli("rules", "show", "--id", "h2s-aegl1-*")
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)["rules"]
    assert {rule["id"] for rule in shown} == {i for i in _expected_ids("H2S") if i.startswith("h2s-aegl1-")}
    assert all(rule["condition"]["name"].startswith("gas.aegl1_") for rule in shown)
