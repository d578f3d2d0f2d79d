"""Defence in depth: whatever a row says, a drill row reaches only drill destinations and a live row never one.

The routing never writes such rows; these tests write them by hand (as a bug, or an older replay, might) and check
that the worker refuses them, and that the live service's worker does not even pick up a drill's rows.
"""

from __future__ import annotations

import time
from typing import Any

import pydantic
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.chain.build import AlarmSetup
from daemon.clock import ManualClock
from daemon.config import ServiceConfig
from daemon.errors import ConfigError
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import ChannelTarget, NotifyConfig
from daemon.notify.drill_pages import check_drill_destinations
from daemon.notify.worker import DeliveryWorker
from daemon.service import Service
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import notifications
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import Receiver, rows_to, start_receiver

DEVICE = "gas-n01"


def _routes(live: Receiver, drill: Receiver, **overrides: Any) -> NotifyConfig:
    values: dict[str, Any] = {
        "poll_interval_s": 0.2,
        "people": [
            {"name": "duty", "language": "en", "channels": [{"type": "webhook", "url": live.url + "/duty"}]},
            {"name": "drill-room", "channels": [{"type": "webhook", "url": drill.url + "/drill"}]},
        ],
        "routes": [
            {"name": "gas", "min_priority": "high", "kinds": ["gas"], "recipients": ["duty"]},
            {"name": "drills", "recipients": ["drill-room"], "drill": True},
        ],
    }
    values.update(overrides)
    return NotifyConfig.model_validate(values)


def _row(url: str, key: str, *, drill: bool, run: int | None) -> dict[str, Any]:
    """An outbox row addressed to ``url``, marked as ``drill`` of ``run`` whatever its destination is."""
    [row] = rows_to([ChannelTarget(type="webhook", url=url)], key=key, drill=drill, now=100.0)
    return {**row, "drill": drill, "drill_run_id": run}


async def _receivers() -> tuple[Receiver, list[bytes], Receiver, list[bytes]]:
    live_bodies: list[bytes] = []
    drill_bodies: list[bytes] = []

    def keep(into: list[bytes]) -> Any:
        async def hook(request: web.Request) -> web.Response:
            into.append(await request.read())
            return web.Response(text="ok")

        return hook

    live, drill = await start_receiver(keep(live_bodies)), await start_receiver(keep(drill_bodies))
    return live, live_bodies, drill, drill_bodies


async def _cleanup(*receivers: Receiver) -> None:
    for receiver in receivers:
        assert receiver.runner is not None
        await receiver.runner.cleanup()


async def _states(engine: AsyncEngine) -> dict[str, tuple[str, int, str | None]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(notifications))).mappings().all()
    return {str(r["idempotency_key"]).split("|")[0]: (r["state"], r["attempts"], r["last_error"]) for r in rows}


async def test_a_drill_worker_refuses_a_live_destination_and_a_live_worker_a_drill_one(engine: AsyncEngine) -> None:
    live, live_bodies, drill, drill_bodies = await _receivers()
    config = _routes(live, drill)
    channels = ChannelSet(config, {})
    clock = ManualClock(200.0)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(notifications),
                [
                    _row(live.url + "/duty", "drill-to-live", drill=True, run=5),
                    _row(drill.url + "/drill", "drill-to-drill", drill=True, run=5),
                    _row(drill.url + "/drill", "live-to-drill", drill=False, run=None),
                    _row(live.url + "/duty", "live-to-live", drill=False, run=None),
                ],
            )
        drill_worker = DeliveryWorker(
            engine, channels.channels, clock, Metrics(CollectorRegistry()), config, drill_run_id=5
        )
        live_worker = DeliveryWorker(engine, channels.channels, clock, Metrics(CollectorRegistry()), config)
        assert await drill_worker.deliver_due() == 2  # its own run's rows only
        assert await live_worker.deliver_due() == 2  # live rows only
    finally:
        await channels.close()
        await _cleanup(live, drill)
    states = await _states(engine)
    assert states["drill-to-drill"][0] == "delivered"
    assert states["live-to-live"][0] == "delivered"
    for refused in ("drill-to-live", "live-to-drill"):
        state, attempts, error = states[refused]
        assert (state, attempts) == ("failed", 1), refused
        assert error is not None
        assert error.startswith("refused: ")
    assert len(live_bodies) == 1
    assert b'"drill": false' in live_bodies[0]
    assert len(drill_bodies) == 1
    assert b'"drill": true' in drill_bodies[0]


def test_a_destination_cannot_be_on_a_drill_route_and_a_live_route() -> None:
    hook = [{"type": "webhook", "url": "http://127.0.0.1:9/shared"}]
    with pytest.raises(pydantic.ValidationError, match="drill route and on a live route"):
        NotifyConfig.model_validate(
            {
                "people": [{"name": "duty", "channels": hook}, {"name": "drill-room", "channels": hook}],
                "routes": [
                    {"name": "live", "recipients": ["duty"]},
                    {"name": "drills", "recipients": ["drill-room"], "drill": True},
                ],
            }
        )


def test_a_drill_destination_cannot_be_a_roster_channel(demo_site: Site) -> None:
    """The shipped roster reaches Li Na on WeCom: a drill route to the same user is refused by service and replay."""
    config = ServiceConfig()
    config.notify = NotifyConfig.model_validate(
        {
            "people": [
                {"name": "drill-room", "channels": [{"type": "wecom_user", "address": "${HAZWATCH_WECOM_USER_LI_NA}"}]}
            ],
            "routes": [{"name": "drills", "recipients": ["drill-room"], "drill": True}],
        }
    )
    with pytest.raises(ConfigError, match="also a roster channel of li"):
        check_drill_destinations(config.notify, AlarmSetup.load(config.alarms).roster)
    with pytest.raises(ConfigError, match="also a roster channel"):
        Service(config, demo_site)


async def test_the_live_service_never_sends_a_drill_row(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    """Drill rows a replay left in the live database, one even addressed to the live webhook, are never sent."""
    live, live_bodies, drill, drill_bodies = await _receivers()
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.notify = _routes(live, drill)
    seed = create_engine(sqlite_url)
    await migrate(seed)
    async with seed.begin() as connection:
        await connection.execute(
            insert(notifications),
            [
                _row(live.url + "/duty", "drill-to-live", drill=True, run=1),
                _row(drill.url + "/drill", "drill-to-drill", drill=True, run=1),
            ],
        )
    await seed.dispose()
    t0 = time.time() - 60
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    try:
        async with running_service(config, demo_site) as service:
            # A live alarm: proves the worker runs and delivers while the drill rows sit there.
            await publish(machine_broker, [(topic, senml(DEVICE, [("cl2", 2.0, "ppm")], t)) for t in (t0, t0 + 11)])

            async def delivered() -> list[bytes]:
                return live_bodies

            await eventually(delivered)
            await service.drain()
            assert service.notifier is not None
            await service.notifier.deliver_due()  # one full delivery pass, the same one the background loop runs
            states = await _states(service.engine)
    finally:
        await _cleanup(live, drill)
    assert drill_bodies == []
    assert len(live_bodies) == 1
    assert b'"drill": false' in live_bodies[0]
    assert states["drill-to-live"] == ("pending", 0, None)
    assert states["drill-to-drill"] == ("pending", 0, None)
