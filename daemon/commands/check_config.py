"""``hazwatch check-config``: validate config, site, rule, plan and roster files together.

Every problem is printed as ``file:line: field: message``; the exit status is 2 when there is any.
Files are recognised by suffix and top-level key; roles not given are checked with the shipped
defaults, so a rule file is validated against the site and plan it will run with. The roster is checked for roles
nobody fills at some hour of the week; with a config file, also for ``${VAR}`` placeholders the environment does not
set and for people no configured channel can reach.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from daemon.config import DEFAULT_SITE, load_config
from daemon.errors import ConfigError, format_issue
from daemon.notify.config import NotifyConfig
from daemon.notify.reachability import coverage_issues, delivery_issues, unknown_channel_types
from daemon.site_file import load_site
from plans.loading import DEFAULT_PLAN, DEFAULT_ROSTER, load_roster
from plans.validation import validate_files
from rules.loading import default_rule_paths
from rules.yaml_source import ConfigFileError

EXIT_INVALID = 2


def file_role(path: Path) -> str:
    """Guess what a file is from its suffix and top-level keys."""
    if path.suffix == ".toml":
        return "config"
    try:
        head = path.read_text(encoding="utf-8")[:65536]
    except OSError:
        return "site"
    for role, marker in (("site", "devices:"), ("rules", "rules:"), ("plan", "tiers:"), ("roster", "shifts:")):
        if any(line.startswith(marker) for line in head.splitlines()):
            return role
    return "site"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``check-config`` parser."""
    parser = subparsers.add_parser("check-config", help="validate config/site/rule/plan/roster files (exit 2 on error)")
    parser.add_argument("files", nargs="*", type=Path, help="files to check; none: the configured defaults")
    parser.set_defaults(handler=check_config)


def check_files(files: list[Path]) -> list[str]:
    """Every problem in the given files (and the defaults they are combined with)."""
    problems: list[str] = []
    by_role: dict[str, list[Path]] = {}
    for path in files:
        by_role.setdefault(file_role(path), []).append(path)
    config_site: Path = DEFAULT_SITE
    notify: list[NotifyConfig] = []
    for path in by_role.get("config", []):
        try:
            config = load_config(path)
            config_site = config.site_file
            notify.append(config.notify)
        except ConfigError as exc:
            problems += exc.issues
    sites = by_role.get("site", []) or [config_site]
    plans = by_role.get("plan", []) or [DEFAULT_PLAN]
    rosters = by_role.get("roster", []) or [DEFAULT_ROSTER]
    rules = by_role.get("rules", []) or default_rule_paths()
    for site_path in sites:
        try:
            site = load_site(site_path)
        except ConfigError as exc:
            problems += exc.issues
            continue
        for plan in plans:
            for roster in rosters:
                for issue in validate_files(site, rules, plan, roster):
                    line = format_issue(issue)
                    if issue.severity != "error":
                        line += f" ({issue.severity})"
                    if line not in problems:
                        problems.append(line)
    problems += _reachability(rosters, notify)
    return problems


def _reachability(rosters: list[Path], notify: list[NotifyConfig]) -> list[str]:
    """Whether the roster's people can be reached: always its shift coverage; with a config file, its channels."""
    problems: list[str] = []
    for path in rosters:
        try:
            roster = load_roster(path)
        except ConfigFileError:
            continue  # reported above with file and line
        found = unknown_channel_types(roster) + coverage_issues(roster)
        for config in notify:
            found += delivery_issues(roster, config, os.environ)
        problems += [f"{path}: {issue}" for issue in found]
    return problems


def check_config(args: argparse.Namespace) -> int:
    """Validate every file; print all problems; exit 2 if any."""
    problems = check_files(args.files)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if problems:
        sys.stderr.write(f"{len(problems)} problem(s) found\n")
        return EXIT_INVALID
    sys.stdout.write(f"ok: {len(args.files) or 'default'} file(s) valid\n")
    return 0
