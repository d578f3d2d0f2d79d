"""One /metrics scrape: the small registry on the loop, the per-sensor families from snapshots in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from daemon.metrics.text_format import Render, SnapshotCollector


def _render_all(renders: Sequence[Render]) -> bytes:
    return b"".join(render() for render in renders)


class Exposition:
    """Renders the registry (counters, gauges, histograms: a few hundred series) plus the snapshot collectors."""

    def __init__(self, registry: CollectorRegistry, snapshots: Sequence[SnapshotCollector] = ()) -> None:
        self.registry = registry
        self.snapshots = list(snapshots)  # not registered in ``registry``: rendered by their own fast path

    def snapshot(self) -> tuple[bytes, list[Render]]:
        """What must happen on the event loop: the small registry's text and every collector's snapshot."""
        return generate_latest(self.registry), [collector.snapshot() for collector in self.snapshots]

    def render_sync(self) -> bytes:
        """The whole exposition in the calling thread (benchmarks, tests)."""
        head, renders = self.snapshot()
        return head + _render_all(renders)

    async def render(self) -> bytes:
        """The whole exposition; the expensive text formatting runs in a worker thread, off the event loop."""
        head, renders = self.snapshot()
        return head + await asyncio.to_thread(_render_all, renders)
