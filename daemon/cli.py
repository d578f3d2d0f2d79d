"""The ``hazwatch`` command line.

Sub-commands are imported only when chosen: ``hazwatch --help`` must not pay for scipy, the drill stack or the
database layer, and ``hazwatch user add`` only for the database layer.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

# sub-command -> (module that registers it, one-line help for the top-level listing)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("daemon.commands.run", "run the monitoring service"),
    "check-config": ("daemon.commands.check_config", "validate config/site/rule/plan/roster files (exit 2 on error)"),
    "detect": ("daemon.commands.detect", "back-test the detectors on a CSV of timestamp,value"),
    "record": ("daemon.commands.drills", "record what arrives on the broker (or what the store holds)"),
    "simulate": ("daemon.commands.drills", "generate a recording from a scenario (or publish it live)"),
    "replay": ("daemon.commands.drills", "replay a recording through the service as a drill"),
    "drill": ("daemon.commands.drills", "run drills with people in the loop, compare drill runs"),
    "user": ("daemon.commands.user", "manage API users and tokens"),
    "rules": ("daemon.commands.rules", "show the rules in force, templates rendered"),
}
# Libraries that log every step at INFO: a terminal user wants the command's own output.
QUIET_LOGGERS = ("transitions", "amqtt", "alembic")
# Short commands a person runs at a terminal: only warnings and errors besides their own output.
TERMINAL_COMMANDS = frozenset({"user", "check-config", "rules"})


def _chosen(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the sub-command named in ``argv`` (all of them with None) is fully built."""
    parser = argparse.ArgumentParser(prog="hazwatch", description="Environmental-emergency monitoring daemon.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    if argv is None:
        wanted = {module for module, _ in COMMANDS.values()}
    else:
        chosen = _chosen(argv)
        wanted = {COMMANDS[chosen][0]} if chosen in COMMANDS else set()
    modules: list[ModuleType] = [importlib.import_module(name) for name in sorted(wanted)]
    for module in modules:
        module.register(subparsers)
    for name, (module_name, text) in COMMANDS.items():
        if module_name not in wanted:
            subparsers.add_parser(name, help=text, add_help=False)  # listed for --help; built when chosen
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    if args.command in TERMINAL_COMMANDS:
        logging.getLogger().setLevel(logging.WARNING)  # their output is the answer; schema INFO lines are noise
    from daemon.errors import ConfigError, HazwatchError  # noqa: PLC0415  # after --help, which needs neither

    try:
        return int(args.handler(args))
    except ConfigError as exc:
        for issue in exc.issues:
            sys.stderr.write(issue + "\n")
        return 2  # as check-config: the input is invalid
    except HazwatchError as exc:
        sys.stderr.write(f"hazwatch: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
