"""The follower's writer gate: write groups are held in memory instead of committed, for a bounded time."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence

from daemon.store.writer import CommitHook, WriteGroup

log = logging.getLogger(__name__)


class StandbyHold:
    """Keeps what the follower would have written during the last ``hold_s`` seconds.

    The leader writes the same rows from the same stream; the follower keeps its own copy only for as long as the
    leader could still have them uncommitted (a leader commits within milliseconds, so a minute is ample). After a
    takeover the held rows the database lacks are written (``daemon.ha.reconcile``).
    """

    def __init__(self, hold_s: float, after_keep: Sequence[CommitHook] = ()) -> None:
        self._hold_s = hold_s
        # Held is the follower's "done": the writer's after-commit hooks (event bus, message acknowledgement) run.
        self._after_keep = after_keep
        self._groups: deque[tuple[float, WriteGroup]] = deque()
        self.holding = True

    def keep(self, group: WriteGroup) -> None:
        """Hold one group (called by the writer instead of committing it)."""
        now = time.monotonic()
        self._groups.append((now, group))
        while self._groups and now - self._groups[0][0] > self._hold_s:
            self._groups.popleft()
        for hook in self._after_keep:
            try:
                hook(group)
            except Exception:  # a listener's bug must not stop the writer
                log.exception("after-keep hook failed")

    def take(self) -> WriteGroup:
        """Everything held, oldest first, as one group; the hold is empty afterwards."""
        merged = WriteGroup()
        while self._groups:
            merged = merged.merged_with(self._groups.popleft()[1])
        return merged

    def __len__(self) -> int:
        return len(self._groups)
