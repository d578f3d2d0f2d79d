"""The service's side of the render process (``daemon.metrics.render_worker``).

In CPython a render thread shares the GIL with the event loop: however finely it is cut, while it runs the loop's
thread must win the lock back at every step, and the alarm path slowed by ~20 ms at the median during city-scale
scrapes. A child process has its own interpreter and lock. It keeps each collector's layout (the series names and
labels, ~15 MB at 10,000 sensors, sent once), receives per scrape only the arrays copied on the loop (~0.4 MB),
and writes the text to a file in memory-backed storage; the service sends that file with sendfile(2), so the body
never passes through Python at all.

The files are reused: a scrape writes over the pages of an earlier one (allocating and freeing 25 MB of tmpfs
pages per scrape cost ~16 ms of kernel time at each end, measured). A file is lent to one scrape at a time, until
its response is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from daemon.metrics.render_worker import STOP
from daemon.metrics.text_format import Frame
from daemon.tasks.supervisor import end_task

log = logging.getLogger(__name__)

# A render of 10,000 sensors takes ~0.1 s of CPU; a loaded machine stretches that, a hung child must not hold
# scrapes for ever: past this the child is stopped and the scrape rendered in this process.
RENDER_TIMEOUT_S = 30.0
# Starting imports numpy, prometheus_client and the collectors (~0.5 s of CPU; far longer on a loaded machine).
START_TIMEOUT_S = 120.0
# tmpfs on Linux (shm_overview(7)): the file never goes to a disk. mkdtemp makes a private (0700) directory in it.
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108


@dataclass
class Rendered:
    """A rendered scrape: ``size`` bytes at the start of ``file``; ``close`` gives the file back for a later one."""

    file: BinaryIO
    size: int
    _release: Callable[[], None]

    def close(self) -> None:
        """Close the file and give it back (once)."""
        if not self.file.closed:
            self.file.close()
            self._release()


class RenderProcessError(Exception):
    """The render process did not answer with a file (not running, died, timed out, or failed to render)."""


def _scratch_parent() -> str | None:
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        return str(SHARED_MEMORY)
    return None  # the platform's temporary directory


class RenderProcess:
    """A child process that renders frames into files, one scrape at a time; restarted at the next scrape if it
    died."""

    def __init__(self, timeout_s: float = RENDER_TIMEOUT_S, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._start_timeout_s = start_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._directory: Path | None = None
        self._known: set[int] = set()  # layout keys the child holds
        self._lock = asyncio.Lock()
        self._free: list[int] = []  # files no scrape is sending
        self._files = 0
        self.starts = 0  # how many times a child was started (tests, logs)
        self._starting: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether a child is running now."""
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the child (again) and wait until it is ready; raises ``OSError`` when it cannot be started."""
        await self._stop_child()
        if self._directory is None or not self._directory.is_dir():  # a child cut mid-request removed it
            self._directory = Path(tempfile.mkdtemp(prefix="hazwatch-metrics-", dir=_scratch_parent()))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.metrics.render_worker", str(self._directory),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._known = set()
        self.starts += 1
        assert self._process.stdout is not None  # noqa: S101 - asked for above
        ready = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._start_timeout_s):
                ready = await self._process.stdout.readline()
        if ready.strip() != b"ready":
            await self._stop_child()
            raise OSError(f"the render process did not start (it said {ready[:200]!r})")

    def start_soon(self) -> None:
        """Start the child in the background (the service's start does not wait for its imports; a scrape that
        comes first waits for it)."""

        async def start() -> None:
            async with self._lock:
                try:
                    await self.start()
                except OSError as exc:
                    log.warning("/metrics: cannot start the render process (%s); the next scrape tries again", exc)

        self._starting = asyncio.create_task(start(), name="metrics-render-process-start")

    async def close(self) -> None:
        """Stop the child and remove its directory."""
        if self._starting is not None:
            await end_task(self._starting)
            self._starting = None
        await self._stop_child()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    async def render(self, frames: Sequence[Frame]) -> Rendered:
        """The frames' text, in order, in a file lent until ``Rendered.close``."""
        async with self._lock:
            if not self.running:
                try:
                    await self.start()
                except OSError as exc:
                    raise RenderProcessError(f"cannot start the render process: {exc}") from exc
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self._render(frames)
            except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, RenderProcessError) as exc:
                await self._stop_child()  # whatever state it is in, the next scrape starts a fresh one
                if isinstance(exc, RenderProcessError):
                    raise
                raise RenderProcessError(f"render process failed: {type(exc).__name__}: {exc}") from exc

    async def _render(self, frames: Sequence[Frame]) -> Rendered:
        process, directory = self._process, self._directory
        if process is None or process.stdin is None or process.stdout is None or directory is None:
            raise RenderProcessError("the render process is not running")
        number = self._free.pop() if self._free else self._files
        self._files = max(self._files, number + 1)
        try:
            size = await self._ask(process, number, frames)
            file = (directory / f"{number}.prom").open("rb")
        except BaseException:
            self._free.append(number)
            raise
        return Rendered(file, size, lambda: self._free.append(number))

    async def _ask(self, process: asyncio.subprocess.Process, number: int, frames: Sequence[Frame]) -> int:
        assert process.stdin is not None  # noqa: S101 - checked by the caller
        assert process.stdout is not None  # noqa: S101
        new = [frame.key not in self._known for frame in frames]
        sent = [(f.key, f.layout if fresh else None, f.state) for f, fresh in zip(frames, new, strict=True)]
        request = (number, sent)
        # States pickle in well under a millisecond (arrays); a first layout is megabytes of strings: a thread.
        if any(new):
            payload = await asyncio.to_thread(pickle.dumps, request, pickle.HIGHEST_PROTOCOL)
        else:
            payload = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        process.stdin.write(len(payload).to_bytes(8, "big") + payload)
        await process.stdin.drain()
        self._known = {frame.key for frame in frames}  # the child keeps exactly these (render_worker._render)
        answer = (await process.stdout.readline()).decode(errors="replace").strip()
        if not answer:
            raise EOFError("the render process ended")
        word, _, rest = answer.partition(" ")
        if word != "ok":
            raise RenderProcessError(f"the render process could not render: {rest}")
        return int(rest)

    async def _stop_child(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        try:
            async with asyncio.timeout(2.0):
                if process.stdin is not None:
                    # STOP, then the end of requests: the child exits and leaves the directory to this process (the
                    # end of requests alone means this process died, and the child removes the directory)
                    with contextlib.suppress(OSError):  # the child is gone already (a broken or reset pipe)
                        process.stdin.write(STOP)
                        await process.stdin.drain()
                    process.stdin.close()
                await process.wait()
        except TimeoutError:  # hung or stopped: SIGKILL ends a stopped process too (signal(7))
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
