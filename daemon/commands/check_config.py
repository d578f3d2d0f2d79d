"""``hazwatch check-config``: validate config and site files, printing file, line and field of each error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.site_file import load_site

EXIT_INVALID = 2

# Validators per file role; other packages add theirs (rules, plans, rosters).
VALIDATORS: dict[str, Callable[[Path], object]] = {
    "config": load_config,
    "site": load_site,
}


def file_role(path: Path) -> str:
    """Guess what a file is from its suffix and top-level keys."""
    if path.suffix == ".toml":
        return "config"
    try:
        head = path.read_text(encoding="utf-8")[:4096]
    except OSError:
        return "site"
    for role, marker in (("site", "devices:"), ("rules", "rules:"), ("plan", "tiers:"), ("roster", "shifts:")):
        if any(line.startswith(marker) for line in head.splitlines()):
            return role
    return "site"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``check-config`` parser."""
    parser = subparsers.add_parser("check-config", help="validate config/site/rule/plan/roster files (exit 2 on error)")
    parser.add_argument("files", nargs="*", type=Path, help="files to check; none: the built-in defaults")
    parser.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    """Validate every file; print all problems; exit 2 if any."""
    files: list[Path] = args.files
    problems: list[str] = []
    if not files:
        try:
            config = load_config(None)
            load_site(config.site_file)
        except ConfigError as exc:
            problems += exc.issues
    for path in files:
        role = file_role(path)
        validator = VALIDATORS.get(role)
        if validator is None:
            problems.append(f"{path}: looks like a {role} file, which this version cannot check yet")
            continue
        try:
            validator(path)
        except ConfigError as exc:
            problems += exc.issues
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if problems:
        sys.stderr.write(f"{len(problems)} problem(s) found\n")
        return EXIT_INVALID
    sys.stdout.write(f"ok: {len(files) or 'default'} file(s) valid\n")
    return 0
