"""Small helpers shared by tests: publishing SenML, polling the HTTP API and the store."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import aiomqtt

from daemon import cli  # light: it imports a command only when that command runs

T = TypeVar("T")


def senml(device: str, records: list[tuple[str, float | bool, str | None]], t: float) -> bytes:
    """A SenML message for one device at time ``t``: records are (name, value, unit)."""
    out: list[dict[str, Any]] = [{"bn": f"{device}:", "bt": t}]
    for name, value, unit in records:
        record: dict[str, Any] = {"n": name}
        if isinstance(value, bool):
            record["vb"] = value
        else:
            record["v"] = value
        if unit is not None:
            record["u"] = unit
        out.append(record)
    return json.dumps(out).encode()


async def publish(broker: tuple[str, int], messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish messages in order with one client."""
    async with aiomqtt.Client(broker[0], broker[1]) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=qos)


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail with the last value after ``timeout``."""
    last: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await probe()
                if last:
                    return last
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout}s; last probe returned {last!r}") from None


async def get_json(url: str) -> Any:
    """GET a JSON document."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        return await response.json()


@dataclass(frozen=True)
class CliResult:
    """What a ``hazwatch`` command printed and returned."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run ``hazwatch ARGS`` in this process, as ``python -m daemon.cli`` would, without a new interpreter.

    A subprocess pays 2-7 s of interpreter start and imports per call on a loaded machine; ``main`` here runs the same
    parser, handler and error reporting. Logging goes where ``main``'s ``basicConfig`` sends it in a fresh process (the
    captured stderr): pytest's own root handlers are set aside for the call and put back afterwards, with the levels.
    ``tests/commands/test_cli_run.py`` keeps real processes for what only a process shows (start-up imports, signals).
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in cli.QUIET_LOGGERS}
    out, err = io.StringIO(), io.StringIO()
    for handler in handlers:
        root.removeHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse errors and --help
                code = exc.code if isinstance(exc.code, int) else 1
            for handler in root.handlers[:]:  # the StreamHandler basicConfig added on the captured stderr
                handler.flush()
                root.removeHandler(handler)
    finally:
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)
    return CliResult(code, out.getvalue(), err.getvalue())
