"""``hazwatch user add|list|revoke|password``: API users, their bearer tokens and passwords."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from daemon.clock import WallClock
from daemon.config import load_config
from daemon.errors import HazwatchError
from daemon.review.workflow import REVIEW_ROLES
from daemon.store.engine import create_engine, migrate
from daemon.web.api.auth import ROLES, add_user, list_users, revoke_user
from daemon.web.api.errors import ApiError
from daemon.web.api.login import set_password


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``user`` parser and its sub-commands."""
    parser = subparsers.add_parser("user", help="manage API users and tokens")
    actions = parser.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="create a user and print a new token once")
    add.add_argument("name")
    add.add_argument(
        "--role",
        required=True,
        choices=(*ROLES, *REVIEW_ROLES),
        help="viewer < operator < supervisor < admin; data reviewers: reviewer_station, reviewer_centre, "
        "reviewer_bureau (tiers 1-3, read-only otherwise)",
    )
    listing = actions.add_parser("list", help="list users")
    revoke = actions.add_parser("revoke", help="disable a user and revoke their tokens")
    revoke.add_argument("name")
    password = actions.add_parser(
        "password", help="set a user's password for POST /api/login (read from the terminal, or stdin's first line)"
    )
    password.add_argument("name")
    for sub in (add, listing, revoke, password):
        sub.add_argument("--db", help="database URL (default: from --config or sqlite:///hazwatch.db)")
        sub.add_argument("--config", help="service config (TOML)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out the sub-command."""
    config = load_config(Path(args.config) if args.config else None)
    url = args.db or config.database.url
    try:
        return asyncio.run(_run(args, url))
    except ApiError as exc:
        raise HazwatchError(str(exc)) from exc


async def _run(args: argparse.Namespace, url: str) -> int:
    engine = create_engine(url)
    try:
        await migrate(engine)
        if args.user_command == "add":
            token = await add_user(engine, args.name, args.role, WallClock().now())
            sys.stdout.write(f"user {args.name} ({args.role}) created; token (shown once):\n{token}\n")
        elif args.user_command == "list":
            for user in await list_users(engine):
                state = "disabled" if user["disabled"] else "active"
                sys.stdout.write(f"{user['name']}\t{user['role']}\t{state}\ttokens={user['active_tokens']}\n")
        elif args.user_command == "password":
            await set_password(engine, args.name, _read_password())
            sys.stdout.write(f"password of {args.name} set\n")
        else:
            revoked = await revoke_user(engine, args.name)
            sys.stdout.write(f"user {args.name} disabled, {revoked} token(s) revoked\n")
    finally:
        await engine.dispose()
    return 0


def _read_password() -> str:
    """From the terminal without echo (asked twice), else the first line of stdin (never an argument: ps shows it)."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise HazwatchError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")
