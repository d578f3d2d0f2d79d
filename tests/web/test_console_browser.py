"""The duty console in headless Chromium against one running service fed real readings over MQTT.

Each question the console must answer is an assertion on the page: what is happening (the alarm board, with a
returned-unacknowledged and a latched alarm), what to do by when (countdowns that turn overdue), drills apart from the
live picture, role-aware buttons, the map with and without a tile server, the sensor chart, phone layout, and axe-core.
Screenshots (1920x1080 and 390x844) go to a folder printed in the output (``HAZWATCH_SCREENSHOTS`` to choose it).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import insert

from daemon.config import TileSource
from daemon.service import Service
from daemon.store.engine import create_engine, migrate
from daemon.store.row_ids import IdRange
from daemon.store.schema import alarms, drill_runs, incidents
from daemon.web.api.auth import add_user
from rules.site import Site
from tests.conftest import MACHINE_BROKER, running_service, service_config
from tests.helpers import eventually, publish, senml

# One service and one browser serve the module: its tests stay on one xdist worker (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("console-browser")]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
GAS_DEVICE, GAS_SENSOR = "gas-n01", "gas-n01-cl2"
SOURCE_DEVICE = "src-gauge-01"
DRILL_MARK = "演练专用报警 DRILL-ONLY"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


ROLES = ("operator", "supervisor")


def _gas(cl2_ppm: float, t: float) -> bytes:
    return senml(GAS_DEVICE, [("cl2", cl2_ppm, "ppm"), ("hcl", 0.2, "ppm")], t)


def _gauge(tampered: bool, t: float) -> bytes:
    return senml(SOURCE_DEVICE, [("tamper", tampered, None), ("dose_rate", 400.0, "nSv/h")], t)


async def _get_json(base: str, token: str, path: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(base + path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def _png(size: int = 256) -> bytes:
    """A plain light-grey PNG tile (what a tile server answers), written without an imaging library."""
    raw = b"".join(b"\x00" + b"\xd8\xdc\xe0" * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@dataclass
class TileServer:
    """A local XYZ tile server; ``requests`` counts the tiles served."""

    port: int = 0
    requests: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None


@dataclass
class Bench:
    """The running service, its tile server, tokens and the browser, shared by the module's tests."""

    service: Service
    base: str
    tiles: TileServer
    tokens: dict[str, str]
    drill_run: int
    browser: Browser
    shots: Path
    prefix: str


async def _start_tiles(port: int = 0) -> TileServer:
    server = TileServer()
    tile = _png()

    async def serve(request: web.Request) -> web.Response:
        server.requests.append(request.path)
        return web.Response(body=tile, content_type="image/png")

    app = web.Application()
    app.router.add_get("/{z}/{x}/{y}.png", serve)
    server.runner = web.AppRunner(app, access_log=None)
    await server.runner.setup()
    site = web.TCPSite(server.runner, "127.0.0.1", port)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return server


async def _seed_drill(url: str, now: float) -> int:
    """A finished drill run replayed into the live database: one alarm and one incident, in the run's id range."""
    engine = create_engine(url)
    await migrate(engine)
    async with engine.begin() as connection:
        run_id = (
            await connection.execute(
                insert(drill_runs)
                .values(
                    source="scenarios/cl2-leak.jsonl",
                    speed="max",
                    started_at=now - 900,
                    finished_at=now - 800,
                    heartbeat_at=now - 800,
                    status="finished",
                )
                .returning(drill_runs.c.id)
            )
        ).scalar_one()
        first = IdRange.drill_run(run_id).first
        common = {"drill": True, "drill_run_id": run_id, "site": "demo-park"}
        await connection.execute(
            insert(alarms).values(
                id=first,
                rule="nh3-level2",
                sensor_id="gas-s01-nh3",
                device_id="gas-s01",
                zone="boundary-south",
                kind="gas",
                priority="urgent",
                state="active_unack",
                message=DRILL_MARK,
                message_zh=DRILL_MARK,
                value=80.0,
                level=60.0,
                raised_at=now - 850,
                updated_at=now - 850,
                **common,
            )
        )
        await connection.execute(
            insert(incidents).values(
                id=first,
                key="drill-1",
                zone="boundary-south",
                title=f"{DRILL_MARK} incident",
                proposed_tier="red",
                state="open",
                opened_at=now - 850,
                updated_at=now - 850,
                detail="{}",
                **common,
            )
        )
    await engine.dispose()
    return int(run_id)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bench(tmp_path_factory: pytest.TempPathFactory, chromium: str, demo_site: Site) -> AsyncIterator[Bench]:
    """One service for the module, with a returned-unacknowledged Cl2 alarm and a latched tamper from real readings."""
    folder = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{folder / 'hazwatch.db'}"
    unique = uuid.uuid4().hex[:10]
    prefix = f"hwtest-{unique}"
    now = time.time()
    drill_run = await _seed_drill(url, now)
    tiles = await _start_tiles()
    config = service_config(f"mqtt://{MACHINE_BROKER[0]}:{MACHINE_BROKER[1]}", url, prefix, f"svc-{unique}")
    config.http.public_read = False  # the page must send its token, including on the event stream
    config.map.tiles = [TileSource(name="local test tiles", url=f"http://127.0.0.1:{tiles.port}/{{z}}/{{x}}/{{y}}.png")]
    site = demo_site
    shots = Path(os.environ.get("HAZWATCH_SCREENSHOTS") or folder / "shots")
    os.makedirs(shots, exist_ok=True)
    print(f"\nconsole screenshots: {shots}")  # where to look at them
    try:
        async with running_service(config, site) as service:
            tokens = {role: await add_user(service.engine, f"{role}-user", role, now) for role in ROLES}
            t0 = now - 300
            gas_topic = f"{prefix}/{site.site}/{GAS_DEVICE}"
            source_topic = f"{prefix}/{site.site}/{SOURCE_DEVICE}"
            # Cl2 over level 2 for a while, then back to zero: the alarm returns, nobody acknowledged it.
            high = [(gas_topic, _gas(2.0, t0 + 10 * i)) for i in range(6)]
            low = [(gas_topic, _gas(0.0, t0 + 60 + 10 * i)) for i in range(6)]
            # The gauge's enclosure is opened and closed again: a latching urgent alarm that needs a reset.
            tamper = [(source_topic, _gauge(value, t0 + 5 + 30 * i)) for i, value in enumerate([False, True, False])]
            base = f"http://127.0.0.1:{service.http_port}"
            wind = senml("wx-01", [("wind_speed", 3.2, "m/s"), ("wind_dir", 90.0, "deg")], t0)  # an east wind
            await publish(MACHINE_BROKER, [*high, (f"{prefix}/{site.site}/wx-01", wind)])

            async def incident() -> list[dict[str, Any]] | None:
                return (await _get_json(base, tokens["operator"], "/api/incidents"))["incidents"] or None

            await eventually(incident)  # the Cl2 alarm opens the gas incident first, the tamper its own one below
            await publish(MACHINE_BROKER, tamper + low)

            async def board() -> list[dict[str, Any]] | None:
                rows = (await _get_json(base, tokens["operator"], "/api/alarms?state=needs_action"))["alarms"]
                states = {r["state"] for r in rows}
                return rows if {"returned_unack", "latched_unack"} <= states else None

            await eventually(board, timeout=20)

            async def keep_reporting() -> None:
                """The devices keep sending normal readings, as real ones do (a silent device goes offline and the
                alarm book suppresses its alarms by design)."""
                while True:
                    await asyncio.sleep(5)
                    t = time.time()
                    await publish(MACHINE_BROKER, [(gas_topic, _gas(0.0, t)), (source_topic, _gauge(False, t))])

            reporting = asyncio.create_task(keep_reporting())
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    yield Bench(service, base, tiles, tokens, drill_run, browser, shots, prefix)
                finally:
                    reporting.cancel()
                    await browser.close()
    finally:
        if tiles.runner is not None:
            await tiles.runner.cleanup()


async def _open(
    bench: Bench, role: str | None, size: tuple[int, int], path: str = "/"
) -> tuple[BrowserContext, Page, list[str]]:
    context = await bench.browser.new_context(viewport={"width": size[0], "height": size[1]})
    if role is not None:
        await context.add_init_script(f"localStorage.setItem('hazwatch.token', {json.dumps(bench.tokens[role])})")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(bench.base + path)
    await page.wait_for_selector("body[data-loaded=true]")
    return context, page, errors


async def _axe(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page (axe is vendored: the test runs offline)."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


async def test_desk_shows_what_needs_action_and_by_when(bench: Bench) -> None:
    context, page, errors = await _open(bench, "operator", (1920, 1080))
    try:
        await page.wait_for_selector("#live.on")  # the event stream connected with the token in a header
        board = page.locator("#alarm-list")
        returned = board.locator(f"article[data-state=returned_unack][data-sensor={GAS_SENSOR}]")
        await returned.first.wait_for()
        text = await returned.first.inner_text()
        assert "氯气" in text  # the rule's message, not its id
        assert "ppm" in text  # value and limit with units
        assert "前 /" in text  # how long ago
        assert await returned.first.locator("button[data-action=acknowledge]").count() == 1
        latched = board.locator("article[data-state=latched_unack]")
        await latched.first.wait_for()
        assert await latched.first.locator("button[data-action=reset]").count() == 1
        assert (await board.locator("article").first.get_attribute("class") or "").find("prio-urgent") >= 0

        # Two incidents, in words: the Cl2 one at the north boundary and, apart from it (the plan's `grouping: hazard`),
        # the tampered Cs-137 gauge in the chlor-alkali plant.
        gas_card = page.locator("#incident-list .card", has_text="园区边界任一气体探测器达到二级报警")
        gas_text = await gas_card.inner_text()
        assert "North boundary" in gas_text
        assert "有毒气体" in gas_text
        assert "Chlor-alkali plant" not in gas_text
        source_card = page.locator("#incident-list .card", has_text="IV/V 类放射源丢失、越界或被拆动")
        source_text = await source_card.inner_text()
        assert "Chlor-alkali plant" in source_text
        assert "放射源" in source_text
        await gas_card.click()
        await page.wait_for_selector("#incident-list .card.selected:has-text('园区边界任一气体探测器达到二级报警')")
        detail = page.locator("#incident-detail")
        await detail.locator(".deadline[data-kind=acknowledge]").wait_for()
        initial = detail.locator(".deadline[data-kind=report]", has_text="初报")
        assert "剩余 / left" in await initial.inner_text()
        assert "overdue" not in (await initial.get_attribute("class") or "")
        # An operator never sees buttons that would answer 403.
        assert await page.locator("button[data-action=close]").count() == 0
        assert await page.locator("button[data-action=confirm-level]").count() == 0
        assert await page.locator("button[data-action=shelve]").count() == 0
        assert await page.locator("button[data-action=incident-comment]").count() == 1
        # The drill replayed into this database is nowhere in the live view.
        assert DRILL_MARK not in await page.inner_text("body")
        assert await page.locator("#drill-banner").is_hidden()
        # Tiles from the local tile server under the site's own layers.
        await page.wait_for_selector("body[data-tiles=loaded]")
        assert bench.tiles.requests
        assert await page.locator(".leaflet-tile-loaded").count() > 0
        assert await page.locator(".device-icon .dot[data-state=alarm]").count() >= 1
        # The weather station's wind arrow points where an east wind blows: west (90 deg + 180).
        arrow = page.locator(".wind-arrow")
        assert await arrow.count() == 1
        assert "rotate(270deg)" in (await arrow.get_attribute("style") or "")
        await page.screenshot(path=str(bench.shots / "desk-1920x1080.png"))
        violations = await _axe(page)
        assert violations == []
        assert errors == []
    finally:
        await context.close()


async def test_countdown_turns_overdue(bench: Bench) -> None:
    context = await bench.browser.new_context(viewport={"width": 1920, "height": 1080})
    await context.add_init_script(f"localStorage.setItem('hazwatch.token', {json.dumps(bench.tokens['operator'])})")
    page = await context.new_page()
    try:
        await page.clock.install()
        await page.goto(bench.base + "/")
        await page.wait_for_selector("body[data-loaded=true]")
        initial = page.locator("#incident-detail .deadline[data-kind=report]", has_text="初报")
        await initial.wait_for()
        assert "overdue" not in (await initial.get_attribute("class") or "")
        await page.clock.fast_forward("02:00:00")  # past the 1 h initial report (and the 10 min page)
        await page.wait_for_selector("#incident-detail .deadline.overdue[data-kind=report]")
        assert "超时 / overdue" in await initial.inner_text()
        page_deadline = page.locator("#incident-detail .deadline[data-kind=acknowledge]")
        assert "overdue" in (await page_deadline.get_attribute("class") or "")
    finally:
        await context.close()


async def test_supervisor_sees_close_and_drill_view_shows_one_run(bench: Bench) -> None:
    context, page, errors = await _open(bench, "supervisor", (1920, 1080))
    try:
        assert await page.locator("button[data-action=close]").count() == 1
        assert await page.locator("button[data-action=confirm-level]").count() == 1
    finally:
        await context.close()
    context, page, errors = await _open(bench, "supervisor", (1920, 1080), f"/?drill_run={bench.drill_run}")
    try:
        assert await page.locator("#drill-banner").is_visible()
        body = await page.inner_text("body")
        assert DRILL_MARK in body
        assert "氯气" not in await page.inner_text("#alarm-list")  # the live Cl2 alarm is not in the drill view
        await page.screenshot(path=str(bench.shots / "drill-1920x1080.png"))
        assert errors == []
    finally:
        await context.close()
    live_site = await _get(bench, "/api/site")
    drill_site = await _get(bench, f"/api/site?drill_run={bench.drill_run}")
    state = {s["id"]: s["state"] for s in live_site["sensors"]}
    assert state["gas-s01-nh3"] != "alarm"  # the drill's urgent alarm does not paint the live map
    assert {s["id"]: s["state"] for s in drill_site["sensors"]}["gas-s01-nh3"] == "alarm"


async def _get(bench: Bench, path: str) -> Any:
    return await _get_json(bench.base, bench.tokens["operator"], path)


async def test_phone_cards_and_sensor_chart(bench: Bench) -> None:
    context, page, errors = await _open(bench, "operator", (390, 844))
    try:
        row = page.locator("article[data-state=returned_unack]").first
        await row.wait_for()
        box = await row.bounding_box()
        assert box is not None
        assert box["width"] <= 390  # a card, not a table running off the screen
        ack = row.locator("button[data-action=acknowledge]")
        ack_box = await ack.bounding_box()
        assert ack_box is not None
        assert ack_box["height"] >= 44  # thumb-sized
        await page.screenshot(path=str(bench.shots / "phone-390x844.png"))
        await page.screenshot(path=str(bench.shots / "phone-390x844-full.png"), full_page=True)
        # Tap the Cl2 detector on the map: its panel opens with the last 24 h charted.
        await page.locator(f".device-icon .dot[data-device={GAS_DEVICE}]").click()
        await page.wait_for_selector(f"#sensor-panel .chart[data-sensor={GAS_SENSOR}] .uplot")
        assert "ppm" in await page.inner_text("#sensor-panel")
        await page.screenshot(path=str(bench.shots / "phone-sensor-panel.png"))
        violations = await _axe(page)
        assert violations == []
        # The token dialog fits the phone and says where a token comes from.
        await page.click("#sensor-close")
        await page.click("#login")
        dialog, field = page.locator("#token-dialog"), page.locator("#token-input")
        await dialog.wait_for()
        dialog_box, field_box = await dialog.bounding_box(), await field.bounding_box()
        assert dialog_box is not None
        assert field_box is not None
        assert field_box["x"] + field_box["width"] <= dialog_box["x"] + dialog_box["width"]
        assert dialog_box["x"] + dialog_box["width"] <= 390
        assert "hazwatch user add" in await dialog.inner_text()
        await page.screenshot(path=str(bench.shots / "phone-token-dialog.png"))
        assert errors == []
    finally:
        await context.close()


async def test_map_falls_back_to_site_layers_without_tiles(bench: Bench) -> None:
    assert bench.tiles.runner is not None
    await bench.tiles.runner.cleanup()  # the tile server goes away (an isolated network)
    bench.tiles.runner = None
    context, page, errors = await _open(bench, "operator", (1920, 1080))
    try:
        await page.wait_for_selector("body[data-tiles=failed]")
        # The site file's outlines, roads, river and receptor areas are drawn as vectors; schools, hospitals and
        # nursing homes also get an icon.
        site = await _get(bench, "/api/map")
        shapes = [f for f in site["layers"]["features"] if f["geometry"]["type"] != "Point"]
        assert await page.locator(".leaflet-overlay-pane path").count() >= len(shapes)
        assert await page.locator(".receptor.hospital").count() == 1
        await page.screenshot(path=str(bench.shots / "offline-map-1920x1080.png"))
        assert errors == []
    finally:
        await context.close()


async def test_new_alarm_sounds_notifies_and_flashes_the_title(bench: Bench) -> None:
    context = await bench.browser.new_context(viewport={"width": 1920, "height": 1080})
    await context.grant_permissions(["notifications"], origin=bench.base)
    await context.add_init_script(
        f"localStorage.setItem('hazwatch.token', {json.dumps(bench.tokens['operator'])});"
        # record what the page asks of the Notification API and the audio device
        "window.__notes = []; window.Notification = class { static permission = 'granted';"
        " constructor(title, options) { window.__notes.push(title); } };"
        "window.__beeps = 0; const Real = window.AudioContext;"
        "window.AudioContext = class extends Real {"
        " createOscillator() { window.__beeps++; return super.createOscillator(); } };"
    )
    page = await context.new_page()
    try:
        await page.goto(bench.base + "/")
        await page.wait_for_selector("body[data-loaded=true]")
        await page.wait_for_selector("#live.on")
        # A new high alarm arrives over MQTT on another boundary detector while the page is open.
        t = time.time()
        topic = f"{bench.prefix}/demo-park/gas-e01"
        await publish(
            MACHINE_BROKER, [(topic, senml("gas-e01", [("cl2", 2.0, "ppm")], t - 20 + i * 10)) for i in range(3)]
        )
        await page.wait_for_selector("body[data-alerted]", timeout=20_000)
        await page.wait_for_function("document.title.startsWith('【')", timeout=5_000)  # it flashes on and off
        notes = await page.evaluate("window.__notes")
        assert notes
        assert "gas" in notes[0] or "气体" in notes[0]
        assert await page.evaluate("window.__beeps") >= 1
    finally:
        await context.close()
