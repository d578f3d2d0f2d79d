"""End to end: a reading over threshold published over MQTT notifies the routed recipient's webhook exactly once."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from sqlalchemy import select

from daemon.notify.config import NotifyConfig
from daemon.store.schema import notifications
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import start_receiver

DEVICE = "gas-n01"


async def test_alarm_over_mqtt_reaches_the_routed_webhook_once(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    arrived: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        arrived.append(await request.json())
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.notify = NotifyConfig.model_validate(
        {
            "poll_interval_s": 0.2,
            "people": [
                {"name": "duty", "language": "en", "channels": [{"type": "webhook", "url": receiver.url + "/duty"}]},
                {"name": "drill-room", "channels": [{"type": "webhook", "url": receiver.url + "/drill"}]},
                {"name": "rad-expert", "channels": [{"type": "webhook", "url": receiver.url + "/rad"}]},
            ],
            "routes": [
                {"name": "gas", "min_priority": "high", "kinds": ["gas"], "recipients": ["duty"]},
                {"name": "drills", "recipients": ["drill-room"], "drill": True},
                {"name": "radiation", "kinds": ["gamma_dose_rate"], "recipients": ["rad-expert"]},
            ],
        }
    )
    t0 = time.time() - 60
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    try:
        async with running_service(config, demo_site) as service:
            await publish(machine_broker, [(topic, senml(DEVICE, [("cl2", 2.0, "ppm")], t)) for t in (t0, t0 + 11)])

            async def delivered() -> list[object]:
                return [a for a in arrived if a["facts"]["sensor_id"] == "gas-n01-cl2"]  # type: ignore[index]

            await eventually(delivered)
            await service.drain()
            assert service.notifier is not None
            await service.notifier.deliver_due()
            await asyncio.sleep(0)
            async with service.engine.connect() as connection:
                rows = (await connection.execute(select(notifications))).mappings().all()
    finally:
        assert receiver.runner is not None
        await receiver.runner.cleanup()
    # Only the high-high alarm matches min_priority=high; the drill and radiation routes stay silent.
    # (The plan engine's own pages go to roster channels: phone/wecom placeholders, not to this receiver.)
    assert len(arrived) == 1
    document = arrived[0]
    assert document["recipient"] == "duty"
    assert document["drill"] is False
    assert str(document["title"]).startswith("[ORANGE warning] ALARM: ")
    assert "gas-n01-cl2" in str(document["title"])
    assert "Position: 31.90898, 121.08730" in str(document["text"])
    ours = [r for r in rows if r["recipient"] == "duty"]
    assert [(r["state"], r["event"]) for r in ours] == [("delivered", "alarm")]
    assert json.loads(ours[0]["payload"])["facts"]["alarm_id"] == document["facts"]["alarm_id"]  # type: ignore[index]
