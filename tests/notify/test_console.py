"""The duty console in headless Chromium against a running service: a live alarm arrives, one click acknowledges."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import insert, select

from daemon.store.engine import create_engine, migrate
from daemon.store.schema import alarms, checklist_items, drill_runs, incidents
from daemon.web.api.auth import add_user
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DEVICE = "gas-n01"
SENSOR = "gas-n01-cl2"


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [(1920, 1080), (390, 844)], ids=["wall", "phone"])
async def test_live_alarm_then_acknowledge_from_the_console(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str, viewport: tuple[int, int]
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.http.public_read = False  # the page must use its stored token
    now = time.time()
    # Seed before the service starts: it numbers its own incidents and checklist items after what is stored.
    seed = create_engine(sqlite_url)
    await migrate(seed)
    token = await add_user(seed, "li-na", "operator", now)
    async with seed.begin() as connection:
        await connection.execute(
            insert(incidents).values(
                id=1,
                key="INC-1",
                site=demo_site.site,
                zone="boundary-north",
                title="氯气泄漏 北边界 / Chlorine at the north boundary",
                proposed_tier="orange",
                state="open",
                opened_at=now - 600,
                updated_at=now - 600,
                detail=json.dumps({"deadlines": [{"name": "初报 initial report", "due_at": now + 3000}]}),
                drill=True,
            )
        )
        await connection.execute(
            insert(checklist_items),
            [
                {"incident_id": 1, "tier": "orange", "position": 1, "text": "联系企业 / call the plant"},
                {"incident_id": 1, "tier": "orange", "position": 2, "text": "通知下风向 / warn downwind"},
            ],
        )
        await connection.execute(
            insert(drill_runs).values(
                source="scenarios/cl2-leak.jsonl", speed="1x", started_at=now - 700, heartbeat_at=now, status="running"
            )  # a replay that beat just now: the banner shows while a run is alive
        )
    await seed.dispose()
    async with running_service(config, demo_site) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
                await context.add_init_script(f"localStorage.setItem('hazwatch.token', {json.dumps(token)})")
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(base + "/")
                await page.wait_for_selector("body[data-loaded=true]")
                await page.wait_for_selector("#live.on")  # the event stream is connected
                assert await page.is_visible("#drill-banner")
                assert "li-na (operator)" in await page.inner_text("#user")
                assert "Chlorine at the north boundary" in await page.inner_text("#incident-list")
                assert await page.locator(".checklist input").count() == 2

                # A reading over the threshold arrives over MQTT; the row appears without reloading the page.
                t0 = now - 60
                topic = f"{prefix}/{demo_site.site}/{DEVICE}"
                await publish(machine_broker, [(topic, senml(DEVICE, [("cl2", 2.0, "ppm")], t)) for t in (t0, t0 + 11)])
                await page.wait_for_selector(f"tr.unack:has-text('{SENSOR}')")
                await page.wait_for_selector(f"circle.sensor.alarm[data-device='{DEVICE}']")
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / f"console-{viewport[0]}x{viewport[1]}.png"), full_page=True)

                first = page.locator(f"tr.unack:has-text('{SENSOR}') button[data-action=ack]").first
                await first.click()

                async def acknowledged() -> list[dict[str, object]]:
                    async with service.engine.connect() as connection:
                        rows = (
                            await connection.execute(select(alarms).where(alarms.c.acknowledged_by.is_not(None)))
                        ).mappings()
                        return [dict(r) for r in rows]

                rows = await eventually(acknowledged)
                assert rows[0]["acknowledged_by"] == "li-na"
                assert rows[0]["state"] == "active_acked"
                await page.wait_for_selector(f"tr#alarm-{rows[0]['id']}[data-state=active_acked]")
                assert errors == []
                await context.close()
            finally:
                await browser.close()
