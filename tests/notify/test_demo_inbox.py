"""With --demo a reading over threshold ends in the demo inbox, and the newcomer acknowledges from its link."""

from __future__ import annotations

import html
import re
import time

import aiohttp
import pytest
from sqlalchemy import select

from daemon.store.schema import notifications
from detectors.substances import SUBSTANCES
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, get_json, publish, senml

pytestmark = pytest.mark.slow
DEVICE = "gas-n03"


async def test_demo_inbox_shows_the_page_and_its_link_acknowledges_it(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.notify.poll_interval_s = 0.1
    sensor = next(s for d in demo_site.devices if d.id == DEVICE for s in d.sensors)
    level1 = SUBSTANCES[sensor.substance or ""].occupational_limit_ppm
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    async with running_service(config, demo_site, demo=True, environ={}) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        await publish(machine_broker, [(topic, senml(DEVICE, [(sensor.name, 4 * level1, "ppm")], time.time() - 5))])
        async with aiohttp.ClientSession() as http:

            async def inbox_link() -> str | None:
                async with http.get(f"{base}/demo/inbox") as response:
                    page = await response.text()
                found = re.search(r'class="ack" href="([^"]+)"', page)
                return html.unescape(found.group(1)) if found else None

            link = await eventually(inbox_link)
            async with http.get(f"{base}/demo/inbox") as response:
                page = await response.text()
            assert "短信 / SMS: 【" in page
            assert "电话 / call: " in page
            path = link.split("/a/", 1)[1]
            async with http.post(f"{base}/a/{path}", data={"answer": "on_my_way"}) as response:
                assert response.status == 200, await response.text()
        incidents = (await get_json(f"{base}/api/incidents"))["incidents"]
        detail = await get_json(f"{base}/api/incidents/{incidents[0]['id']}")
        answers = [e for e in detail["timeline"] if e["type"] == "page_answer"]
        assert answers
        async with service.engine.connect() as connection:
            states = {str(s) for s in (await connection.execute(select(notifications.c.state))).scalars()}
    assert "acknowledged" in states
    assert "pending" not in states
