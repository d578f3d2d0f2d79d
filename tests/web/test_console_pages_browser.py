"""The console channel in headless Chromium against a running service fed a real reading over MQTT.

The duty officer's first channel is the console, the second a webhook. Logged in as that officer, the console shows
the page and the row becomes delivered (the browser reported it on screen); acknowledging there stops the page and its
escalation, and the webhook is never sent. A console logged in as somebody else shows nothing: the row stays pending,
and at the step's timeout the chain moves on to the webhook.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from playwright.async_api import Browser, async_playwright
from sqlalchemy import select

from daemon.notify.config import NotifyConfig
from daemon.service import Service
from daemon.store.schema import incident_events, notifications
from daemon.web.api.auth import add_user
from detectors.substances import SUBSTANCES
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import Receiver, start_receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEVICE = "gas-n03"
OFFICER = "zhang-wei"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
DEFAULTS = Path(__file__).parents[2] / "plans" / "defaults"


def write_plan_and_roster(folder: Path, webhook: str, channel_timeout_s: float) -> tuple[Path, Path]:
    """The shipped plan and roster, with the duty officer on duty all day on [console, webhook] and every tier
    giving each channel ``channel_timeout_s``."""
    roster = yaml.safe_load((DEFAULTS / "roster.yaml").read_text(encoding="utf-8"))
    for person in roster["people"]:
        if person["id"] == OFFICER:
            person["channels"] = [{"type": "console", "address": OFFICER}, {"type": "webhook", "address": webhook}]
    roster["shifts"] = [s for s in roster["shifts"] if s["role"] != "duty_officer"]
    roster["shifts"].append({"role": "duty_officer", "person": OFFICER, "start": "00:00", "end": "00:00"})
    plan = yaml.safe_load((DEFAULTS / "city-plan.yaml").read_text(encoding="utf-8"))
    for tier in plan["tiers"]:
        tier["channel_timeout_s"] = channel_timeout_s
        tier.pop("page_all_channels", None)
    (folder / "roster.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return folder / "plan.yaml", folder / "roster.yaml"


@pytest.fixture
async def webhook() -> AsyncIterator[Receiver]:
    """The officer's second channel: a local webhook receiver."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    receiver = await start_receiver(ok)
    yield receiver
    assert receiver.runner is not None
    await receiver.runner.cleanup()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """Headless Chromium."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def officer_rows(service: Service) -> list[dict[str, Any]]:
    """The officer's chain rows, in step order."""
    async with service.engine.connect() as connection:
        query = select(notifications).where(notifications.c.chain_key.like(f"%/{OFFICER}"))
        rows = [dict(r) for r in (await connection.execute(query)).mappings()]
    return sorted(rows, key=lambda r: (str(r["page_id"]), int(r["chain_step"])))


async def raise_incident(service: Service, broker: tuple[str, int], site: Site, prefix: str) -> None:
    """A chlorine reading four times its occupational limit, over MQTT."""
    sensor = next(s for d in site.devices if d.id == DEVICE for s in d.sensors)
    level = SUBSTANCES[sensor.substance or ""].occupational_limit_ppm
    topic = f"{prefix}/{site.site}/{DEVICE}"
    await publish(broker, [(topic, senml(DEVICE, [(sensor.name, 4 * level, "ppm")], time.time() - 5))])


async def open_console(browser: Browser, base: str, token: str) -> Any:
    """A console page logged in with ``token``."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    await context.add_init_script(f"localStorage.setItem('hazwatch.token', {json.dumps(token)})")
    page = await context.new_page()
    await page.goto(base + "/")
    await page.wait_for_selector("body[data-loaded=true]")
    return context, page


async def test_shown_on_the_officers_console_is_delivered_and_acknowledged_there(
    machine_broker: tuple[str, int],
    sqlite_url: str,
    demo_site: Site,
    unique: str,
    tmp_path: Path,
    webhook: Receiver,
    browser: Browser,
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.alarms.plan_file, config.alarms.roster_file = write_plan_and_roster(tmp_path, webhook.url + "/w", 120.0)
    config.notify = NotifyConfig(poll_interval_s=0.1)
    async with running_service(config, demo_site, environ={"HAZWATCH_ACK_LINK_KEY": "k"}) as service:
        token = await add_user(service.engine, OFFICER, "operator", time.time())
        await raise_incident(service, machine_broker, demo_site, prefix)

        async def paged() -> list[dict[str, Any]]:
            return [r for r in await officer_rows(service) if r["channel"] == "console"]

        console_row = (await eventually(paged))[0]
        assert console_row["state"] == "pending"  # nobody has seen it yet
        base = f"http://127.0.0.1:{service.http_port}"
        context, page = await open_console(browser, base, token)
        try:
            row_on_screen = page.locator(f"[data-page='{console_row['id']}']")
            await row_on_screen.wait_for()

            async def delivered() -> list[dict[str, Any]]:
                return [r for r in await officer_rows(service) if r["id"] == console_row["id"] and r["delivered_at"]]

            shown = (await eventually(delivered))[0]
            assert shown["state"] == "delivered"
            async with service.engine.connect() as connection:
                events = (
                    (await connection.execute(select(incident_events).where(incident_events.c.type == "page_shown")))
                    .mappings()
                    .all()
                )
            assert [e["actor"] for e in events] == [OFFICER]
            await page.wait_for_selector(f"[data-page='{console_row['id']}'][data-state='delivered']")
            steps = await officer_rows(service)
            assert [(r["channel"], r["state"]) for r in steps if r["page_id"] == console_row["page_id"]] == [
                ("console", "delivered"),
                ("webhook", "held"),  # delivered is not acknowledged: the webhook waits for the step's time
            ]
            await row_on_screen.locator("[data-action=page-ack]").click()
            await page.wait_for_selector(f"[data-page='{console_row['id']}'][data-state='acknowledged']")
        finally:
            await context.close()
        steps = [r for r in await officer_rows(service) if r["page_id"] == console_row["page_id"]]
        assert [(r["channel"], r["state"]) for r in steps] == [("console", "acknowledged"), ("webhook", "superseded")]
        assert steps[0]["acknowledged_by"] == OFFICER
        incidents = service.pipeline.flow.state.incidents
        page_id = str(console_row["page_id"])
        chain = next(c for c in incidents._chains if page_id in c.notification_ids)
        assert chain.acked_by == OFFICER
        later = incidents.tick(time.time() + 3600)  # an hour on: the acknowledged page never escalates
        assert not [e for e in later.timeline if e.kind == "escalated" and e.incident_id == chain.incident_id]
        assert not [r for r in webhook.requests if r[0] == "/w"], "the webhook step was never sent"


async def test_a_console_of_somebody_else_shows_nothing_and_the_chain_moves_on(
    machine_broker: tuple[str, int],
    sqlite_url: str,
    demo_site: Site,
    unique: str,
    tmp_path: Path,
    webhook: Receiver,
    browser: Browser,
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.alarms.plan_file, config.alarms.roster_file = write_plan_and_roster(tmp_path, webhook.url + "/w", 6.0)
    config.notify = NotifyConfig(poll_interval_s=0.1)
    async with running_service(config, demo_site, environ={"HAZWATCH_ACK_LINK_KEY": "k"}) as service:
        token = await add_user(service.engine, "wang-qiang", "operator", time.time())  # shift leader, not on duty
        base = f"http://127.0.0.1:{service.http_port}"
        context, page = await open_console(browser, base, token)
        try:
            await raise_incident(service, machine_broker, demo_site, prefix)

            async def paged() -> list[dict[str, Any]]:
                return [r for r in await officer_rows(service) if r["channel"] == "console"]

            console_row = (await eventually(paged))[0]

            async def webhook_sent() -> list[object]:
                return [r for r in webhook.requests if r[0] == "/w"]

            await eventually(webhook_sent, timeout=30)

            async def recorded() -> list[dict[str, Any]]:
                rows = [r for r in await officer_rows(service) if r["page_id"] == console_row["page_id"]]
                # The outcome is written after the answer ("sending" while the webhook's answer is on its way back).
                return rows if rows[1]["state"] not in ("pending", "sending") else []

            steps = await eventually(recorded)
            assert steps[0]["state"] == "superseded", steps[0]
            assert steps[0]["delivered_at"] is None  # the other person's console never counted as shown
            assert "not delivered within 6 s" in str(steps[0]["last_error"])
            assert steps[1]["state"] == "delivered"
            assert await page.locator(f"[data-page='{console_row['id']}']").count() == 0
        finally:
            await context.close()
