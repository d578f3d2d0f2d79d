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

A third figure is the reading's own data path, the one to compare with the issue's hand count (23 files, 38 hops
"along the reading's path"): the calls that carry the reading, or something made from it, to the channel that
sends the page. A value carries the reading when it is the message's payload or was returned by a call that took a
carrying value (so the decoded batch, the detectors' result, the alarm transitions, the change set, the page's
facts and its JSON carry it); an argument carries when it is such a value or holds one within two levels of lists,
tuples, sets, dict values or dataclass fields. Strings and bytes count by value, so the page's JSON is followed
through the database to the worker that sends it. From every carrying call into ``daemon/notify/channels/`` (the
``send`` and what it calls to make the request) the figure goes back through the calls whose results those took, to
the message; the files on those calls' chains (every project frame above them) and their distinct chains (hops)
are counted. Calls that carry the reading elsewhere (the readings to the store, state to the checkpoints, the
signalling that a commit happened: ids, not the reading) are not on its path to the page. It is a lower bound:
what a function computes inline from a carrying value (``batch.value[mask]``) is not followed into the calls it is
passed to, only what calls return. ``--data`` prints those chains.

    python bench/walk.py [--tree] [--data]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import inspect
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from itertools import islice, pairwise
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
    """Every distinct chain of project frames seen at a call, consecutive frames of one file folded into one step;
    and which calls carry the reading (``DataPath``)."""

    def __init__(self, data: DataPath) -> None:
        self.chains: list[tuple[Step, ...]] = []
        self.trivial: set[tuple[Step, ...]] = set()  # chains that end in a trivial call (see the module docstring)
        self.data = data
        self._seen: set[tuple[str, ...]] = set()

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        """A ``sys.setprofile`` hook: note the chain above each call into project code."""
        if not frame.f_code.co_filename.startswith(PACKAGES):
            return
        if event == "return":
            self.data.returned(frame, arg)
            return
        if event != "call":
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
        self.data.called(frame, tuple(folded))
        key = tuple(file for file, _ in folded)
        if key not in self._seen:
            # A new key ends in ``frame``'s file, entered by this very call: the step is ``frame``'s function.
            self._seen.add(key)
            self.chains.append(tuple(folded))
            if trivial(frame):
                self.trivial.add(tuple(folded))


class DataPath:
    """Which calls carry the reading, and which of them lead to the page that is sent (see the module docstring).

    A value carries the reading when it is the message's payload, or was returned by a call that took a carrying
    value; an argument carries when it is such a value or holds one (within two levels of lists, tuples, sets,
    dict values and dataclass fields). Strings and bytes count by value (16 characters or more), so the page's JSON
    is followed through the database to the worker that sends it; every other value by identity.
    """

    def __init__(self, payload: bytes) -> None:
        self.calls: list[tuple[tuple[Step, ...], frozenset[int]]] = []  # per carrying call: its chain, its sources
        self._made_by: dict[int, int] = {}  # id of a carrying value -> the call that returned it (-1: the message)
        self._kept: list[object] = []  # the carrying values, kept alive so that no other object takes their id
        self._by_value: dict[str | bytes, int] = {payload: -1}
        self._running: dict[int, int] = {}  # id of a carrying call's frame -> the call's number

    def called(self, frame: FrameType, chain: tuple[Step, ...]) -> None:
        """A call into project code: a carrying one when one of its arguments carries the reading."""
        code = frame.f_code
        count = code.co_argcount + code.co_kwonlyargcount
        count += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
        local = frame.f_locals
        sources: set[int] = set()
        for name in code.co_varnames[:count]:
            if name in local:
                sources |= self._sources(local[name], 2)
        if sources:
            self._running[id(frame)] = len(self.calls)
            self.calls.append((chain, frozenset(sources)))

    def returned(self, frame: FrameType, value: object) -> None:
        """A project function returns (or a coroutine or generator yields): what a carrying call gives carries."""
        call = self._running.pop(id(frame), None)
        if call is not None:
            self._mark(value, call, 2)

    def sent(self) -> list[tuple[Step, ...]]:
        """The chains of the calls that carried the reading into a channel (its ``send`` and what that calls to make
        the request) and of every call whose result those took, back to the message; oldest first."""
        wanted: set[int] = set()
        todo = [i for i, (chain, _) in enumerate(self.calls) if chain[-1][0].startswith("daemon/notify/channels/")]
        if not todo:
            raise RuntimeError("no channel sent anything made from the reading")
        while todo:
            call = todo.pop()
            if call >= 0 and call not in wanted:
                wanted.add(call)
                todo += self.calls[call][1]
        return [self.calls[i][0] for i in sorted(wanted)]

    def _mark(self, value: object, call: int, depth: int) -> None:
        if value is None or isinstance(value, bool | int | float):
            return  # small numbers and flags are shared objects: they carry nothing by identity
        if isinstance(value, str | bytes):
            if len(value) >= 16:
                self._by_value.setdefault(value, call)
            return
        if id(value) not in self._made_by:
            self._made_by[id(value)] = call
            self._kept.append(value)
        if depth:
            for item in _parts(value):
                self._mark(item, call, depth - 1)

    def _sources(self, value: object, depth: int) -> set[int]:
        if isinstance(value, str | bytes):
            made = self._by_value.get(value) if len(value) >= 16 else None
            return set() if made is None else {made}
        found = {self._made_by[id(value)]} if id(value) in self._made_by else set()
        if depth:
            for item in _parts(value):
                found |= self._sources(item, depth - 1)
        return found


def _parts(value: object) -> list[object]:
    """What a value holds, for ``DataPath``: up to 64 items of a list, tuple, set or dict, or a dataclass's fields."""
    if isinstance(value, list | tuple | set | frozenset):
        return list(islice(value, 64))
    if isinstance(value, dict):
        return list(islice(value.values(), 64))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [getattr(value, field.name, None) for field in dataclasses.fields(value)]
    return []


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
            payload = senml(device, [("cl2", 2.0, t), ("cl2", 2.0, t + 11)])
            chains = CallChains(DataPath(payload))
            threading.setprofile(chains.profile)
            sys.setprofile(chains.profile)
            try:
                await client.publish(topic, payload, qos=1)
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
    parser.add_argument("--data", action="store_true", help="print the chains of the reading's data path")
    args = parser.parse_args()
    traced = asyncio.run(trace())
    carried = traced.data.sent()
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
    if args.data:
        for chain in dict.fromkeys(carried):
            print(" -> ".join(f"{file}::{function}" for file, function in chain))
    print(f"files crossed: {len(files)}; hops (distinct chains into a new file): {len(chains)}")
    print(f"without trivial calls (dunders, one-return functions): files {len(followed_files)}; hops {len(followed)}")
    carried_files = {file for chain in carried for file, _ in chain}
    print(
        f"on the reading's data path (the calls that carry it to the sender): files {len(carried_files)}; "
        f"hops {len({tuple(f for f, _ in chain) for chain in carried})}"
    )
    print("files per room: " + ", ".join(f"{name} {count}" for name, count in sorted(rooms.items())))
    print("rooms re-entered within one chain: " + (", ".join(f"{n} x{c}" for n, c in again.most_common()) or "none"))


if __name__ == "__main__":
    main()
