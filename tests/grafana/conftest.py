"""Fixtures for the metrics and dashboard tests: a real service on free ports, with or without the demo feed."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.config import DEFAULT_SITE, DatabaseConfig, HttpConfig, MqttConfig, ServiceConfig
from daemon.service import Service
from daemon.site_file import load_site

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "grafana"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_config(tmp_path: Path) -> ServiceConfig:
    """Embedded broker on a free port, HTTP on port 0, SQLite in the test's temp dir, unique topics and ids."""
    tag = uuid.uuid4().hex[:8]
    return ServiceConfig(
        mqtt=MqttConfig(
            broker=f"embedded:127.0.0.1:{free_port()}", topic_prefix=f"hw-{tag}", client_id=f"hazwatch-test-{tag}"
        ),
        database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'hazwatch.db'}"),
        http=HttpConfig(host="127.0.0.1", port=0),
    )


ServiceFactory = Callable[..., Awaitable[Service]]


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Start services on demand; stop every one at the end of the test."""
    started: list[Service] = []

    async def start(*, demo: bool = False) -> Service:
        service = Service(service_config(tmp_path), load_site(DEFAULT_SITE), registry=CollectorRegistry(), demo=demo)
        started.append(service)
        await service.start()
        return service

    yield start
    for service in started:
        await service.stop()


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
