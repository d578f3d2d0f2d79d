"""Check a site, its rule files, plan and roster together; report every problem with file, line and field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from plans.model import Plan
from plans.roster import Roster
from rules.loading import load_rule_document
from rules.model import RuleFile
from rules.site import Site
from rules.yaml_source import ConfigFileError, ConfigIssue, YamlDocument, load_yaml, parse_model

M = TypeVar("M", bound=BaseModel)


def _parse(path: str | Path, model: type[M], issues: list[ConfigIssue]) -> tuple[YamlDocument, M] | None:
    try:
        doc = load_rule_document(path) if model is RuleFile else load_yaml(path)
        return doc, parse_model(doc, model)
    except ConfigFileError as exc:
        issues.extend(exc.issues)
        return None


def validate_files(
    site: Site | str | Path, rules_paths: Iterable[str | Path], plan_path: str | Path, roster_path: str | Path
) -> list[ConfigIssue]:
    """Every problem found; an empty list means the configuration is usable."""
    issues: list[ConfigIssue] = []
    if not isinstance(site, Site):
        parsed_site = _parse(site, Site, issues)
        if parsed_site is None:
            return issues
        site = parsed_site[1]
    rule_ids = _check_rules(site, rules_paths, issues)
    roster = _parse(roster_path, Roster, issues)
    role_holders: dict[str, set[str]] = {}
    if roster is not None:
        role_holders = _check_roster(*roster, issues)
    plan = _parse(plan_path, Plan, issues)
    if plan is not None:
        _check_plan(*plan, site, rule_ids=rule_ids, holders=role_holders if roster is not None else None, issues=issues)
    return issues


def _check_rules(site: Site, paths: Iterable[str | Path], issues: list[ConfigIssue]) -> set[str]:
    zones = {z.id for z in site.zones}
    devices = {d.id for d in site.devices}
    sensors = {s.id for d in site.devices for s in d.sensors}
    substances = {s.substance for d in site.devices for s in d.sensors if s.substance}
    seen: dict[str, str] = {}
    for path in paths:
        parsed = _parse(path, RuleFile, issues)
        if parsed is None:
            continue
        doc, rule_file = parsed
        for i, rule in enumerate(rule_file.rules):
            if rule.id in seen:
                issues.append(doc.issue(("rules", i, "id"), f"rule id {rule.id!r} already defined in {seen[rule.id]}"))
            seen.setdefault(rule.id, doc.file)
            sel = rule.selector
            for field, known, values in (
                ("zone", zones, sel.zone),
                ("device", devices, sel.device),
                ("sensor", sensors, sel.sensor),
            ):
                for j, value in enumerate(values or []):
                    if value not in known:
                        issues.append(doc.issue(("rules", i, "selector", field, j), f"unknown {field} {value!r}"))
            for j, value in enumerate(sel.substance or []):
                if value not in substances:
                    issues.append(
                        ConfigIssue(
                            doc.file,
                            doc.line_of(("rules", i, "selector", "substance", j)),
                            f"rules.{i}.selector.substance.{j}",
                            f"no sensor of site {site.site!r} measures {value!r}",
                            "warning",
                        )
                    )
    return set(seen)


def _check_roster(doc: YamlDocument, roster: Roster, issues: list[ConfigIssue]) -> dict[str, set[str]]:
    """Report unknown roles and people; return role -> people who hold it on some shift (or at all)."""
    roles = {r.id for r in roster.roles}
    people = {p.id: p for p in roster.people}
    for i, person in enumerate(roster.people):
        for j, role in enumerate(person.roles):
            if role not in roles:
                issues.append(doc.issue(("people", i, "roles", j), f"unknown role {role!r}"))
    holders: dict[str, set[str]] = {r: set() for r in roles}
    for i, shift in enumerate(roster.shifts):
        if shift.role not in roles:
            issues.append(doc.issue(("shifts", i, "role"), f"unknown role {shift.role!r}"))
        if shift.person not in people:
            issues.append(doc.issue(("shifts", i, "person"), f"unknown person {shift.person!r}"))
        elif shift.role not in people[shift.person].roles:
            issues.append(doc.issue(("shifts", i, "role"), f"{shift.person!r} does not hold role {shift.role!r}"))
    for person in roster.people:
        for role in person.roles:
            holders.setdefault(role, set()).add(person.id)
    return holders


def _check_plan(
    doc: YamlDocument,
    plan: Plan,
    site: Site,
    *,
    rule_ids: set[str],
    holders: dict[str, set[str]] | None,
    issues: list[ConfigIssue],
) -> None:
    zones = {z.id for z in site.zones}

    def role_ok(loc: tuple[str | int, ...], role: str, escalation: bool = False) -> None:
        if holders is None:
            return
        if role not in holders:
            issues.append(doc.issue(loc, f"unknown role {role!r}"))
        elif not holders[role]:
            what = "unreachable escalation" if escalation else "unreachable role"
            issues.append(doc.issue(loc, f"{what}: nobody on the roster holds role {role!r}"))

    for j, role in enumerate(plan.alarm_paging.roles):
        role_ok(("alarm_paging", "roles", j), role)
    tier_at: dict[str, int] = {}
    trigger_at: dict[str, tuple[int, int]] = {}
    for i, spec in enumerate(plan.tiers):
        base: tuple[str | int, ...] = ("tiers", i)
        if spec.tier.value in tier_at:
            issues.append(
                doc.issue(
                    (*base, "tier"), f"overlapping tiers: {spec.tier.value} is also tiers.{tier_at[spec.tier.value]}"
                )
            )
        tier_at.setdefault(spec.tier.value, i)
        if not spec.triggers:
            issues.append(
                doc.issue((*base, "triggers"), f"tier {spec.tier.value} has no trigger: it can never be proposed")
            )
        for j, role in enumerate(spec.notify):
            role_ok((*base, "notify", j), role)
        for j, role in enumerate(spec.escalation):
            role_ok((*base, "escalation", j), role, escalation=True)
        for j, action in enumerate(spec.actions):
            role_ok((*base, "actions", j, "role"), action.role)
        for j, report in enumerate(spec.reports):
            role_ok((*base, "reports", j, "role"), report.role)
        for j, trigger in enumerate(spec.triggers):
            loc = (*base, "triggers", j)
            if trigger.id in trigger_at:
                issues.append(doc.issue((*loc, "id"), f"trigger id {trigger.id!r} used twice"))
            trigger_at.setdefault(trigger.id, (i, j))
            for k, zone in enumerate(trigger.match.zone or []):
                if zone not in zones:
                    issues.append(doc.issue((*loc, "match", "zone", k), f"unknown zone {zone!r}"))
            for k, rule_id in enumerate(trigger.match.rules or []):
                if rule_id not in rule_ids:
                    issues.append(doc.issue((*loc, "match", "rules", k), f"unknown rule {rule_id!r}"))
    _check_overlaps(doc, plan, issues)


def _check_overlaps(doc: YamlDocument, plan: Plan, issues: list[ConfigIssue]) -> None:
    """The same trigger (same match and count) in two tiers makes the lower tier meaningless."""
    seen: dict[str, tuple[int, str]] = {}
    for i, spec in enumerate(plan.tiers):
        for j, trigger in enumerate(spec.triggers):
            key = trigger.model_dump_json(exclude={"id", "description"})
            if key in seen and seen[key][1] != spec.tier.value:
                issues.append(
                    doc.issue(
                        ("tiers", i, "triggers", j),
                        f"overlapping tiers: trigger {trigger.id!r} is identical to one of tier {seen[key][1]}",
                    )
                )
            seen.setdefault(key, (i, spec.tier.value))
