"""Load rule files, and the default rules shipped with hazwatch."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rules.model import Rule, RuleFile
from rules.templates import expand_templates
from rules.yaml_source import ConfigFileError, ConfigIssue, YamlDocument, load_yaml, parse_model

DEFAULTS_DIR = Path(__file__).parent / "defaults"


def default_rule_paths() -> list[Path]:
    """The shipped rule files, in name order."""
    return sorted(DEFAULTS_DIR.glob("*.yaml"))


def load_rule_document(path: str | Path) -> YamlDocument:
    """A rule file as YAML with lines, its ``per_substance`` templates rendered (``rules.templates``)."""
    return expand_templates(load_yaml(path))


def load_rules(paths: Iterable[str | Path]) -> list[Rule]:
    """Load and validate rule files; rule ids must be unique across files. Raise ``ConfigFileError``."""
    rules: list[Rule] = []
    issues: list[ConfigIssue] = []
    where: dict[str, str] = {}
    for path in paths:
        try:
            doc = load_rule_document(path)
            loaded = parse_model(doc, RuleFile)
        except ConfigFileError as exc:
            issues.extend(exc.issues)
            continue
        for i, rule in enumerate(loaded.rules):
            if rule.id in where:
                issues.append(doc.issue(("rules", i, "id"), f"rule id {rule.id!r} already defined in {where[rule.id]}"))
                continue
            where[rule.id] = doc.file
            rules.append(rule)
    if issues:
        raise ConfigFileError(issues)
    return rules


def load_default_rules() -> list[Rule]:
    """The shipped default rules."""
    return load_rules(default_rule_paths())
