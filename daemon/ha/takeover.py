"""What changes when this instance becomes leader or follower: the writer's hold, row numbering, page delivery."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.ha.reconcile import missing_rows
from daemon.ha.standby import StandbyHold
from daemon.store.writer import StoreWriter, WriteGroup

log = logging.getLogger(__name__)


class Takeover:
    """Promotion writes what the old leader did not, then starts delivery; demotion holds writes again."""

    def __init__(
        self,
        engine: AsyncEngine,
        writer: StoreWriter,
        sensor_ids: Sequence[str],
        hold: StandbyHold,
        *,
        start_delivery: Callable[[], None],
        stop_delivery: Callable[[], Awaitable[None]],
        resync_ids: Callable[[], Awaitable[None]],
        catch_up: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._sensor_ids = list(sensor_ids)
        self._hold = hold
        self._start_delivery = start_delivery
        self._stop_delivery = stop_delivery
        self._resync_ids = resync_ids
        self._catch_up = catch_up
        writer.hold = hold

    async def promote(self) -> None:
        """Mirror the operator actions the old leader applied, write the held rows the database lacks, number new
        rows past the stored ones, start paging."""
        if self._catch_up is not None:
            # Before the hold opens: what the mirror writes is reconciled with what the old leader stored.
            await self._catch_up()
        missing = WriteGroup()
        # New groups keep arriving while the database is asked: hold them too, until the hold is empty when the
        # last answer comes back; then stop holding in the same step, so nothing slips in between.
        while len(self._hold):
            missing = missing.merged_with(await missing_rows(self._engine, self._hold.take(), self._sensor_ids))
        self._hold.holding = False
        self._writer.requeue(missing)
        await self._resync_ids()
        self._start_delivery()

    async def demote(self) -> None:
        """Stop paging and writing: the new leader writes from now on."""
        self._hold.holding = True
        await self._stop_delivery()
