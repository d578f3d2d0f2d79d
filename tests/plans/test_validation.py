"""validate_files: every problem carries file, line and field."""

from __future__ import annotations

from pathlib import Path

from daemon.config import DEFAULT_SITE
from plans.loading import DEFAULT_PLAN, DEFAULT_ROSTER
from plans.validation import validate_files
from rules.loading import default_rule_paths

BAD_PLAN = """\
plan: bad
name: bad plan
alarm_paging: {roles: [duty_officer]}
tiers:
  - tier: blue
    name: IV
    triggers:
      - id: t1
        description: any level 2
        match: {conditions: [gas.level2], zone: [no-such-zone]}
    notify: [duty_officer, janitor]
    ack_deadline_s: 600
    escalation: [nobody_role]
  - tier: yellow
    name: III
    notify: [duty_officer]
    ack_deadline_s: 300
  - tier: blue
    name: IV again
    triggers:
      - id: t2
        description: same as t1
        match: {conditions: [gas.level2], zone: [no-such-zone]}
    notify: [duty_officer]
    ack_deadline_s: 600
"""

ROSTER = """\
roles:
  - {id: duty_officer, name: duty}
  - {id: nobody_role, name: held by nobody}
people:
  - id: a
    name: A
    roles: [duty_officer]
    channels: [{type: phone, address: "${A}"}]
shifts:
  - {role: duty_officer, person: ghost, start: "08:00", end: "20:00"}
"""

BAD_RULES = """\
rules:
  - id: r1
    selector: {zone: [atlantis]}
    condition: {name: gas.levelx}
    priority: low
    classification: hazard
    message: {zh: a, en: b}
"""


def test_shipped_defaults_are_clean() -> None:
    assert validate_files(DEFAULT_SITE, default_rule_paths(), DEFAULT_PLAN, DEFAULT_ROSTER) == []


def test_errors_carry_file_line_and_field(tmp_path: Path) -> None:
    plan, roster, rules = tmp_path / "plan.yaml", tmp_path / "roster.yaml", tmp_path / "rules.yaml"
    plan.write_text(BAD_PLAN, encoding="utf-8")
    roster.write_text(ROSTER, encoding="utf-8")
    rules.write_text(BAD_RULES, encoding="utf-8")
    issues = validate_files(DEFAULT_SITE, [rules], plan, roster)
    found = {(i.file, i.line, i.field): i.message for i in issues}

    def has(path: Path, line: int, field: str, text: str) -> None:
        message = found.get((str(path), line, field))
        assert message is not None, f"missing {path.name}:{line} {field} in {sorted(found)}"
        assert text in message

    has(rules, 4, "rules.0.condition.name", "unknown condition")
    has(roster, 10, "shifts.0.person", "unknown person")
    has(plan, 10, "tiers.0.triggers.0.match.zone.0", "unknown zone")
    has(plan, 11, "tiers.0.notify.1", "unknown role 'janitor'")
    has(plan, 13, "tiers.0.escalation.0", "unreachable escalation")
    has(plan, 14, "tiers.1.triggers", "no trigger")  # no triggers key: located at the tier
    has(plan, 18, "tiers.2.tier", "overlapping tiers")
    has(plan, 23, "tiers.2.triggers.0.match.zone.0", "unknown zone")


def test_same_trigger_in_two_tiers_is_an_overlap(tmp_path: Path) -> None:
    text = DEFAULT_PLAN.read_text(encoding="utf-8")
    # give the yellow tier a copy of blue's first trigger under another id
    text = text.replace(
        "  - tier: yellow\n    name: 较大 (III) / major\n    triggers:\n",
        "  - tier: yellow\n    name: 较大 (III) / major\n    triggers:\n"
        "      - id: copy\n        description: copy\n"
        "        match: {conditions: [gas.level2], zone_type: [boundary]}\n",
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    issues = validate_files(DEFAULT_SITE, default_rule_paths(), plan, DEFAULT_ROSTER)
    assert [(i.field, "overlapping tiers" in i.message) for i in issues] == [("tiers.1.triggers.0", True)]
    assert issues[0].line == text.splitlines().index("      - id: copy") + 1


def test_unreadable_yaml_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("tiers: [\n  - a: b\n", encoding="utf-8")
    issues = validate_files(DEFAULT_SITE, [], plan, DEFAULT_ROSTER)
    assert len(issues) == 1
    assert issues[0].file == str(plan)
    assert "not valid YAML" in issues[0].message
