"""Cost of one /metrics scrape for the demo site and bigger copies, the way the service renders it.

    python bench/metrics_scrape.py [--copies 1 10 50 97] [--scrapes 30] [--served 10]

The site is the demo site replicated ``copies`` times (ids suffixed; 97 copies = 10,000 sensors); every sensor
has reported, 5 % have an open condition. Prints sensors, series, bytes and, per scrape (median and p95):
``loop_ms``, the time the event loop is held (the small registry and the collectors' snapshots), ``render_ms``,
the text rendering the service does in a worker thread (``render_cpu_ms``: its CPU time, which a loaded
machine inflates less than the wall time), and ``old_ms``, the single-threaded prometheus_client
rendering of everything that the service used before (all of it on the loop).

``--served N`` then serves /metrics N times over HTTP with the service's handler (``daemon.web.app.metrics``) to a
reader in a separate process, while an asyncio task on the same loop ticks every 1 ms, and prints the longest
stall of that ticker during a scrape (how long an alarm due on the loop would wait; the cost of the scrape to the
rest of the service), the CPU time of the serving process and of its event loop's thread per scrape and its wall
time. Rows: the service's way (the families rendered by the render process, ``daemon.metrics.render_process``,
whose own CPU per scrape is ``child_cpu_ms``, read from /proc at clock-tick resolution), the same rendered in
worker threads and streamed in slices, the threads with the body sent as before (joined whole, one
``web.Response``), and the ticker with no scrape at all over the same time (the stalls that the machine's load
alone causes), for comparison. The ticker's own CPU grows with the wall time, so compare ``cpu_ms`` and
``loop_thread_cpu_ms`` with the no-scrape row's.

Instruction counts (independent of the machine's load): run under callgrind twice, with ``--scrapes 0`` (set-up
only) and ``--scrapes 3 --old-scrapes 0`` (set-up and four full scrapes, the first for the series count), and
divide the difference of the two "Collected" totals by four:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg0 python bench/metrics_scrape.py --copies 97 --scrapes 0
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg4 python bench/metrics_scrape.py --copies 97 --scrapes 3 \
        --old-scrapes 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the stand-ins are the tests'

from daemon.clock import ManualClock
from daemon.config import DEFAULT_SITE
from daemon.metrics.exposition import Exposition
from daemon.metrics.instruments import Metrics
from daemon.metrics.render_process import RenderProcess
from daemon.metrics.sensors import SensorCollector, SensorStateCollector, SiteCollector
from daemon.metrics.sources import MetricSources
from daemon.metrics.status import StatusCollector
from daemon.web.app import BEFORE_SCRAPE, EXPOSITION, REGISTRY, metrics
from rules.sensor_table import SensorTable
from rules.site import Site
from tests.metrics.standins import NOW, Conditions, Latest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def replicated_site(copies: int) -> Site:
    """The demo site with its devices repeated ``copies`` times."""
    data: dict[str, Any] = yaml.safe_load(DEFAULT_SITE.read_text(encoding="utf-8"))
    devices = []
    for copy in range(copies):
        for device in data["devices"]:
            clone = dict(device, id=f"{device['id']}-{copy}")
            clone["sensors"] = [dict(s, id=f"{s['id']}-{copy}") for s in device["sensors"]]
            devices.append(clone)
    data["devices"] = devices
    return Site.model_validate(data)


def measure(copies: int, scrapes: int, old_scrapes: int, served: int) -> None:
    """Build the collectors for one site size and time the scrapes."""
    table = SensorTable.build(replicated_site(copies))
    n = len(table)
    rng = np.random.default_rng(7)
    registry = CollectorRegistry()
    Metrics(registry)
    latest = Latest(n, rng)
    sources = MetricSources(n)
    conditions = Conditions([("threshold.high", int(i)) for i in rng.choice(n, size=max(1, n // 20), replace=False)])
    sources.conditions = conditions
    sources.alarms = conditions
    clock = ManualClock(NOW)
    snapshots: list[StatusCollector | SiteCollector | SensorCollector | SensorStateCollector] = [
        StatusCollector(table, clock, sources),
        SiteCollector(table),
        SensorCollector(table, latest.latest_value, latest.latest_time),
        SensorStateCollector(table, clock, latest, sources, {}),
    ]
    exposition = Exposition(registry, snapshots)  # the render process is set per row in serve()
    old = CollectorRegistry()
    Metrics(old)
    for collector in snapshots:
        old.register(collector)
    if scrapes == 0:  # set-up only: under callgrind, the baseline that a run with scrapes is compared to
        print(f"sensors={n:6d} set up, no scrape")
        return
    body = exposition.render_sync()
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    loop, render, render_cpu, before = [], [], [], []
    for _ in range(scrapes):
        started = time.perf_counter()
        _, renders = exposition.snapshot()
        held = time.perf_counter()
        cpu = time.process_time()
        b"".join(r() for r in renders)
        render_cpu.append((time.process_time() - cpu) * 1000)
        done = time.perf_counter()
        loop.append((held - started) * 1000)
        render.append((done - held) * 1000)
    for _ in range(old_scrapes):
        started = time.perf_counter()
        generate_latest(old)
        before.append((time.perf_counter() - started) * 1000)
    print(
        f"sensors={n:6d} series={series:7d} bytes={len(body):9d} "
        f"loop_ms {_stats(loop)}  render_ms {_stats(render)}  render_cpu_ms {_stats(render_cpu)}  "
        f"old_ms {_stats(before) if before else '(not run)'}"
    )
    if served:
        walls: list[float] = []
        rows: list[tuple[str, Handler | None, bool]] = [
            ("render process (service)", metrics, True),
            ("threads, streamed", metrics, False),
            ("threads, one body", _one_body, False),
            ("no scrape", None, False),
        ]
        for name, handler, in_process in rows:
            if handler is None:
                stall, cpu_ms, loop_ms, child_ms, wall_ms = asyncio.run(
                    serve(exposition, registry, metrics, served, False, statistics.median(walls) / 1000)
                )
            else:
                stall, cpu_ms, loop_ms, child_ms, wall_ms = asyncio.run(
                    serve(exposition, registry, handler, served, in_process)
                )
                walls += wall_ms
            child = f"  child_cpu_ms {_stats(child_ms)}" if in_process else ""
            print(
                f"  served {name:26s}: loop stall ms (1 ms ticker) {_stats(stall)}  max={max(stall):8.2f}  "
                f"cpu_ms {_stats(cpu_ms)}  loop_thread_cpu_ms {_stats(loop_ms)}{child}  wall_ms {_stats(wall_ms)}"
            )


async def _one_body(request: web.Request) -> web.Response:
    """The sending as it was: the exposition joined into one 25 MB body and sent as one ``web.Response``.

    (The rendering is today's, so this row isolates what sending in slices changes.)
    """
    body = await request.app[EXPOSITION].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=1.0.0; charset=utf-8"})


# The reader: one GET per line on stdin, prints the size read (a separate process, like Prometheus).
_READER = """
import sys, urllib.request
for line in sys.stdin:
    with urllib.request.urlopen(line.strip(), timeout=120) as r:
        print(len(r.read()), flush=True)
"""


def _cpu_ms_of(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (proc(5): fields 14 and 15 of stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def serve(
    exposition: Exposition,
    registry: CollectorRegistry,
    handler: Handler,
    scrapes: int,
    in_process: bool,
    idle: float = 0.0,
) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
    """Serve ``scrapes`` GETs to a reader process; per scrape the longest 1 ms-ticker stall, CPU ms of this process,
    CPU ms of its event loop's thread (what the scrape takes from the alarm path on that thread; waits for the GIL
    are not CPU and do not show here), CPU ms of the render process (``in_process``; clock-tick resolution, 10 ms)
    and wall ms.

    With ``idle`` (seconds), no GET: each "scrape" is that long a wait, the baseline of the ticker's stalls.
    """
    exposition.process = RenderProcess() if in_process else None
    await exposition.start()
    app = web.Application()
    app[REGISTRY], app[EXPOSITION], app[BEFORE_SCRAPE] = registry, exposition, ()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _READER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert reader.stdin is not None
    assert reader.stdout is not None
    worst = [0.0]

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst[0] = max(worst[0], now - last - 0.001)
            last = now

    ticker = asyncio.create_task(tick())
    stalls, cpu, loop_cpu, child_cpu, wall = [], [], [], [], []
    process = exposition.process

    def child_ms() -> float:
        child = process._process if process is not None else None
        return _cpu_ms_of(child.pid) if child is not None else 0.0

    try:
        for _ in range(scrapes + 1):  # the first one warms up (caches, the reader's imports) and is not counted
            await asyncio.sleep(0.05)
            worst[0] = 0.0
            started, cpu_started, child_started = time.perf_counter(), time.process_time(), child_ms()
            loop_started = time.thread_time()  # this thread runs the event loop
            if idle:  # no scrape: what the ticker sees from the machine's load alone, over a scrape's time
                await asyncio.sleep(idle)
            else:
                reader.stdin.write(f"http://127.0.0.1:{port}/metrics\n".encode())
                size = int(await reader.stdout.readline())
                assert size > 0
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            loop_cpu.append((time.thread_time() - loop_started) * 1000)
            child_cpu.append(child_ms() - child_started)
            stalls.append(worst[0] * 1000)
    finally:
        ticker.cancel()
        reader.stdin.close()
        await reader.wait()
        await runner.cleanup()
        await exposition.close()
        exposition.process = None
    return stalls[1:], cpu[1:], loop_cpu[1:], child_cpu[1:], wall[1:]


def _stats(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return f"median={statistics.median(times):8.2f} p95={p95:8.2f}"


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 50, 97])
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--old-scrapes", type=int, default=3, help="runs of the old all-on-the-loop path (0: none)")
    parser.add_argument("--served", type=int, default=0, help="scrapes served over HTTP with a loop-stall probe")
    args = parser.parse_args()
    for copies in args.copies:
        measure(copies, args.scrapes, args.old_scrapes, args.served)


if __name__ == "__main__":
    main()
