"""The decode worker is ready before the service subscribes, and nothing of it outlives a SIGKILL of the service.

Before: after a SIGKILL the forkserver, the worker and the resource tracker (about 222 MB) stayed for good, one set
per crash; and a backlog delivered right after a start waited 3-10 s for the worker, already acknowledged.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.harness import Mosquitto, ServiceProcess, alive, command_line, descendants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


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
