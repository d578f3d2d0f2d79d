"""The Prometheus text format for the per-sensor families, written directly instead of through metric objects.

A city site has tens of thousands of per-sensor series. ``prometheus_client`` builds a Python object per sample
and formats it on the event loop (1.2 s for 5,000 sensors, which stalls ingest and paging). The per-sensor
collectors instead precompute each series' name and labels once, take a cheap snapshot of their arrays on the
loop, and render the text from that snapshot in a worker thread. The output is the text format of
``prometheus_client.exposition.generate_latest`` (labels sorted by name, values formatted as Go does); a test
compares both renderings sample by sample.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from prometheus_client.utils import floatToGoString

Render = Callable[[], bytes]  # runs off the loop; must touch only the snapshot it closed over
_go_float: Callable[[float], str] = floatToGoString


def format_value(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's float formatting, +Inf, -Inf, NaN)."""
    return _go_float(value)


def format_values(values: NDArray[np.float64]) -> list[str]:
    """Many sample values at once: Python's repr where it equals Go's (finite, below 1e6), Go's rule elsewhere."""
    simple = np.isfinite(values) & (values < 1e6)
    as_list = values.tolist()
    if simple.all():
        return list(map(repr, as_list))
    return [repr(v) if ok else _go_float(v) for v, ok in zip(as_list, simple.tolist(), strict=True)]


# Lines are formatted, joined and encoded this many at a time. Each of those steps is one C call that holds the
# GIL from start to end whatever the switch interval; on a whole 10,000-sensor family they held it for milliseconds
# at a time, stalling the event loop while the render ran in its worker thread. A block takes ~0.2 ms.
LINES_PER_BLOCK = 1024


def value_lines(prefixes: Sequence[str], values: NDArray[np.float64]) -> bytes:
    """``prefix value\n`` for each pair, encoded, built a block at a time (see ``LINES_PER_BLOCK``)."""
    blocks = []
    for start in range(0, len(prefixes), LINES_PER_BLOCK):
        stop = start + LINES_PER_BLOCK
        texts = format_values(values[start:stop])
        blocks.append("".join([f"{p}{v}\n" for p, v in zip(prefixes[start:stop], texts, strict=True)]).encode())
    return b"".join(blocks)


def one_hot_blocks(prefixes: Sequence[Sequence[str]]) -> tuple[list[str], list[list[int]]]:
    """Per series group (one sensor's states), its lines with every value 0.0, and where each value starts.

    A scrape then writes a group with one state at 1.0 by slicing, instead of formatting five lines.
    """
    blocks, offsets = [], []
    for group in prefixes:
        text, where = "", []
        for prefix in group:
            text += prefix
            where.append(len(text))
            text += "0.0\n"
        blocks.append(text)
        offsets.append(where)
    return blocks, offsets


def one_hot_text(blocks: Sequence[str], offsets: Sequence[Sequence[int]], hot: Sequence[int]) -> str:
    """Every group's lines, with value 1.0 on line ``hot[i]`` of group i."""
    parts = []
    for block, where, code in zip(blocks, offsets, hot, strict=True):
        at = where[code]
        parts.append(block[:at] + "1.0" + block[at + 3 :])
    return "".join(parts)


class Layout(Protocol):
    """What a collector's text is made of that does not change between scrapes (names, labels, static text).

    Picklable: the render process (``daemon.metrics.render_process``) receives it once, then only states.
    """

    def render(self, state: Any) -> bytes:
        """The collector's families for one scrape's state."""
        ...


_LAYOUT_IDS = itertools.count(1)


def layout_key() -> int:
    """A key for a new layout, unique in this process (a changed layout, after a reload, gets a new one)."""
    return next(_LAYOUT_IDS)


@dataclass(frozen=True, slots=True)
class Frame:
    """One collector's part of a scrape: its layout (by key) and the state copied on the loop for this scrape."""

    key: int
    layout: Layout
    state: Any  # picklable and small (arrays of a few values per sensor)

    def render(self) -> bytes:
        """The text, in whatever thread or process calls it."""
        return self.layout.render(self.state)


class SnapshotCollector(Protocol):
    """A collector that can render its families from a snapshot taken on the event loop."""

    def frame(self) -> Frame:
        """Copy what the render needs (cheap, on the loop); the frame renders it (expensive, any thread/process)."""
        ...

    def snapshot(self) -> Render:
        """The frame's render (for callers that render in this process)."""
        ...


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def series_prefix(name: str, labels: Sequence[str], values: Sequence[str]) -> str:
    """``name{label="value",...} `` with labels sorted by name, ready for the value and a newline."""
    pairs = sorted(zip(labels, values, strict=True))
    inner = ",".join(f'{label}="{_escape(value)}"' for label, value in pairs)
    return f"{name}{{{inner}}} " if inner else f"{name} "


def family_header(name: str, documentation: str, kind: str = "gauge") -> str:
    """The ``# HELP`` and ``# TYPE`` lines of one family."""
    text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"
