"""One instance of a high-availability pair: the leadership loop wired to the takeover steps."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.pipeline import Pipeline
from daemon.config import HaConfig
from daemon.ha.fence import Fence
from daemon.ha.leadership import Leadership
from daemon.ha.mirror import Engines
from daemon.ha.operator_actions import ActionLog
from daemon.ha.standby import StandbyHold
from daemon.ha.takeover import Takeover
from daemon.store import queries
from daemon.store.writer import StoreWriter
from daemon.tasks.supervisor import Supervisor
from daemon.web.api.operations import Operations

log = logging.getLogger(__name__)


class HaPair:
    """Starts as follower (writes held, no pages); becomes leader when it wins the advisory lock."""

    def __init__(
        self,
        config: HaConfig,
        url: str,
        engine: AsyncEngine,
        writer: StoreWriter,
        hold: StandbyHold,
        pipeline: Pipeline,
        *,
        start_delivery: Callable[[], None],
        stop_delivery: Callable[[], Awaitable[None]],
        local_operations: Operations,
        supervisor: Supervisor,
        registry: CollectorRegistry | None = None,
    ) -> None:
        # The pair's own supervisor: a failed leadership check or action listener is restarted, counted and shown on
        # /healthz like every other task, yet stopped last (the lock goes with the leadership task's session).
        self.supervisor = supervisor
        self._engine = engine
        # Exactly one instance of a pair reports 1: alert on sum() != 1 across the pair.
        self._leader_gauge = Gauge(
            "hazwatch_ha_leader", "1 while this instance leads its high-availability pair", registry=registry
        )
        self._pipeline = pipeline
        self.hold = hold
        sensor_ids = [s.id for s in pipeline.table.sensors]
        self.leadership = Leadership(
            url,
            config.lock_key,
            config.check_interval_s,
            on_promote=self._promote,
            on_demote=self._demote,
            lease_s=config.lease_s,
        )
        self.actions = ActionLog(
            engine,
            url,
            local_operations,
            lambda: Engines(pipeline.flow, pipeline.detector, pipeline.table.index),
            self.leadership.fence,
            lambda: self.leadership.leader,
            timeout_s=config.action_timeout_s,
        )
        writer.fence = self.leadership.fence
        self.takeover = Takeover(
            engine,
            writer,
            sensor_ids,
            self.hold,
            start_delivery=start_delivery,
            stop_delivery=stop_delivery,
            resync_ids=self._resync_ids,
            catch_up=self.actions.mirror_applied,
        )
        self._lock_key = config.lock_key

    @property
    def fence(self) -> Fence:
        """The fencing check for writes and sends that must happen once."""
        return self.leadership.fence

    @property
    def leader(self) -> bool:
        """Whether this instance holds the lock now."""
        return self.leadership.leader

    async def start(self) -> None:
        """Try for the lock once (a lone instance leads from its first batch), then keep checking."""
        await self.leadership.check()
        if not self.leadership.leader:
            log.warning("HA: following; the leader holds lock %d (writes held, no pages sent)", self._lock_key)
        self.supervisor.start("ha-leadership", self.leadership.run)
        self.supervisor.start("ha-operator-actions", self.actions.run)

    async def stop(self) -> None:
        """Stop listening for actions, give up the lock (by closing its session)."""
        await self.supervisor.stop_one("ha-operator-actions")
        await self.supervisor.stop_one("ha-leadership")

    async def _promote(self) -> None:
        await self.takeover.promote()
        self._leader_gauge.set(1)
        self.actions.wake()  # apply what was submitted while nobody led

    async def _demote(self) -> None:
        self._leader_gauge.set(0)
        await self.takeover.demote()

    async def _resync_ids(self) -> None:
        # The old leader may have numbered rows this instance never saw (service alarms of its delivery worker).
        stored = await queries.next_ids(self._engine)
        ids = self._pipeline.flow.row_ids
        ids.alarms.skip_to(stored["alarms"])
        ids.incidents.skip_to(stored["incidents"])
        ids.checklist_items.skip_to(stored["checklist_items"])
