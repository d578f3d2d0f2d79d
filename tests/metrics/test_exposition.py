"""The per-sensor families rendered from snapshots are exactly what prometheus_client would have written."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

import numpy as np
import pytest
from aiohttp import ClientSession, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from daemon.clock import ManualClock
from daemon.metrics import text_format
from daemon.metrics.exposition import RENDER_SWITCH_INTERVAL_S, Exposition
from daemon.metrics.instruments import Metrics
from daemon.metrics.render_process import RenderProcess
from daemon.metrics.sensors import SensorCollector, SensorStateCollector, SiteCollector
from daemon.metrics.sources import MetricSources
from daemon.metrics.status import StatusCollector
from daemon.metrics.text_format import LINES_PER_BLOCK, series_prefix
from daemon.web import metrics_response
from daemon.web.app import BEFORE_SCRAPE, EXPOSITION, REGISTRY, metrics
from rules.loading import load_default_rules
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.metrics.standins import NOW, Conditions, Latest

Collectors = list[StatusCollector | SiteCollector | SensorCollector | SensorStateCollector]


def _collectors(site: Site) -> tuple[Collectors, CollectorRegistry]:
    table = SensorTable.build(site)
    n = len(table)
    rng = np.random.default_rng(11)
    latest = Latest(n, rng, spread_s=600.0)
    latest.latest_value[:4] = [0.0, 1e-9, 123456789.0, np.inf]  # values that exercise Go's float formatting
    latest.latest_time[rng.random(n) < 0.2] = np.nan  # sensors that never reported
    sources = MetricSources(n)
    pairs = [("threshold.high", int(i)) for i in rng.choice(n, size=10, replace=False)]
    pairs += [("quality.stuck", 3), ("source.tamper", next(i for i, s in enumerate(table.sensors) if "tamper" in s.id))]
    sources.conditions = sources.alarms = Conditions(pairs)
    clock = ManualClock(NOW)
    offline = {0: False, 5: False}
    collectors: Collectors = [
        StatusCollector(table, clock, sources),
        SiteCollector(table, load_default_rules(), table.core_config()),
        SensorCollector(table, latest.latest_value, latest.latest_time),
        SensorStateCollector(table, clock, latest, sources, offline),
    ]
    registry = CollectorRegistry()
    Metrics(registry)
    return collectors, registry


@pytest.mark.parametrize("lines_per_block", [LINES_PER_BLOCK, 7, 1])
def test_snapshot_rendering_equals_prometheus_client_byte_for_byte(
    demo_site: Site, lines_per_block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo site has fewer sensors than a block: small blocks check that the seams between blocks are invisible.
    monkeypatch.setattr(text_format, "LINES_PER_BLOCK", lines_per_block)
    collectors, _ = _collectors(demo_site)
    reference = CollectorRegistry()
    for collector in collectors:
        reference.register(collector)
    expected = generate_latest(reference)
    fast = Exposition(CollectorRegistry(), collectors).render_sync()
    assert fast == expected
    families = {f.name: f for f in text_string_to_metric_families(fast.decode())}
    assert {"hazwatch_sensor_value", "hazwatch_sensor_state", "hazwatch_sensor_level", "hazwatch_source_status"} <= set(
        families
    )
    assert sum(1 for s in families["hazwatch_sensor_state"].samples if s.value == 1.0) == len(
        {s.labels["sensor"] for s in families["hazwatch_sensor_state"].samples}
    )


async def test_the_render_runs_in_a_worker_thread_and_keeps_the_registry(demo_site: Site) -> None:
    collectors, registry = _collectors(demo_site)
    threads: list[str] = []
    intervals: list[float] = []
    before = sys.getswitchinterval()
    frame_of = collectors[2].frame

    class Traced:
        def __init__(self, layout: text_format.Layout) -> None:
            self.layout = layout

        def render(self, state: object) -> bytes:
            threads.append(threading.current_thread().name)
            intervals.append(sys.getswitchinterval())
            return self.layout.render(state)

    def spy() -> text_format.Frame:
        frame = frame_of()
        return text_format.Frame(frame.key, Traced(frame.layout), frame.state)

    collectors[2].frame = spy  # type: ignore[method-assign]  # the spy wraps the real frame
    body = await Exposition(registry, collectors).render()
    assert threads
    assert threads[0] != threading.current_thread().name  # not the event loop's thread
    # The GIL changes hands often while the render runs (other threads' commits are not convoyed), then as before.
    assert intervals == [RENDER_SWITCH_INTERVAL_S]
    assert sys.getswitchinterval() == before
    text = body.decode()
    assert "hazwatch_ingest_messages_total" in text or "hazwatch_ingest_readings_total" in text  # the small registry
    assert text.count("# TYPE hazwatch_sensor_value gauge") == 1
    await asyncio.sleep(0)


@pytest.mark.parametrize("in_process", [True, False], ids=["render-process", "threads"])
async def test_served_metrics_are_the_exposition(
    demo_site: Site, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    # Small slices, so that the demo site's exposition crosses many slice and part boundaries over a real socket.
    monkeypatch.setattr(metrics_response, "SLICE_BYTES", 4096)
    collectors, registry = _collectors(demo_site)
    exposition = Exposition(registry, collectors, RenderProcess() if in_process else None)
    await exposition.start()
    app = web.Application()
    app[REGISTRY], app[EXPOSITION], app[BEFORE_SCRAPE] = registry, exposition, ()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with (
            ClientSession() as session,
            session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/metrics") as response,
        ):
            body = await response.read()
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
            assert int(response.headers["Content-Length"]) == len(body)
        # HEAD: the headers only, and the connection (kept alive) still answers a GET after it.
        async with ClientSession() as session:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
            async with session.head(url) as head:
                assert head.status == 200
                assert int(head.headers["Content-Length"]) > 10 * 4096
                assert await head.read() == b""
            async with session.get(url) as again:
                assert again.status == 200
                assert len(await again.read()) == int(again.headers["Content-Length"])
        if in_process:  # the body came from the child's file, and the child still runs for the next scrape
            assert exposition.process is not None
            assert exposition.process.running
            assert exposition.process.starts == 1
    finally:
        await runner.cleanup()
        await exposition.close()
    assert exposition.process is None or not exposition.process.running, "the child ends with the exposition"
    assert len(body) > 10 * 4096
    # The same scrape rendered in one piece (the clock and the readings did not move; the registry's own counters
    # are the same objects, untouched between the two).
    assert body == exposition.render_sync()


def test_label_values_are_escaped_like_prometheus_client() -> None:
    prefix = series_prefix("m", ["b", "a"], ['quote " back \\ nl \n', "x"])
    assert prefix == 'm{a="x",b="quote \\" back \\\\ nl \\n"} '


def test_state_text_is_reused_while_no_state_changes_and_redone_when_one_does(demo_site: Site) -> None:
    table = SensorTable.build(demo_site)
    sources = MetricSources(len(table))
    sources.conditions = sources.alarms = Conditions([("threshold.high", 1)])
    states = SensorStateCollector(table, ManualClock(NOW), Latest(len(table), np.random.default_rng(5)), sources, {})
    reference = CollectorRegistry()
    reference.register(states)
    first = states.snapshot()()
    again = states.snapshot()()
    assert again is first, "the same states: the last text is reused, not rendered again"
    # A condition opens on another sensor: its state changes, the text must follow (byte for byte).
    sources.conditions = sources.alarms = Conditions([("threshold.high", 1), ("quality.stuck", 7)])
    changed = states.snapshot()()
    assert changed != first
    assert changed == generate_latest(reference)


@pytest.mark.slow  # render processes killed, stopped and started again: about 1.3 CPU-s
async def test_a_dead_or_hung_render_process_is_replaced_and_a_hung_one_costs_one_scrape_in_threads(
    demo_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    collectors, registry = _collectors(demo_site)
    process = RenderProcess(timeout_s=2.0)  # the demo site renders in milliseconds; a hung child costs this wait
    exposition = Exposition(registry, collectors, process)
    await exposition.start()

    async def scraped_by_child() -> bytes:
        scrape = await exposition.scrape()
        assert scrape.rendered is not None, "rendered by the child"
        try:
            return scrape.parts[0] + scrape.rendered.file.read(scrape.rendered.size)
        finally:
            scrape.close()

    try:
        assert await scraped_by_child() == exposition.render_sync()
        # A layout changes (a rules reload): the new one reaches the child, the old one is dropped there.
        collectors[1].update_levels([], None)  # type: ignore[union-attr]  # the SiteCollector
        expected = exposition.render_sync()
        assert await scraped_by_child() == expected
        # Each scrape wrote over the last one's file (its pages reused); one still being sent gets another.
        assert process._directory is not None
        assert sorted(p.name for p in process._directory.iterdir()) == ["0.prom"]
        held = await exposition.scrape()
        assert await scraped_by_child() == expected
        held.close()
        assert sorted(p.name for p in process._directory.iterdir()) == ["0.prom", "1.prom"]

        child = process._process
        assert child is not None
        child.kill()  # dead between scrapes (the kernel's OOM killer): the next scrape starts another
        await child.wait()
        assert await scraped_by_child() == expected
        assert process.starts == 2

        child = process._process
        assert child is not None
        child.send_signal(signal.SIGSTOP)  # hung: the scrape waits for it no longer than the timeout
        fallback = await exposition.scrape()
        assert fallback.rendered is None, "rendered in this process's threads"
        assert b"".join(fallback.parts) == expected
        assert "rendering this scrape in threads" in caplog.text
        assert child.returncode is not None, "the hung child was stopped"
        assert await scraped_by_child() == expected
        assert process.starts == 3
    finally:
        await exposition.close()
