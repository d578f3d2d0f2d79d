"""Alarm-to-notification latency under load: reading over threshold published -> webhook request received.

A private Mosquitto, the full service (ingest, detection, alarm, outbox commit in the alarm's transaction, delivery
worker) on SQLite, a background publisher at ``--rate`` messages/s to the gamma stations (normal values), and a
local webhook receiver. The load comes from a separate process (like a real device fleet) so the service's event
loop does not pay for generating it. Each event publishes one message that crosses a chlorine high-high level (two
readings 11 s apart in device time, so the 10 s on-delay is met inside the message); the clock stops when the
webhook request arrives. Events go one at a time, rotating over the chlorine detectors; each is cleared before the next.

    python bench/latency.py [--events 250] [--rate 1000] [--copies 97 --scrape-every 1] [--render threads]
        [--profile out.prof] [--broker-nagle]

``--broker-nagle`` runs the broker with Mosquitto's default ``set_tcp_nodelay false``: Nagle's algorithm then holds
the event's message at the broker until the service's TCP acknowledgement of the background traffic before it (the
"received" stage grows by about 20 ms); the default is the configuration docs/notifications.md recommends.

``--copies N`` adds N-1 suffixed copies of the demo site's devices (97: 10,000 sensors; the extra sensors are
declared and scraped, the load and the events still go to the original devices). ``--scrape-every S`` runs a
separate process that GETs /metrics every S seconds for the whole run, like a Prometheus scraping a city site, and
prints how many scrapes it made and their sizes and times: compare the latency figures with and without it, and
the events published while a scrape was being served with the others of the same run.

Besides wall-clock latency (inflated on a loaded machine) it prints the CPU time this process (broker client, service,
receiver: everything but the load generator, the scraper and the broker) spent per event, from
``resource.getrusage``, and the time from publishing to the page's outbox row being created (``created_at`` in the
database, the service's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import yaml
from aiohttp import web
from latency_stages import StageProbe, commit_hook, installed
from private_broker import start_mosquitto
from sqlalchemy import select
from webhook_service import start_receiver, webhook_paging_config

from daemon.config import DEFAULT_SITE
from daemon.notify.channels.webhook import WebhookChannel
from daemon.service import Service
from daemon.site_file import load_site
from daemon.store.schema import notifications
from rules.site import Site

GAMMA_DEVICES = [f"gamma-{i:02d}" for i in range(1, 11)]


def senml(device: str, records: list[tuple[str, float, float]]) -> bytes:
    """SenML for (name, value, time) records."""
    return json.dumps([{"bn": f"{device}:"}, *({"n": n, "v": v, "u": "ppm", "t": t} for n, v, t in records)]).encode()


async def background_load(port: int, prefix: str, site: str, rate: int, seconds: float) -> None:
    """Publish ``rate`` messages/s of normal gamma readings for ``seconds``; print how many were sent."""
    sent = [0]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-load-{port}") as client:
        print("ready", flush=True)
        tick = 0.01
        per_tick = max(rate * tick, 1)
        started = time.perf_counter()
        while not stop.is_set() and time.perf_counter() - started < seconds:
            due = int((time.perf_counter() - started) * rate)
            batch = min(due - sent[0], int(per_tick * 5))
            now = time.time()
            for k in range(batch):
                device = GAMMA_DEVICES[(sent[0] + k) % len(GAMMA_DEVICES)]
                payload = json.dumps([{"bn": f"{device}:", "bt": now}, {"n": "dose_rate", "v": 95.0, "u": "nSv/h"}])
                await client.publish(f"{prefix}/{site}/{device}", payload.encode(), qos=0)
            sent[0] += max(batch, 0)
            await asyncio.sleep(tick)
    elapsed = time.perf_counter() - started
    print(f"{sent[0]} {elapsed:.3f}", flush=True)


def city_site(copies: int) -> Site:
    """The demo site plus ``copies - 1`` copies of its devices with suffixed ids (the originals keep theirs)."""
    data: dict[str, Any] = yaml.safe_load(DEFAULT_SITE.read_text(encoding="utf-8"))
    devices = list(data["devices"])
    for copy in range(1, copies):
        for device in data["devices"]:
            clone = dict(device, id=f"{device['id']}-{copy}")
            clone["sensors"] = [dict(s, id=f"{s['id']}-{copy}") for s in device["sensors"]]
            devices.append(clone)
    data["devices"] = devices
    return Site.model_validate(data)


def scrape_loop(url: str, every: float, seconds: float) -> None:
    """GET ``url`` every ``every`` seconds until ``seconds`` pass or SIGTERM; print count, bytes and wall times."""
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    print("ready", flush=True)
    times, sizes, spans = [], [], []
    started = time.perf_counter()
    while not stop[0] and time.perf_counter() - started < seconds:
        begun, wall = time.perf_counter(), time.time()
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310  # our own service on localhost
            sizes.append(len(response.read()))
        times.append(time.perf_counter() - begun)
        spans.append(f"{wall:.3f}:{wall + times[-1]:.3f}")  # wall clock: the main process compares its events
        time.sleep(max(0.0, every - times[-1]))
    median = float(np.median(times)) * 1000 if times else 0.0
    print(f"{len(times)} {int(np.mean(sizes)) if sizes else 0} {median:.1f} {','.join(spans)}", flush=True)


async def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=250)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--batch-delay", type=float, default=None, help="ingest.batch_max_delay_s (default: config's)")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the events phase here")
    parser.add_argument("--load-only", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the load subprocess
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=1, help="site size: the demo site's devices this many times")
    parser.add_argument("--scrape-every", type=float, default=0.0, help="GET /metrics every S seconds (0: never)")
    parser.add_argument("--scrape-only", metavar="URL", help=argparse.SUPPRESS)  # the scraping subprocess
    parser.add_argument(
        "--broker-nagle",
        action="store_true",
        help="run Mosquitto with its default set_tcp_nodelay false (Nagle's algorithm on its client sockets)",
    )
    parser.add_argument(
        "--render",
        choices=["process", "threads"],
        default="process",
        help="where /metrics renders the per-sensor families (http.metrics_render_process)",
    )
    args = parser.parse_args()
    if args.scrape_only:
        scrape_loop(args.scrape_only, args.scrape_every, args.seconds)
        return
    if args.load_only:
        await background_load(args.load_only, "bench", load_site(DEFAULT_SITE).site, args.rate, args.seconds)
        return
    site = load_site(DEFAULT_SITE) if args.copies <= 1 else city_site(args.copies)
    chlorine = [d.id for d in load_site(DEFAULT_SITE).devices if any(s.name == "cl2" for s in d.sensors)]
    workdir = Path(tempfile.mkdtemp(prefix="hazwatch-latency-"))
    broker, port = start_mosquitto(workdir, nodelay=not args.broker_nagle)
    arrivals: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
    probe = StageProbe()
    probed_sensor = [""]

    async def hook(request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        document = await request.json()
        if document["facts"]["sensor_id"] == probed_sensor[0]:
            probe.finish()
        arrivals.put_nowait((arrived, document["facts"]["sensor_id"]))
        return web.Response(text="ok")

    runner, hook_url = await start_receiver(hook)
    config = webhook_paging_config(port, workdir, hook_url, f"bench-latency-{port}")
    if args.batch_delay is not None:
        config.ingest.batch_max_delay_s = args.batch_delay
    config.http.metrics_render_process = args.render == "process"
    patches = contextlib.ExitStack()
    patches.enter_context(installed(probe, WebhookChannel))
    service = Service(config, site)
    await service.start()
    service.writer.after_commit.insert(0, commit_hook(probe))
    await asyncio.wait_for(service.wait_connected(), 15)
    # Long enough for every event at the slowest expected pace; stopped early when the events are done.
    load = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--load-only",
        str(port),
        "--rate",
        str(args.rate),
        "--seconds",
        str(10 + args.events * 0.5),
        stdout=asyncio.subprocess.PIPE,
    )
    scraper = None
    if args.scrape_every > 0:
        scraper = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--scrape-only", f"http://127.0.0.1:{service.http_port}/metrics",
            "--scrape-every", str(args.scrape_every), "--seconds", str(60 + args.events * 2),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert scraper.stdout is not None
        await asyncio.wait_for(scraper.stdout.readline(), 30)
    latencies: list[float] = []
    event_walls: list[tuple[float, float]] = []  # (wall time published, latency s) for the scrape overlap split
    published: list[tuple[float, str]] = []  # (wall time of publish, sensor) to compare with the row's created_at
    misses = 0
    profile = cProfile.Profile() if args.profile else None
    base = time.time() - 4 * 3600
    load_started = time.perf_counter()
    try:
        assert load.stdout is not None
        await asyncio.wait_for(load.stdout.readline(), 30)  # the load process is connected and publishing
        load_started = time.perf_counter()
        await asyncio.sleep(1.0)  # let the load reach its rate
        async with aiomqtt.Client("127.0.0.1", port, identifier="bench-events") as client:
            cpu_started = _cpu_seconds()
            wall_started = time.perf_counter()
            if profile is not None:
                profile.enable()
            for event in range(args.events):
                device = chlorine[event % len(chlorine)]
                t = base + event * 40
                topic = f"bench/{site.site}/{device}"
                probed_sensor[0] = f"{device}-cl2"
                probe.arm(topic)
                started, published_wall = time.perf_counter(), time.time()
                published.append((published_wall, f"{device}-cl2"))
                await client.publish(topic, senml(device, [("cl2", 2.0, t), ("cl2", 2.0, t + 11)]), qos=1)
                try:
                    while True:
                        arrived, sensor = await asyncio.wait_for(arrivals.get(), 5)
                        if sensor == f"{device}-cl2":
                            latencies.append(arrived - started)
                            event_walls.append((published_wall, arrived - started))
                            break
                except TimeoutError:
                    misses += 1
                await client.publish(topic, senml(device, [("cl2", 0.0, t + 20)]), qos=1)
                await asyncio.sleep(0.02)
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            cpu_used = _cpu_seconds() - cpu_started
            wall_used = time.perf_counter() - wall_started
            created = await _row_times(service)
    finally:
        elapsed = time.perf_counter() - load_started
        if load.returncode is None:  # a slow run outlives the load process's own time limit
            load.send_signal(signal.SIGTERM)
        output, _ = await load.communicate()
        scraped = b""
        if scraper is not None:
            if scraper.returncode is None:
                scraper.send_signal(signal.SIGTERM)
            scraped, _ = await scraper.communicate()
        await service.stop()
        patches.close()
        await runner.cleanup()
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    ms = np.array(latencies) * 1000
    lines = output.decode().split()
    sent, load_seconds = (int(lines[0]), float(lines[1])) if len(lines) == 2 else (0, elapsed)
    print(
        f"background load: {sent} messages in {load_seconds:.1f} s = {sent / load_seconds:.0f} msg/s (separate process)"
    )
    print(f"site: {sum(len(d.sensors) for d in site.devices)} sensors")
    print(f"broker: Mosquitto, set_tcp_nodelay {'false (its default)' if args.broker_nagle else 'true'}")
    if scraper is not None:
        count, size, median, *rest = scraped.decode().split()
        print(f"/metrics scraped {count} times every {args.scrape_every:g} s: {size} bytes, median {median} ms wall")
        spans = [tuple(map(float, span.split(":"))) for span in (rest[0].split(",") if rest else [])]
        # The same run, split by whether a scrape was being served when the event was published. (Splitting by
        # whether the event's whole flight overlapped a scrape is biased: a slow event overlaps some scrape more
        # often just because it is slow, so that split shows "slower during scrapes" even when scrapes cost nothing.
        # Both are printed; the first is the fair comparison.)
        during = [any(a <= wall <= b for a, b in spans) for wall, _ in event_walls]
        published_in = [lat for (_, lat), d in zip(event_walls, during, strict=True) if d]
        published_out = [lat for (_, lat), d in zip(event_walls, during, strict=True) if not d]
        # The event loop thread's CPU from publish to page (every probe mark is made on that thread): wall time
        # on a loaded machine includes waiting for a core, this does not. probe.events pairs with event_walls
        # (both grow only when the armed event's page arrives).
        loop_cpu = [(m["request_received"][2] - m["publish"][2]) * 1000 for m in probe.events]
        for name, flag in (("during a scrape", True), ("with no scrape in flight", False)):
            group = [cpu for cpu, d in zip(loop_cpu, during, strict=False) if d is flag]
            if group:
                print(f"  event loop CPU, publish -> page, events published {name}: p50 {np.median(group):.1f} ms")
        overlap = [lat for wall, lat in event_walls if any(a <= wall + lat and wall <= b for a, b in spans)]
        apart = [lat for wall, lat in event_walls if not any(a <= wall + lat and wall <= b for a, b in spans)]
        for name, group in (
            ("published during a scrape", published_in),
            ("published with no scrape in flight", published_out),
            ("in flight during a scrape (biased)", overlap),
            ("never overlapping a scrape (biased)", apart),
        ):
            if group:
                p50, p95 = np.percentile(np.array(group) * 1000, [50, 95])
                print(f"  events {name}: {len(group)}, latency ms p50 {p50:.1f} p95 {p95:.1f}")
    print(f"ingest.batch_max_delay_s = {config.ingest.batch_max_delay_s:g} s")
    print(f"events: {len(latencies)} delivered, {misses} missed (5 s limit)")
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(f"publish -> webhook latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {ms.max():.1f}")
    print(f"target p99 < 50 ms: {'met' if p99 < 50 else 'NOT met'} (wall clock; see the load average below)")
    commit_ms = np.array([(row - sent) * 1000 for (sent, _), row in zip(published, created, strict=False)])
    if commit_ms.size:
        c50, c95, c99 = np.percentile(commit_ms, [50, 95, 99])
        print(f"publish -> outbox row created ms: p50 {c50:.1f}  p95 {c95:.1f}  p99 {c99:.1f}")
    print("where the time goes, per stage (since the stage before; CPU: this process, every thread; loop: its thread):")
    for line in probe.report():
        print(f"  {line}")
    events = max(len(latencies) + misses, 1)
    print(
        f"CPU of this process during the events: {cpu_used:.2f} s in {wall_used:.1f} s wall "
        f"= {cpu_used / events * 1000:.1f} ms CPU per event (incl. the 1,000 msg/s background ingest)"
    )
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _row_times(service: Service) -> list[float]:
    """``created_at`` of each event's first page row, in event order (the service's wall clock)."""
    await service.writer.flush()
    query = (
        select(notifications.c.created_at)
        .where(notifications.c.event == "alarm", notifications.c.channel == "webhook")
        .order_by(notifications.c.id)
    )
    async with service.engine.connect() as connection:
        return [float(t) for t in (await connection.execute(query)).scalars()]


if __name__ == "__main__":
    asyncio.run(main())
