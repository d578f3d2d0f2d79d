"""One /metrics scrape: the small registry in a thread, the per-sensor families in the render process.

Without a render process (not configured, or it failed), the families render in worker threads as before.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from daemon.metrics.render_process import Rendered, RenderProcess, RenderProcessError
from daemon.metrics.text_format import Frame, Render, SnapshotCollector

log = logging.getLogger(__name__)

# While a render thread runs, every other thread (aiosqlite's, which commits the alarm rows) must win the GIL back
# at each of its many small steps, and a CPU-bound holder gives it up only every switch interval (5 ms by default):
# the commit crawls (the "convoy effect", Beazley, "Understanding the Python GIL", PyCon 2010). A short interval
# while a render is in flight lets the others through; it is restored when the last render ends.
RENDER_SWITCH_INTERVAL_S = 0.0005


class _ShortSwitchInterval:
    """Counts renders in flight; the interpreter's switch interval is short while there is one."""

    def __init__(self) -> None:
        self._active = 0
        self._saved = sys.getswitchinterval()

    def __enter__(self) -> None:
        if self._active == 0:
            self._saved = sys.getswitchinterval()
            sys.setswitchinterval(min(self._saved, RENDER_SWITCH_INTERVAL_S))
        self._active += 1

    def __exit__(self, *_: object) -> None:
        self._active -= 1
        if self._active == 0:
            sys.setswitchinterval(self._saved)


_SHORT_SWITCH = _ShortSwitchInterval()  # entered and left on the event loop only, so the count needs no lock


def _render_all(renders: Sequence[Render]) -> bytes:
    return b"".join(render() for render in renders)


@dataclass
class Scrape:
    """One exposition: ``parts`` (bytes, in order), then the first ``size`` bytes of ``rendered.file`` if any."""

    parts: list[bytes]
    rendered: Rendered | None = None

    @property
    def size(self) -> int:
        """Bytes in all."""
        return sum(len(part) for part in self.parts) + (self.rendered.size if self.rendered is not None else 0)

    def close(self) -> None:
        """Give the rendered file back."""
        if self.rendered is not None:
            self.rendered.close()


class Exposition:
    """Renders the registry (counters, gauges, histograms: a few hundred series) plus the snapshot collectors."""

    def __init__(
        self,
        registry: CollectorRegistry,
        snapshots: Sequence[SnapshotCollector] = (),
        process: RenderProcess | None = None,
    ) -> None:
        self.registry = registry
        self.snapshots = list(snapshots)  # not registered in ``registry``: rendered by their own fast path
        self.process = process

    async def start(self) -> None:
        """Start the render process, if there is one, and wait until it is ready (failing that, scrapes render in
        threads until a later scrape starts it)."""
        if self.process is None:
            return
        try:
            await self.process.start()
        except OSError as exc:
            log.warning("/metrics: cannot start the render process (%s); rendering in threads", exc)

    def start_soon(self) -> None:
        """Start the render process, if there is one, without waiting for it."""
        if self.process is not None:
            self.process.start_soon()

    async def close(self) -> None:
        """Stop the render process."""
        if self.process is not None:
            await self.process.close()

    async def scrape(self) -> Scrape:
        """The exposition for one scrape: the registry's text, then the families the render process wrote.

        On the loop: only the collectors' frames (array copies). Without a working render process the frames are
        rendered in threads instead (``render_parts``), and a warning says why.
        """
        frames = [collector.frame() for collector in self.snapshots]
        with _SHORT_SWITCH:
            head = await asyncio.to_thread(generate_latest, self.registry)
        if self.process is not None:
            try:
                return Scrape([head], await self.process.render(frames))
            except RenderProcessError as exc:
                log.warning("/metrics: %s; rendering this scrape in threads", exc)
        return Scrape([head, *await self._render_in_threads(frames)])

    async def _render_in_threads(self, frames: Sequence[Frame]) -> list[bytes]:
        parts = []
        with _SHORT_SWITCH:
            for frame in frames:
                parts.append(await asyncio.to_thread(frame.render))
        return parts

    def snapshot(self) -> tuple[bytes, list[Render]]:
        """What must happen on the event loop: the small registry's text and every collector's snapshot."""
        return generate_latest(self.registry), [collector.snapshot() for collector in self.snapshots]

    def render_sync(self) -> bytes:
        """The whole exposition in the calling thread (benchmarks, tests)."""
        head, renders = self.snapshot()
        return head + _render_all(renders)

    async def render(self) -> bytes:
        """The whole exposition; the expensive text formatting runs in a worker thread, off the event loop."""
        return b"".join(await self.render_parts())

    async def render_parts(self) -> list[bytes]:
        """The exposition as the parts to send one after the other (never joined: 25 MB at city scale).

        On the loop: only the collectors' snapshots. Each collector renders in its own worker-thread call, so the
        loop runs between them; collectors whose text did not change since the last scrape (the site's info and
        levels, mostly the states) hand back the bytes they already hold without any work.
        """
        frames = [collector.frame() for collector in self.snapshots]
        with _SHORT_SWITCH:
            # The registry holds only prometheus_client's own counters, gauges and histograms, whose values sit
            # behind locks, so it renders safely from a thread too (~2 ms less on the loop at each scrape).
            head = await asyncio.to_thread(generate_latest, self.registry)
        return [head, *await self._render_in_threads(frames)]
