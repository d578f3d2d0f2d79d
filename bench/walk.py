"""The walk of one reading: which files and rooms a chlorine reading crosses from the MQTT message to the page.

A private Mosquitto, the whole service on SQLite with one webhook route, and one message that crosses a Cl2
high-high level (two readings 11 s apart, so the on-delay is met inside the message). From the publish until the
webhook request arrives, a profiler notes every call into project code (daemon/, detectors/, rules/, plans/) with
the chain of project frames above it; a task's chain starts where the event loop resumed it. Consecutive frames in
one file are one step, so each distinct chain is one hop from the file above it into a new file.

It prints the files crossed, the hops, and, per room (a folder of ``daemon/``, or one of the pure packages), how
often a chain re-enters a room it had already left: the figures issue 11 asks about, measured rather than counted by
hand. ``--tree`` prints the chains as an indented tree. Nothing here is timed.

A second figure counts what a reader follows: the same chains without those that end in a trivial call, i.e. one
into a dunder protocol method (``ReadingBatch.__len__``, ``ChangeSet.__bool__``; ``__init__`` and ``__call__`` do
count) or into a function whose body is one ``return`` statement (``RankedEnum.rank``, ``CoreConfig.n_sensors``,
``WallClock.now``). Such a call is real and stays in the first figure; its file is counted in the second only if a
chain reaches it for something else. A trivial function that calls further project code leaves the calls below it
counted.

    python bench/walk.py [--tree]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import inspect
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from types import FrameType
from typing import Any

import aiomqtt
from aiohttp import web
from latency import senml
from private_broker import start_mosquitto
from webhook_service import start_receiver, webhook_paging_config

from daemon.config import DEFAULT_SITE
from daemon.service import Service
from daemon.site_file import load_site

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = tuple(f"{ROOT / name}/" for name in ("daemon", "detectors", "rules", "plans"))

Step = tuple[str, str]  # (file relative to the repository, function)


class CallChains:
    """Every distinct chain of project frames seen at a call, consecutive frames of one file folded into one step."""

    def __init__(self) -> None:
        self.chains: list[tuple[Step, ...]] = []
        self.trivial: set[tuple[Step, ...]] = set()  # chains that end in a trivial call (see the module docstring)
        self._seen: set[tuple[str, ...]] = set()

    def profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        """A ``sys.setprofile`` hook: note the chain above each call into project code."""
        if event != "call" or not frame.f_code.co_filename.startswith(PACKAGES):
            return
        steps: list[Step] = []
        current: FrameType | None = frame
        while current is not None:
            name = current.f_code.co_filename
            if name.startswith(PACKAGES):
                steps.append((name[len(str(ROOT)) + 1 :], current.f_code.co_qualname))
            current = current.f_back
        folded: list[Step] = []
        for step in reversed(steps):
            if not folded or folded[-1][0] != step[0]:
                folded.append(step)
        key = tuple(file for file, _ in folded)
        if key not in self._seen:
            # A new key ends in ``frame``'s file, entered by this very call: the step is ``frame``'s function.
            self._seen.add(key)
            self.chains.append(tuple(folded))
            if trivial(frame):
                self.trivial.add(tuple(folded))


def trivial(frame: FrameType) -> bool:
    """Whether the called function is a dunder protocol method (not ``__init__``/``__call__``) or one ``return``."""
    name = frame.f_code.co_name
    if name.startswith("__") and name.endswith("__") and name not in ("__init__", "__call__"):
        return True
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(frame.f_code)))
    except (OSError, TypeError, SyntaxError):
        return False
    function = tree.body[0] if tree.body else None
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return len(body) == 1 and isinstance(body[0], ast.Return)


def room(file: str) -> str:
    """The room a file belongs to: ``daemon/<folder>``, ``daemon`` for its top-level modules, or the package."""
    parts = file.split("/")
    if parts[0] == "daemon" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0]


def reentries(chain: tuple[Step, ...]) -> list[str]:
    """The rooms this chain enters again after leaving them (``a → b → a`` re-enters ``a``)."""
    left: set[str] = set()
    again: list[str] = []
    rooms = [room(file) for file, _ in chain]
    for before, after in pairwise(rooms):
        if after != before:
            left.add(before)
            if after in left:
                again.append(after)
    return again


async def trace() -> CallChains:
    """Run the service, publish one chlorine alarm and trace it until its page reaches the webhook."""
    site = load_site(DEFAULT_SITE)
    workdir = Path(tempfile.mkdtemp(prefix="hazwatch-walk-"))
    broker, port = start_mosquitto(workdir)
    paged = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        paged.set()
        return web.Response(text="ok")

    runner, hook_url = await start_receiver(hook)
    config = webhook_paging_config(port, workdir, hook_url, f"bench-walk-{port}")
    chains = CallChains()
    service = Service(config, site)
    await service.start()
    try:
        await asyncio.wait_for(service.wait_connected(), 15)
        device = next(d.id for d in site.devices if any(s.name == "cl2" for s in d.sensors))
        topic = f"bench/{site.site}/{device}"
        t = time.time() - 3600
        async with aiomqtt.Client("127.0.0.1", port, identifier="bench-walk") as client:
            await client.publish(topic, senml(device, [("cl2", 0.0, t - 30)]), qos=1)
            await asyncio.sleep(2)  # the sensor is known and clean before the traced message
            threading.setprofile(chains.profile)
            sys.setprofile(chains.profile)
            try:
                await client.publish(topic, senml(device, [("cl2", 2.0, t), ("cl2", 2.0, t + 11)]), qos=1)
                await asyncio.wait_for(paged.wait(), 20)
            finally:
                sys.setprofile(None)
                threading.setprofile(None)
    finally:
        await service.stop()
        await runner.cleanup()
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return chains


def main() -> None:
    """Trace one reading and print the walk's figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="store_true", help="print every chain as an indented tree")
    args = parser.parse_args()
    traced = asyncio.run(trace())
    chains = traced.chains
    files = Counter(file for chain in chains for file, _ in chain)
    followed = [chain for chain in chains if chain not in traced.trivial]
    followed_files = {file for chain in followed for file, _ in chain}
    rooms = Counter(room(file) for file in files)
    again = Counter(name for chain in chains for name in reentries(chain))
    if args.tree:
        for chain in chains:
            file, function = chain[-1]
            print(f"{'  ' * (len(chain) - 1)}{file} :: {function}")
    print(f"files crossed: {len(files)}; hops (distinct chains into a new file): {len(chains)}")
    print(f"without trivial calls (dunders, one-return functions): files {len(followed_files)}; hops {len(followed)}")
    print("files per room: " + ", ".join(f"{name} {count}" for name, count in sorted(rooms.items())))
    print("rooms re-entered within one chain: " + (", ".join(f"{n} x{c}" for n, c in again.most_common()) or "none"))


if __name__ == "__main__":
    main()
