"""Fixtures for the metrics and dashboard tests: real services on free ports, with or without the demo feed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.service import Service
from rules.site import Site
from tests.conftest import free_port, service_config

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "grafana"

ServiceFactory = Callable[..., Awaitable[Service]]


@contextlib.asynccontextmanager
async def service_factory(folder: Path, site: Site) -> AsyncIterator[ServiceFactory]:
    """Start services (embedded broker on a free port, HTTP port 0, SQLite file in ``folder``); stop them at the end."""
    started: list[Service] = []

    async def start(*, demo: bool = False) -> Service:
        tag = uuid.uuid4().hex[:8]
        config = service_config(
            f"embedded:127.0.0.1:{free_port()}",
            f"sqlite:///{folder / f'hazwatch-{tag}.db'}",
            f"hw-{tag}",
            f"hazwatch-test-{tag}",
            render_process=True,  # Prometheus scrapes it
        )
        service = Service(config, site, registry=CollectorRegistry(), demo=demo)
        started.append(service)
        await service.start()
        return service

    try:
        yield start
    finally:
        for service in started:
            await service.stop()


@pytest.fixture
async def make_service(tmp_path: Path, demo_site: Site) -> AsyncIterator[ServiceFactory]:
    """Services for one test."""
    async with service_factory(tmp_path, demo_site) as start:
        yield start


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0, poll_s: float = 0.05) -> None:
    """Poll ``predicate`` until it holds; the bound only stops a broken test from hanging."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - a counter in a registry has no event to wait on
            await asyncio.sleep(poll_s)


async def run_tool(*args: str, stdin: bytes = b"") -> tuple[int, str]:
    """Run a command without blocking the event loop (the service under test keeps serving)."""
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, output.decode()
