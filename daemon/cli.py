"""The ``hazwatch`` command line."""

from __future__ import annotations

import argparse
import logging
import sys

from daemon.commands import check_config, detect, drills, run, user
from daemon.errors import ConfigError, HazwatchError

COMMANDS = (run, check_config, detect, drills, user)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="hazwatch", description="Environmental-emergency monitoring daemon.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The embedded broker's state-machine library logs every session transition at INFO.
    for noisy in ("transitions", "amqtt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        for issue in exc.issues:
            sys.stderr.write(issue + "\n")
        return check_config.EXIT_INVALID
    except HazwatchError as exc:
        sys.stderr.write(f"hazwatch: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
