"""A high-availability pair: kill the leader in the middle of an incident, the follower carries on.

Everything is real: the machine's PostgreSQL (a database of its own), a Mosquitto started here, two
``hazwatch run`` processes with their own MQTT sessions, and a local webhook receiver for the pages.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.store.engine import create_engine, migrate
from daemon.store.reading_chunks import read_readings
from daemon.store.schema import alarms, incident_events, incidents, notifications
from tests.conftest import free_port
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import start_receiver

# Two service processes start in 5 s on an idle machine but took 30 s each on the shared test machine.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]
STARTUP_S = 120.0
DEVICE, SENSOR = "gas-n01", "gas-n01-cl2"
ACK_DEADLINE_S = 5.0
REPO = Path(__file__).resolve().parents[2]

PLAN = f"""
plan: ha-test
name: HA test plan
alarm_paging: {{min_priority: urgent, roles: [duty_officer]}}
tiers:
  - tier: blue
    name: general
    triggers:
      - id: cl2-level2
        description: any Cl2 detector at GB/T 50493 level 2
        match: {{rules: [cl2-level2]}}
    notify: [duty_officer]
    ack_deadline_s: {ACK_DEADLINE_S}
    escalation: [shift_leader, deputy_director]
"""


def roster(url: str) -> str:
    """Three people, one per role, each paged on a webhook path of the receiver."""
    people = [("duty", "duty_officer"), ("leader", "shift_leader"), ("deputy", "deputy_director")]
    lines = ["utc_offset_h: 8", "roles:"]
    lines += [f"  - {{id: {role}, name: {role}}}" for _, role in people]
    lines.append("people:")
    for name, role in people:
        lines += [
            f"  - id: {name}",
            f"    name: {name}",
            f"    roles: [{role}]",
            f'    channels: [{{type: webhook, address: "{url}/{name}"}}]',
        ]
    return "\n".join(lines) + "\n"


def instance_config(
    tmp: Path, name: str, broker: tuple[str, int], db_url: str, prefix: str, ha_extra: str = ""
) -> Path:
    """The TOML of one instance: its own client id and HTTP port, the pair's broker, database and lock."""
    path = tmp / f"{name}.toml"
    path.write_text(
        f"""
log_level = "INFO"
[mqtt]
broker = "mqtt://{broker[0]}:{broker[1]}"
topic_prefix = "{prefix}"
client_id = "{prefix}-{name}"
[database]
url = "{db_url}"
[http]
port = {free_port()}
[ingest]
decode_workers = 0
[alarms]
plan_file = "{tmp / "plan.yaml"}"
roster_file = "{tmp / "roster.yaml"}"
tick_interval_s = 0.2
[notify]
poll_interval_s = 0.2
request_timeout_s = 5.0
[ha]
enabled = true
lock_key = {abs(hash(prefix)) % 2**31}
check_interval_s = 0.5
{ha_extra}
""",
        encoding="utf-8",
    )
    return path


class Instance:
    """One ``hazwatch run`` process, its output in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process: asyncio.subprocess.Process | None = None
        self._config = config

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.cli", "run", "--config", str(self._config),
            cwd=REPO, stdout=self._out, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def said(self, text: str) -> bool:
        return text in self.log.read_text(encoding="utf-8", errors="replace")

    def http(self) -> str:
        match = re.search(r"HTTP on (http://[0-9.]+:[0-9]+)", self.log.read_text(encoding="utf-8", errors="replace"))
        assert match is not None, f"{self.log.name}: no HTTP address logged"
        return match.group(1)

    async def post_status(self, path: str) -> int:
        async with aiohttp.ClientSession() as session, session.post(self.http() + path, json={}) as response:
            return response.status

    async def leader_gauge(self) -> float:
        async with aiohttp.ClientSession() as session, session.get(self.http() + "/metrics") as response:
            text = await response.text()
        match = re.search(r"^hazwatch_ha_leader ([0-9.]+)$", text, re.MULTILINE)
        assert match is not None, "hazwatch_ha_leader missing from /metrics"
        return float(match.group(1))

    async def wait_for(self, text: str, timeout: float = 30.0) -> None:
        async def probe() -> bool | None:
            return True if self.said(text) else None

        try:
            await eventually(probe, timeout=timeout, interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{self.log.name} never logged {text!r}:\n{self.log.read_text()[-3000:]}") from exc

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        if not self._out.closed:
            self._out.close()


async def test_follower_takes_over_mid_incident_every_page_once(
    own_mosquitto: tuple[str, int], postgres_url: str, tmp_path: Path, unique: str
) -> None:
    pages: list[tuple[str, str, str]] = []  # (path, idempotency key, notification id)

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        pages.append((request.path, request.headers.get("Idempotency-Key", ""), str(body.get("title", ""))))
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "roster.yaml").write_text(roster(receiver.url), encoding="utf-8")
    prefix = f"ha-{unique}"
    a = Instance(instance_config(tmp_path, "a", own_mosquitto, postgres_url, prefix), tmp_path / "a.log")
    b = Instance(instance_config(tmp_path, "b", own_mosquitto, postgres_url, prefix), tmp_path / "b.log")
    topic = f"{prefix}/demo-park/{DEVICE}"
    published: list[float] = []
    stop_feed = asyncio.Event()

    async def feed() -> None:
        # Chlorine at 2 ppm (over GB/T 50493 level 2, 0.69 ppm) once a second: the incident stays open.
        while not stop_feed.is_set():
            t = round(time.time(), 3)
            await publish(own_mosquitto, [(topic, senml(DEVICE, [("cl2", 2.0, "ppm")], t))])
            published.append(t)
            await asyncio.sleep(1.0)

    feeder: asyncio.Task[None] | None = None
    engine = create_engine(postgres_url)
    try:
        await migrate(engine)  # once, before the pair starts: two instances must not migrate at the same time
        await asyncio.gather(a.start(), b.start())  # start-up takes long on a loaded machine: overlap the two
        for instance in (a, b):
            await instance.wait_for("subscribed to", timeout=STARTUP_S)
        await eventually(lambda: _leader_of(a, b), timeout=STARTUP_S)
        leader, follower = (a, b) if a.said("now the LEADER") else (b, a)
        await follower.wait_for("HA: following")
        assert not follower.said("now the LEADER")

        feeder = asyncio.create_task(feed())
        # The incident opens and the duty officer is paged by the leader.
        await eventually(lambda: _some([p for p in pages if p[0] == "/duty"]), timeout=20)
        # Kill after the leader recorded the page as delivered. (Killed between the receiver's answer and that
        # commit, the new leader sends the page again after its lease, with the same Idempotency-Key: at-least-once
        # is all a sender can promise there; docs/operations.md.)
        await eventually(lambda: _delivered(engine), timeout=20)
        assert not [p for p in pages if p[0] == "/leader"], "escalated before the ack deadline"
        assert (await leader.leader_gauge(), await follower.leader_gauge()) == (1.0, 0.0)
        assert leader.process is not None
        leader.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await follower.wait_for("now the LEADER", timeout=15)
        takeover_s = time.monotonic() - killed_at
        await eventually(lambda: _leads(follower), timeout=10)  # the gauge turns once the takeover's writes are done
        # The follower's escalation timer fires: shift leader after one deadline, deputy after the next.
        await eventually(lambda: _some([p for p in pages if p[0] == "/deputy"]), timeout=30)
        await asyncio.sleep(1.5)  # a doubled page or escalation would arrive now
        stop_feed.set()
        await feeder
        await asyncio.sleep(1.0)  # the last reading committed
        await follower.stop()

        async with engine.connect() as connection:
            alarm_rows = (await connection.execute(select(alarms))).mappings().all()
            incident_rows = (await connection.execute(select(incidents))).mappings().all()
            escalations = (
                await connection.execute(
                    select(func.count()).select_from(incident_events).where(incident_events.c.type == "escalated")
                )
            ).scalar()
            outbox = (await connection.execute(select(notifications))).mappings().all()
            stored = await read_readings(connection, drill=False, sensor_ids=[SENSOR])
    finally:
        stop_feed.set()
        if feeder is not None:
            await asyncio.gather(feeder, return_exceptions=True)
        await a.stop()
        await b.stop()
        await engine.dispose()
        assert receiver.runner is not None
        await receiver.runner.cleanup()

    assert takeover_s < 5.0, f"takeover took {takeover_s:.1f} s"
    # Every page exactly once: one per idempotency key, one per step of the chain.
    keys = Counter(key for _, key, _ in pages)
    assert all(n == 1 for n in keys.values()), f"pages delivered twice: {keys}"
    paths = Counter(path for path, _, _ in pages)
    assert paths == {"/duty": 1, "/leader": 1, "/deputy": 1}, pages
    assert escalations == 2
    assert len(incident_rows) == 1
    assert incident_rows[0]["state"] == "open"
    assert {r["idempotency_key"] for r in outbox} == set(keys)
    assert all(r["state"] == "delivered" for r in outbox)
    # No alarm lost or doubled: one row per alarm key, each still raised (the chlorine never went away).
    by_key = Counter(r["alarm_key"] for r in alarm_rows)
    assert by_key["cl2-level2@" + SENSOR] == 1, by_key
    assert all(n == 1 for n in by_key.values()), by_key
    assert all(r["state"] != "normal" for r in alarm_rows)
    # Every reading stored once, the ones around the kill included.
    times = stored.time.tolist()
    assert len(times) == len(set(times)), "readings stored twice"
    assert set(published) <= set(times), f"lost readings: {sorted(set(published) - set(times))}"


async def _leads(instance: Instance) -> bool | None:
    return True if await instance.leader_gauge() == 1.0 else None


async def _leader_of(a: Instance, b: Instance) -> bool | None:
    return True if a.said("now the LEADER") or b.said("now the LEADER") else None


async def _delivered(engine: AsyncEngine) -> bool | None:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(notifications).where(notifications.c.state == "delivered")
        return True if (await connection.execute(query)).scalar() else None


async def _some(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]] | None:
    return found or None
