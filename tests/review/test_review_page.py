"""The data review page in headless Chromium: open a station-day, invalidate six hours, see the ratios and the trail."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import async_playwright

from daemon.web.api.auth import add_user
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.daemon.ingest.hj212_examples import LOGGER_SITE
from tests.helpers import eventually
from tests.review.test_data_review import day_readings

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.mark.slow  # a service and a real Chromium: about 2.7 CPU-s
async def test_review_a_day_from_the_page(
    machine_broker: tuple[str, int], sqlite_url: str, unique: str, chromium: str
) -> None:
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, f"hw-{unique}", unique)
    local_day = (datetime.now(ZONE) - timedelta(days=2)).date()
    start = datetime(local_day.year, local_day.month, local_day.day, tzinfo=ZONE).timestamp()
    async with running_service(config, Site.model_validate(LOGGER_SITE)) as service:
        service.writer.add_readings(day_readings(service.table.index, start))
        await service.drain()
        token = await add_user(service.engine, "zhao-min", "reviewer_station", service.clock.now())
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium)
            try:
                page = await browser.new_page()
                await page.goto(f"http://127.0.0.1:{service.http_port}/console/review.html")
                await page.fill("#token", token)
                await page.dispatch_event("#token", "change")
                await page.wait_for_selector("#station option[value='logger-1']", state="attached")
                await page.select_option("#station", "logger-1")
                await page.fill("#day", local_day.isoformat())
                await page.click("#pick button")
                await page.wait_for_selector("tr.station-ratios")
                assert "75.0 %" in await page.inner_text("tr.station-ratios")
                await page.select_option("#action", "invalidate")
                await page.select_option("#sensor", "hj.cl2")
                await page.fill("#from", "00:00")
                await page.fill("#to", "05:59")
                await page.select_option("#reason", "instrument_fault")
                await page.fill("#comment", "zero drift")
                await page.click("#act button")

                async def trail_shown() -> str:
                    return await page.inner_text("#trail")

                trail = await eventually(trail_shown)
                assert "zhao-min" in trail
                assert "instrument_fault" in trail
                assert "67.0 %" in await page.inner_text("tr.station-ratios")  # (2780 + 1440 - 360) / 5760
                assert await page.inner_text("#error") == ""
            finally:
                await browser.close()
