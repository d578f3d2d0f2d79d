"""The decode worker is ready before the service subscribes, and nothing of it outlives a SIGKILL of the service.

Before: after a SIGKILL the forkserver, the worker and the resource tracker (about 222 MB) stayed for good, one set
per crash; and a backlog delivered right after a start waited 3-10 s for the worker, already acknowledged.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.faults.harness import Mosquitto, ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def command_line(pid: int) -> bytes:
    """The start of a process's command line."""
    return Path(f"/proc/{pid}/cmdline").read_bytes()[:120]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_decode_worker_is_ready_at_subscribe_and_dies_with_the_service(tmp_path: Path, unique: str) -> None:
    """Workers up when /healthz first says connected; SIGKILL of the service ends forkserver, worker and tracker."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = ServiceProcess(tmp_path / "service", broker.port, f"wrk{unique}", extra_config="")
    try:
        service.start()
        await service.wait_ready(timeout=120)
        assert service.process is not None
        helpers = descendants(service.process.pid)
        # forkserver and resource tracker as children, the worker below the forkserver
        assert len(helpers) >= 3, helpers
        service.kill()
        for _ in range(100):
            if not any(alive(pid) for pid in helpers):
                break
            await asyncio.sleep(0.1)
        left = [pid for pid in helpers if alive(pid)]
        assert not left, [command_line(pid) for pid in left]
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
