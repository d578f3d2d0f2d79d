"""Real processes for the fault suite: a Mosquitto with persistence, the service as a subprocess, a publisher that
numbers its readings, and a count of what the database holds."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from daemon.store.reading_chunks import decode_chunk
from tests.conftest import free_port, wait_port

GAMMA_DEVICES = [f"gamma-{n:02d}" for n in range(1, 11)]
REPO = Path(__file__).resolve().parents[2]
# Mosquitto started as root drops to the `mosquitto` user, which cannot write a persistence file or read a key in
# a test's private temp dir: it stays the user that runs the tests.
RUN_AS = pwd.getpwuid(os.getuid()).pw_name


@dataclass
class Mosquitto:
    """A private broker that keeps sessions and queued messages across its own restarts (persistence on)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Seconds between saves of the whole in-memory store: 1 keeps a kill's loss small in the fault tests; a bench with
    # a million queued messages would spend its broker writing them out every second.
    autosave_interval_s: int = 1
    # Count changes instead of seconds: with an interval of 1 the store is saved after every queued message, so a
    # SIGKILL loses nothing the broker acknowledged (a test can then blame any loss on the service).
    autosave_on_changes: bool = False
    sys_interval_s: int = 10  # how often $SYS topics are refreshed

    def start(self) -> None:
        """Start (or start again, on the same port and the same persistence file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {RUN_AS}\n"
            f"persistence true\npersistence_location {self.directory}/\nautosave_interval {self.autosave_interval_s}\n"
            f"autosave_on_changes {str(self.autosave_on_changes).lower()}\n"
            f"sys_interval {self.sys_interval_s}\n"
            "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
        )
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)

    def stop(self) -> None:
        """Stop cleanly (Mosquitto saves its persistence file on SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the broker keeps only its last autosave (what it acknowledged since then is its own loss)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class ServiceProcess:
    """``hazwatch run`` in a subprocess, on its own config, SQLite file and HTTP port."""

    directory: Path
    broker_port: int
    prefix: str
    # Decoding in place: a worker process costs seconds at every start on a busy CI machine, and the kills here are
    # about acknowledgements (test_crash_loop covers the workers).
    extra_config: str = "[ingest]\ndecode_workers = 0\n"
    db_url: str | None = None  # default: a SQLite file in ``directory``
    database_extra: str = ""  # more keys of the [database] table
    mqtt_extra: str = ""  # more keys of the [mqtt] table
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def db_path(self) -> Path:
        """The SQLite file."""
        return self.directory / "hazwatch.db"

    def config_text(self) -> str:
        """The TOML config."""
        return (
            f'[mqtt]\nbroker = "mqtt://127.0.0.1:{self.broker_port}"\ntopic_prefix = "{self.prefix}"\n'
            f'client_id = "svc-{self.prefix}"\n{self.mqtt_extra}'
            f'[database]\nurl = "{self.db_url or f"sqlite:///{self.db_path}"}"\n{self.database_extra}'
            f'[http]\nhost = "127.0.0.1"\nport = {self.http_port}\npublic_read = true\n'
            f"{self.extra_config}"
        )

    def start(self) -> None:
        """Start the service (the caller waits with ``wait_ready``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "hazwatch.toml"
        config.write_text(self.config_text())
        with (self.directory / f"service-{self.starts}.log").open("wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daemon.cli", "run", "--config", str(config)],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        self.starts += 1

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until /healthz says the broker is connected; returns its body."""
        deadline = time.monotonic() + timeout
        last: Any = None
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"service exited with {self.process.returncode}: {self.logs()[-3000:]}")
                try:
                    async with session.get(f"http://127.0.0.1:{self.http_port}/healthz") as response:
                        last = await response.json()
                        if last.get("broker_connected"):
                            return dict(last)
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"service not ready after {timeout}s: {last}; {self.logs()[-3000:]}")

    async def health(self) -> tuple[int, dict[str, Any]]:
        """GET /healthz."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.http_port}/healthz") as response,
        ):
            return response.status, dict(await response.json())

    def kill(self) -> None:
        """SIGKILL: no chance to flush, commit or acknowledge anything."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def logs(self) -> str:
        """Everything every run of the service wrote."""
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.directory.glob("service-*.log")))


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


PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


@contextlib.contextmanager
def adopting_orphans() -> Iterator[set[int]]:
    """Make this process the subreaper of its descendants (prctl(2)): whatever a killed service leaves running becomes
    a child of this process, not of init, so ``left_behind`` finds it however deep it was. Yields the descendants
    that existed before (not the test's business)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    try:
        yield descendants(os.getpid())
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


async def left_behind(keep: set[int], timeout: float = 30.0) -> list[bytes]:
    """The command lines of this process's descendants outside ``keep`` still running after up to ``timeout``
    seconds (empty as soon as none is); those that ended are reaped (``adopting_orphans`` made them ours)."""
    deadline = time.monotonic() + timeout
    while True:
        running = []
        for pid in descendants(os.getpid()) - keep:
            if alive(pid):
                running.append(pid)
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG: does not wait
        if not running or time.monotonic() > deadline:
            found = []
            for pid in running:
                with contextlib.suppress(OSError):
                    found.append(command_line(pid))
            return found
        await asyncio.sleep(0.1)


def stored_readings(db_path: Path) -> Counter[tuple[str, float]]:
    """How often each (sensor, time) is stored in the SQLite file (live readings)."""
    counts: Counter[tuple[str, float]] = Counter()
    if not db_path.exists():
        return counts
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        try:
            rows = connection.execute(
                "SELECT format, sensors, data, count FROM reading_chunks WHERE drill = 0"
            ).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return counts
    for fmt, sensors, data, count in rows:
        readings = decode_chunk(fmt, sensors, data, count)
        counts.update(zip(readings.sensor_id.tolist(), readings.time.tolist(), strict=True))
    return counts


PUBLISH_WINDOW = 100  # QoS 1 publishes awaiting their PUBACK at once (paho sends 20 at a time and queues the rest)


@dataclass
class NumberedPublisher:
    """Publishes one gamma reading per message, each with its own time, and remembers what it sent."""

    port: int
    prefix: str
    start_time: float
    sent: list[tuple[str, float]] = field(default_factory=list)

    def message(self, number: int, value: float = 90.0) -> tuple[str, bytes, tuple[str, float]]:
        """Message ``number``: its topic, payload and the (sensor, time) it carries."""
        device = GAMMA_DEVICES[number % len(GAMMA_DEVICES)]
        t = round(self.start_time + number * 0.01, 3)
        payload = f'[{{"bn":"{device}:","bt":{t},"n":"dose_rate","u":"nSv/h","v":{value}}}]'.encode()
        return f"{self.prefix}/demo-park/{device}", payload, (f"{device}-dose", t)

    async def publish(self, count: int, rate: float, value: float = 90.0) -> None:
        """Publish ``count`` more messages at about ``rate`` per second (QoS 1); returns once the broker acknowledged
        every one. Up to ``PUBLISH_WINDOW`` wait for their PUBACK at once, sent in order on the one connection: one
        at a time, each message cost a round trip, and on a loaded machine 5,000 "at 5,000/s" took far longer."""
        async with aiomqtt.Client("127.0.0.1", self.port, identifier=f"pub-{self.prefix}") as client:
            started = time.monotonic()
            first = len(self.sent)
            window = asyncio.Semaphore(PUBLISH_WINDOW)
            pending: list[asyncio.Task[None]] = []

            async def one(topic: str, payload: bytes) -> None:
                try:
                    await client.publish(topic, payload, qos=1)
                finally:
                    window.release()

            try:
                for i in range(count):
                    await window.acquire()
                    topic, payload, key = self.message(first + i, value)
                    # Tasks start in the order they are made, and each hands its message to paho at its first step.
                    pending.append(asyncio.create_task(one(topic, payload)))
                    self.sent.append(key)
                    delay = started + (i + 1) / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await asyncio.gather(*pending)
            finally:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)


def stored_count(db_path: Path) -> int:
    """How many live readings the SQLite file holds (the chunks' counts: nothing decoded)."""
    if not db_path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as connection:
        try:
            row = connection.execute("SELECT coalesce(sum(count), 0) FROM reading_chunks WHERE drill = 0").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return 0
    return int(row[0])


async def wait_stored(db_path: Path, expected: int, timeout: float = 60.0) -> Counter[tuple[str, float]]:
    """Poll the database until it holds at least ``expected`` readings (or the time is up); returns the counts.

    The polls only add up the chunks' counts: decoding every chunk four times a second took CPU from the service
    under test on a loaded machine (10,000 readings decoded again and again while it caught up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_count(db_path) >= expected:
            break
        await asyncio.sleep(0.1)
    return stored_readings(db_path)


def lost_and_doubled(
    sent: list[tuple[str, float]], counts: Counter[tuple[str, float]]
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Readings published but not stored, and readings stored more than once."""
    lost = [key for key in sent if counts.get(key, 0) == 0]
    doubled = [key for key, n in counts.items() if n > 1]
    return lost, doubled


@dataclass
class QueueingPublisher:
    """A device that keeps publishing through a broker outage: every reading goes into a local queue first and leaves
    it only when the broker acknowledged it (QoS 1 PUBACK); on a lost connection it reconnects and sends the queue
    again from the oldest unacknowledged reading (so a reading whose PUBACK was lost is sent twice: the service must
    store it once)."""

    port: int
    prefix: str
    start_time: float
    sent: list[tuple[str, float]] = field(default_factory=list)  # every reading produced (the expected set)
    reconnects: int = 0
    _numbers: NumberedPublisher | None = None
    _queue: list[tuple[str, bytes]] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def produce(self, count: int) -> None:
        """``count`` more readings into the local queue."""
        if self._numbers is None:
            self._numbers = NumberedPublisher(self.port, self.prefix, self.start_time)
        for _ in range(count):
            topic, payload, key = self._numbers.message(len(self.sent))
            self._queue.append((topic, payload))
            self.sent.append(key)
        self._ready.set()

    @property
    def queued(self) -> int:
        """Readings not yet acknowledged by the broker."""
        return len(self._queue)

    async def produce_at(self, rate: float, seconds: float) -> None:
        """Produce readings at ``rate`` per second for ``seconds`` (whether or not the broker is up)."""
        started = time.monotonic()
        made = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) - made
            if due > 0:
                self.produce(due)
                made += due
            await asyncio.sleep(0.02)

    async def send_forever(self) -> None:
        """Send the queue, oldest first, reconnecting (every 0.5 s) while the broker is away; cancel to stop."""
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=f"dev-{self.prefix}", clean_session=False
                ) as client:
                    while True:
                        while self._queue:
                            topic, payload = self._queue[0]
                            await client.publish(topic, payload, qos=1, timeout=5)
                            self._queue.pop(0)
                        self._ready.clear()
                        await self._ready.wait()
            except aiomqtt.MqttError:
                self.reconnects += 1
                await asyncio.sleep(0.5)
