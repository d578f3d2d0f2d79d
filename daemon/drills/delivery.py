"""A drill's notifications: addressed to drill routes only, and delivered by the replay itself.

Direct alarm routes match drill routes only (``AlarmNotifier`` with ``drill=True``); the plan engine's incident pages
are recorded on the console and also addressed to the matching drill routes (``DrillPageRouter``). The replay runs
its own ``DeliveryWorker`` over the rows of its run and nothing else, on the recording's clock. After a message
that queued pages the replay waits for their first delivery attempt (``settle``) before it feeds the next one, so
``delivered_at`` is the recording time the page was raised at, at any speed, instead of wherever a fast replay had
got to by the time the webhook answered; retries back off on the recording's clock too. The live service's worker
never picks up drill rows. Without a drill route, drill pages stay on the console and
in the report, and the replay says so once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import DrillChain
from daemon.clock import Clock
from daemon.config import ServiceConfig
from daemon.metrics.instruments import Metrics
from daemon.notify.drill_pages import DrillPageRouter, check_drill_destinations
from daemon.notify.model import AlertFacts
from daemon.notify.outbox import Outbox, OutboxSink
from daemon.notify.routes import AlarmNotifier, AlarmRouter
from daemon.notify.worker import DeliveryWorker
from daemon.store.schema import notifications
from daemon.store.writer import WriteGroup
from daemon.tasks.supervisor import end_task
from plans.incident import NotificationIntent
from rules.sensor_table import SensorTable

if TYPE_CHECKING:
    from daemon.notify.channels.factory import ChannelSet

log = logging.getLogger(__name__)
ENDED = "the drill ended before this page was delivered"


class DrillDelivery:
    """Wires a drill chain's notifications; ``start`` and ``finish`` run the run's delivery worker."""

    def __init__(
        self,
        config: ServiceConfig,
        table: SensorTable,
        chain: DrillChain,
        engine: AsyncEngine,
        clock: Clock,
        metrics: Metrics,
        run_id: int,
        environ: Mapping[str, str],
    ) -> None:
        notify = config.notify
        check_drill_destinations(notify, chain.setup.roster)
        self.routes = tuple(route.name for route in notify.drill_routes())
        self._worker: DeliveryWorker | None = None
        self._channels: ChannelSet | None = None  # the drill routes' channels, when they deliver
        self._task: asyncio.Task[None] | None = None
        self._writer = chain.writer
        # Drill routes reach systems only (no person chain, so no acknowledgement link is ever signed with this key).
        self._outbox = OutboxSink(chain.writer, Outbox(notify, secrets.token_bytes(32)))
        self.queued = False  # pages queued since the last ``settle``
        if not self.routes:
            log.warning(
                "drill run %d: no drill route is configured (notify.routes with drill = true): "
                "drill pages are recorded on the console and in the report, and sent nowhere",
                run_id,
            )
            return
        flow = chain.pipeline.flow
        flow.listeners.append(AlarmNotifier(AlarmRouter(notify, table), self, drill=True))
        flow.page_listeners.append(DrillPageRouter(notify, table, self, key_prefix=f"drill-run-{run_id}/"))
        if not notify.enabled:
            log.warning("drill run %d: notify.enabled is false: drill pages are stored, not delivered", run_id)
            return
        # Imported here: the channels pull in aiohttp and the SMTP client, which a drill without routes never needs.
        from daemon.notify.channels.factory import ChannelSet  # noqa: PLC0415

        self._channels = ChannelSet(notify, environ)
        self._worker = DeliveryWorker(engine, self._channels.channels, clock, metrics, notify, drill_run_id=run_id)
        chain.writer.after_commit.append(self._poke)
        log.info("drill run %d: pages go to the drill routes %s", run_id, ", ".join(self.routes))

    @property
    def delivers(self) -> bool:
        """Whether this drill sends its pages anywhere (a drill route exists and notifications are enabled)."""
        return self._worker is not None

    def add_intent(self, intent: NotificationIntent, facts: AlertFacts) -> None:
        """Intent sink of the drill's routers: queue on the writer, and remember to deliver before moving on."""
        self._outbox.add_intent(intent, facts)
        self.queued = self._worker is not None

    async def settle(self) -> None:
        """Commit the pages queued so far and attempt their delivery now, on the recording's clock."""
        self.queued = False
        if self._worker is not None:
            await self._writer.flush()
            await self._worker.deliver_due()

    def _poke(self, group: WriteGroup) -> None:
        if self._worker is not None and group.insert_once.get(notifications):
            self._worker.poke()

    def start(self) -> None:
        """Deliver in the background while the replay runs."""
        if self._worker is not None:
            self._task = asyncio.create_task(self._worker.run(), name="drill-notify-worker")

    async def finish(self, wall: Clock, timeout_s: float) -> None:
        """After the last commit: deliver what is due, give up on the rest, close the channels."""
        try:
            if self._worker is not None:
                await self._worker.drain(wall, timeout_s)
                failed = await self._worker.give_up_pending(ENDED)
                if failed:
                    log.warning("%d drill pages were not delivered before the drill ended", failed)
        finally:
            if self._task is not None:
                await end_task(self._task)
            if self._channels is not None:
                await self._channels.close()
