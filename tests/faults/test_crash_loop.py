"""A crash loop: the service SIGKILLed 1-4 s after each time it reports healthy, four times in a row, while readings
flow steadily. Every reading is stored once, the decode worker is up whenever the service first says it is healthy
(it subscribes only then), and nothing of a killed service (decode worker, forkserver, resource tracker, metrics
render process, the render files) outlives it. (This test took over test_decode_worker_lifecycle, which started a
service of its own for one start and one kill that every round here repeats.)

Before: 26-57 % of the readings were lost (backlogs waited 3-10 s for the decode worker to start, already
acknowledged), and the forkserver, worker and resource tracker (about 222 MB) outlived every SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    Mosquitto,
    NumberedPublisher,
    ServiceProcess,
    adopting_orphans,
    command_line,
    descendants,
    left_behind,
    lost_and_doubled,
    wait_stored,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Seconds from each healthy /healthz to the SIGKILL: the 1-4 s, fixed so every run injects the same faults.
KILL_AFTER_HEALTHY_S = (1.0, 2.5, 4.0, 1.5)
RATE = 100  # readings per second, one per message, throughout


def _render_directories(pids: set[int]) -> list[Path]:
    """The scratch directories of the metrics render processes among ``pids`` (their first argument)."""
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"daemon.metrics.render_worker" in argv:
                found.append(Path(argv[argv.index(b"daemon.metrics.render_worker") + 1].decode()))
    return found


async def test_crash_loop_loses_doubles_and_leaves_nothing(tmp_path: Path, unique: str) -> None:
    """Four SIGKILLs, each 1-4 s after a healthy start, under 100 readings/s; then a fifth start drains the backlog.
    After each kill no process of the killed service is left; at the end 0 readings lost and 0 stored twice."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    # decode workers and the metrics render process as shipped: they are what a kill could leave behind
    service = ServiceProcess(tmp_path / "service", broker.port, f"loop{unique}", extra_config="")
    publisher = NumberedPublisher(broker.port, service.prefix, time.time() - 600)
    flowing = True

    async def steady_flow() -> None:
        while flowing:
            await publisher.publish(RATE // 2, rate=RATE)

    helpers_at_ready: list[list[bytes]] = []
    helpers_at_kill: list[list[bytes]] = []
    left: list[list[bytes]] = []
    directories_left: list[Path] = []
    flow: asyncio.Task[None] | None = None
    try:
        with adopting_orphans() as before:
            assert broker.process is not None
            keep = before | {broker.process.pid}
            for delay in KILL_AFTER_HEALTHY_S:
                service.start()
                await service.wait_ready(timeout=120)
                assert service.process is not None
                helpers_at_ready.append([command_line(pid) for pid in descendants(service.process.pid)])
                if flow is None:  # from the first subscription on, the broker keeps the service's session
                    flow = asyncio.create_task(steady_flow())
                await asyncio.sleep(delay)  # the fault: a kill a few seconds after the service said it is healthy
                assert service.process is not None
                helpers = descendants(service.process.pid)
                helpers_at_kill.append([command_line(pid) for pid in helpers])
                directories = _render_directories(helpers)
                service.kill()
                left.append(await left_behind(keep))  # whatever it left, however deep, is adopted by this process
                directories_left += [directory for directory in directories if directory.exists()]
            service.start()
            await service.wait_ready(timeout=120)
            flowing = False
            assert flow is not None
            await flow
            counts = await wait_stored(service.db_path, len(publisher.sent), timeout=120)
            assert service.terminate() == 0, service.logs()[-3000:]
            left.append(await left_behind(keep))
    finally:
        flowing = False
        if flow is not None and not flow.done():
            flow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flow
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
    lost, doubled = lost_and_doubled(publisher.sent, counts)
    assert (len(lost), len(doubled)) == (0, 0), (len(publisher.sent), lost[:5], doubled[:5])
    assert sum(counts.values()) == len(publisher.sent)
    # forkserver, resource tracker and a decode worker were running as soon as the service said it was connected
    # (before: a backlog waited 3-10 s for them) and at every kill (the render process may still be starting 1 s
    # in); none of them, nor anything else, outlived a kill or the final stop
    assert all(len(helpers) >= 3 for helpers in helpers_at_ready), helpers_at_ready
    assert all(len(helpers) >= 3 for helpers in helpers_at_kill), helpers_at_kill
    assert left == [[]] * (len(KILL_AFTER_HEALTHY_S) + 1), left
    assert directories_left == []
    assert "Traceback" not in service.logs()  # not the service's, nor a child's (they write to its log)
