"""A one-line progress bar on stderr for replays: readings/s and the simulated time reached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TextIO

from daemon.clock import Clock

REFRESH_S = 0.5


class Progress:
    """Redraws at most every ``REFRESH_S`` of wall time."""

    def __init__(self, stream: TextIO | None, wall: Clock, sim_end: float | None = None) -> None:
        self._stream = stream
        self._wall = wall
        self._started = wall.now()
        self._last_draw = 0.0
        self._sim_end = sim_end
        self._sim_start: float | None = None

    def due(self) -> bool:
        """Whether a redraw is due (cheap; call before computing the figures)."""
        return self._stream is not None and self._wall.now() - self._last_draw >= REFRESH_S

    def update(self, readings: int, sim_time: float, *, final: bool = False) -> None:
        """Redraw now."""
        if self._stream is None:
            return
        now = self._wall.now()
        self._last_draw = now
        if self._sim_start is None:
            self._sim_start = sim_time
        elapsed = max(now - self._started, 1e-9)
        reached = datetime.fromtimestamp(sim_time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        share = ""
        if self._sim_end is not None and self._sim_end > self._sim_start:
            share = f" {100.0 * (sim_time - self._sim_start) / (self._sim_end - self._sim_start):5.1f}%"
        self._stream.write(
            f"\rreplay{share}  {readings:,} readings  {readings / elapsed:,.0f} readings/s  simulated time {reached}"
        )
        if final:
            self._stream.write("\n")
        self._stream.flush()
