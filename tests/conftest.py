"""Shared fixtures: real brokers, real databases, a running service."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.hang_report import report_tasks_before_a_timeout  # noqa: F401 - an autouse fixture for every test

pytest_plugins = ["tests.cpu_report"]  # --cpu-durations=N: the tests that cost the most CPU


def _keep_compiled_modules() -> None:
    """Write compiled modules under the virtualenv when the environment says not to write them (as .ci/run does).

    This machine sets PYTHONDONTWRITEBYTECODE: then every test process (each xdist worker, each service, decode
    worker and render child a test starts) compiles every source it imports and pytest rewrites every test module
    again, ~3.5 of the ~7 CPU-s a worker spends collecting the quick subset, and as much again in every started
    service. Under ``sys.prefix`` (the virtualenv, which git ignores) the sources stay clean. Processes the tests
    start inherit it through the environment.
    """
    if not sys.dont_write_bytecode:
        return
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(Path(sys.prefix) / "pycache")
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix


_keep_compiled_modules()

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from daemon.config import ServiceConfig
    from daemon.service import Service
    from rules.site import Site
    from tests.seam import Chain

# The daemon, SQLAlchemy and the harness are imported inside the fixtures that first need them: the xdist
# controller loads this file too and runs no test, and importing them cost it about 2 CPU-s a run. The workers import
# them with the test modules anyway.

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
POSTGRES_TEMPLATE_LOCK = 0x68617A77  # the advisory lock the maker of the migrated template holds ("hazw")
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
    from daemon.config import DEFAULT_SITE
    from daemon.site_file import load_site

    return load_site(DEFAULT_SITE)


@pytest.fixture
def unique() -> str:
    """A short unique token for topic prefixes, client ids and database names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, made once per worker: ``sqlite_url`` hands each test a copy, so a test's
    service or chain finds its schema in place instead of running every migration again (about 0.1 CPU-s each)."""
    from daemon.store.engine import create_engine, migrate

    path = tmp_path_factory.mktemp("schema") / "hazwatch.db"

    async def build() -> None:
        engine = create_engine(f"sqlite:///{path}")
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    # On a thread of its own: the event loops of this thread belong to pytest-asyncio.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, build()).result()
    assert not path.with_name(f"{path.name}-wal").exists(), "the last connection left a WAL: the copy would lack it"
    return path


def _copy_of(migrated: Path, path: Path) -> str:
    """The URL of a copy of the migrated SQLite file at ``path``."""
    shutil.copyfile(migrated, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite_file: Path) -> str:
    """A SQLite file of the test's own at the newest schema, as a service leaves a new database (``db_url`` gives an
    empty one, for the migration tests)."""
    return _copy_of(migrated_sqlite_file, tmp_path / "hazwatch.db")


def _schema_digest() -> str:
    """A digest of the migrations: a migrated template is reused only while they are the same."""
    from daemon.store.engine import MIGRATIONS

    files = [MIGRATIONS / "env.py", *sorted((MIGRATIONS / "versions").glob("*.py"))]
    return hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:16]


_POSTGRES_TEMPLATES: set[str] = set()  # the templates this process has seen made


async def postgres_template() -> str:
    """A database at the newest schema on the machine's PostgreSQL for ``CREATE DATABASE ... TEMPLATE``: made once
    for a set of migrations and kept (every worker and every session on the machine uses it; a migrated copy costs
    the test nothing where migrating costs about 0.1 CPU-s here and more in the server). Never connected to once made
    (``ALLOW_CONNECTIONS false``): a template with a connection cannot be copied."""
    from sqlalchemy import text

    from daemon.store.engine import create_engine, migrate

    name = f"hazwatch_template_{_schema_digest()}"
    if name in _POSTGRES_TEMPLATES:
        return name
    admin = create_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            # One maker at a time on the machine; the lock goes with the connection if the process dies.
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": POSTGRES_TEMPLATE_LOCK})
            made = await connection.scalar(
                text("SELECT datistemplate FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not made:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # a maker died
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
                engine = create_engine(f"postgresql://postgres@127.0.0.1/{name}")
                try:
                    await migrate(engine)
                finally:
                    await engine.dispose()
                await connection.execute(text(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'))
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": POSTGRES_TEMPLATE_LOCK})
    finally:
        await admin.dispose()
    _POSTGRES_TEMPLATES.add(name)
    return name


@contextlib.asynccontextmanager
async def fresh_postgres(name: str, *, migrated: bool = False) -> AsyncIterator[str]:
    """Create a database on the machine's PostgreSQL for one test (empty, or ``migrated`` to the newest schema as a
    copy of ``postgres_template``); drop it afterwards."""
    from sqlalchemy import text

    from daemon.store.engine import create_engine

    template = f' TEMPLATE "{await postgres_template()}"' if migrated else ""
    admin = create_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
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


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's own SQLite file at the newest schema."""
    from daemon.store.engine import create_engine

    db = create_engine(sqlite_url)
    yield db
    await db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[str]:
    """Each store test runs on an empty SQLite file and on an empty database on the machine's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hazwatch.db'}"
        return
    async with fresh_postgres(f"hazwatch_test_{unique}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def migrated_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str, migrated_sqlite_file: Path
) -> AsyncIterator[str]:
    """As ``db_url``, at the newest schema: a copy of the migrated SQLite file or of the PostgreSQL template."""
    if request.param == "sqlite":
        yield _copy_of(migrated_sqlite_file, tmp_path / "hazwatch.db")
        return
    async with fresh_postgres(f"hazwatch_test_{unique}", migrated=True) as url:
        yield url


@pytest.fixture
async def chain(sqlite_url: str, demo_site: Site) -> AsyncIterator[Chain]:
    """The default harness: the demo site's live chain from ``Intake.accept`` to a SQLite file, on a manual clock
    (``tests/seam.py``). No broker, no wall time: use it unless the test is about the broker or the process."""
    from tests.seam import live_chain

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
    from daemon.config import ServiceConfig

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
    from daemon.service import Service

    service = Service(config, site, **kwargs)  # type: ignore[arg-type]
    await service.start()
    try:
        async with asyncio.timeout(15):
            await service.wait_connected()
        yield service
    finally:
        await service.stop()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (the daemon, numpy, scipy, SQLAlchemy) and the test items live as long as the process:
    out of the cyclic collector's full passes, which otherwise walk all of it again (about 0.1 CPU-s each, dozens a
    worker)."""
    gc.freeze()


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
        if callspec is not None and "postgres" in (
            callspec.params.get("db_url"),
            callspec.params.get("migrated_db_url"),
        ):
            item.add_marker("postgres")
