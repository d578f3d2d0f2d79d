"""Shared fixtures: real brokers, real databases, a running service."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.config import DEFAULT_SITE, ServiceConfig
from daemon.service import Service
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from rules.site import Site
from tests.hang_report import report_tasks_before_a_timeout  # noqa: F401 - an autouse fixture for every test
from tests.seam import Chain, live_chain

MACHINE_BROKER = ("127.0.0.1", 1883)
# A test that uses one of these fixtures talks to that real part: it is marked so `-m "not broker"` etc. select it.
MARK_BY_FIXTURE = {
    "machine_broker": "broker",
    "own_mosquitto": "broker",
    "postgres_url": "postgres",
    "promtool": "prometheus",
    "prometheus_binary": "prometheus",
    "alertmanager_binary": "prometheus",
    "chromium": "browser",
}
# The replays of shipped scenarios are the longest tests and share one cache across workers (tests/drills/conftest.py):
# they run first, so that the longest chain starts at once and short tests fill the workers at the end; the batch by
# batch references (the longest) before the faithful replays they compare with, then the tests that read the cache.
SCENARIO_MODULES_FIRST = (
    "tests/drills/test_block_replay.py",
    "tests/drills/test_faithful_replay.py",
    "tests/drills/test_scenario_outcomes.py",
    "tests/drills/test_replay_is_a_drill.py",
)
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1/test"
CHAIN_T0 = 1_800_000_000.0  # when the ``chain`` harness starts its manual clock


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on ``port`` (a refused connection costs microseconds: poll often)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.01)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


@pytest.fixture(scope="session")
def demo_site() -> Site:
    """The shipped demo site."""
    return load_site(DEFAULT_SITE)


@pytest.fixture
def unique() -> str:
    """A short unique token for topic prefixes, client ids and database names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'hazwatch.db'}"


@contextlib.asynccontextmanager
async def fresh_postgres(name: str) -> AsyncIterator[str]:
    """Create a database on the machine's PostgreSQL for one test; drop it afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def postgres_url(unique: str) -> AsyncIterator[str]:
    """A fresh database on the machine's PostgreSQL."""
    async with fresh_postgres(f"hazwatch_test_{unique}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[str]:
    """Each store test runs on a SQLite file and on the machine's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hazwatch.db'}"
        return
    async with fresh_postgres(f"hazwatch_test_{unique}") as url:
        yield url


@pytest.fixture
async def chain(sqlite_url: str, demo_site: Site) -> AsyncIterator[Chain]:
    """The default harness: the demo site's live chain from ``Intake.accept`` to a SQLite file, on a manual clock
    (``tests/seam.py``). No broker, no wall time: use it unless the test is about the broker or the process."""
    async with live_chain(sqlite_url, demo_site, CHAIN_T0) as built:
        yield built


@pytest.fixture
def machine_broker() -> tuple[str, int]:
    """The Mosquitto this machine runs; the test fails (not skips) when it is down."""
    with socket.create_connection(MACHINE_BROKER, timeout=2):
        pass
    return MACHINE_BROKER


def _binary(name: str, package: str) -> str:
    """The path of a program the test runs; the test fails (not skips) when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    assert path, f"{name} missing: install the Debian package {package} (.ci/run does)"
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool (Debian package prometheus)."""
    return _binary("promtool", "prometheus")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The Prometheus server."""
    return _binary("prometheus", "prometheus")


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    """The Prometheus Alertmanager."""
    return _binary("prometheus-alertmanager", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium for Playwright (``executable_path``)."""
    return _binary("chromium", "chromium")


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A private Mosquitto on a free port, for tests that must stop or restart the broker."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


def service_config(
    broker: str, db_url: str, prefix: str, client_id: str, *, render_process: bool = False
) -> ServiceConfig:
    """A config for an in-process test service: HTTP on a free port, unique topics and client id, no decode worker;
    ``render_process``: /metrics renders in a child process, as in production (for tests that scrape it)."""
    config = ServiceConfig()
    config.mqtt.broker = broker
    config.mqtt.topic_prefix = prefix
    config.mqtt.client_id = client_id
    config.database.url = db_url
    config.http.port = 0
    config.http.public_read = True  # reads need a token by default; these tests read like the wall display
    config.ingest.batch_max_delay_s = 0.02
    # Decoding in place: a worker process costs every start 1-8 s (the start waits up to 5 s for it on a loaded
    # machine) and only batches of 100+ messages use it. The tests of the worker path ask for one: the decode pool's
    # own tests (a worker decodes exactly what the service would), the malformed flood, and every real process.
    config.ingest.decode_workers = 0
    # The /metrics render child starts with every service (~0.5 s of CPU importing numpy and the collectors): only
    # the tests that scrape /metrics start it; its own tests are in tests/metrics.
    config.http.metrics_render_process = render_process
    return config


@contextlib.asynccontextmanager
async def running_service(config: ServiceConfig, site: Site, **kwargs: object) -> AsyncIterator[Service]:
    """Start a service, wait for its subscription, stop it afterwards."""
    service = Service(config, site, **kwargs)  # type: ignore[arg-type]
    await service.start()
    try:
        async with asyncio.timeout(15):
            await service.wait_connected()
        yield service
    finally:
        await service.stop()


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup``: keep modules marked ``xdist_group`` on one worker (``tests/xdist_groups.py`` says why)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_groups import ModuleGroupScheduling, grouped_modules  # only in the controller

    return ModuleGroupScheduling(config, log, grouped_modules(config.rootpath))


def _scenario_rank(item: pytest.Item) -> int:
    """Where a test that replays a shipped scenario runs (``SCENARIO_MODULES_FIRST``); every other test after them."""
    module = item.nodeid.split("::", 1)[0]
    if "scenario_runs" in getattr(item, "fixturenames", ()) and module in SCENARIO_MODULES_FIRST:
        return SCENARIO_MODULES_FIRST.index(module)
    return len(SCENARIO_MODULES_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the real parts its fixtures reach (broker, postgres), so markers never drift from use; run
    the scenario replays first (a stable sort: every other test keeps its place and its module's tests together)."""
    items.sort(key=_scenario_rank)
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MARK_BY_FIXTURE.items():
            if fixture in names:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgres":
            item.add_marker("postgres")
