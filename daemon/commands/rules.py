"""``hazwatch rules show``: the rules in force, with every template rendered, as YAML a person can read."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

import yaml

from rules.loading import default_rule_paths, load_rules
from rules.yaml_source import ConfigFileError

EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``rules`` parser and its ``show`` action."""
    parser = subparsers.add_parser("rules", help="show the rules in force, templates rendered")
    actions = parser.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print the rendered rules as YAML")
    show.add_argument("files", nargs="*", type=Path, help="rule files (default: the shipped rules/defaults/*.yaml)")
    show.add_argument("--id", default="*", help="only rules whose id matches this glob, e.g. 'cl2-*'")
    show.set_defaults(handler=lambda args: show_rules(args.files, args.id))


def show_rules(files: list[Path], pattern: str) -> int:
    """Print every rule (matching ``pattern``) of ``files`` as it is in force, rendered from its template."""
    try:
        rules = load_rules(files or default_rule_paths())
    except ConfigFileError as exc:
        for issue in exc.issues:
            sys.stderr.write(f"{issue.file}:{issue.line}: {issue.field}: {issue.message}\n")
        return EXIT_BAD_INPUT
    chosen = [rule for rule in rules if fnmatch.fnmatchcase(rule.id, pattern)]
    documents = [rule.model_dump(mode="json", exclude_defaults=True) for rule in chosen]
    sys.stdout.write(yaml.safe_dump({"rules": documents}, allow_unicode=True, sort_keys=False, width=120))
    sys.stderr.write(f"{len(chosen)} of {len(rules)} rules\n")
    return 0
