"""Pieces of the paging fault tests: a counting webhook receiver and the service's [notify] table pointing at it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.faults.harness import Mosquitto, ServiceProcess
from tests.helpers import senml
from tests.notify.notify_support import Receiver, start_receiver

SHIPPED_ROSTER = Path(__file__).resolve().parents[2] / "plans" / "defaults" / "roster.yaml"
GAS_DEVICE = "gas-n01"  # demo park: 2.0 ppm of Cl2 is over its high-high level (an orange page)


@dataclass
class CountingReceiver:
    """A real HTTP receiver; ``hang_first`` paths hold their first request until ``release`` (a request in flight)."""

    hang_first: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    receiver: Receiver | None = None

    async def start(self) -> str:
        """Serve; returns the base URL."""
        seen: dict[str, int] = {}

        async def handle(request: web.Request) -> web.Response:
            seen[request.path] = seen.get(request.path, 0) + 1
            if request.path in self.hang_first and seen[request.path] == 1:
                await asyncio.wait_for(self.release.wait(), 120)
            return web.Response(text="ok")

        self.receiver = await start_receiver(handle)
        return self.receiver.url

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The JSON documents received on ``path``, in order."""
        assert self.receiver is not None
        return [json.loads(body) for p, _, _, body in self.receiver.requests if p == path]

    def keys(self, path: str) -> list[str]:
        """The Idempotency-Key of each request on ``path``."""
        assert self.receiver is not None
        return [headers.get("Idempotency-Key", "") for p, _, headers, _ in self.receiver.requests if p == path]

    async def stop(self) -> None:
        """Let hanging handlers end, then stop serving."""
        self.release.set()
        if self.receiver is not None and self.receiver.runner is not None:
            await self.receiver.runner.cleanup()


def notify_config(people: list[tuple[str, str, bool]], *, request_timeout_s: float = 5.0) -> str:
    """The service's [notify] tables: one webhook person per (name, url, idempotent), all on one gas route."""
    lines = [
        "[notify]",
        "poll_interval_s = 0.2",
        f"request_timeout_s = {request_timeout_s}",
        "memory_delivery_after_s = 1.0",
        "storm_window_s = 0",
    ]
    for name, url, idempotent in people:
        flag = "true" if idempotent else "false"
        lines += [
            "[[notify.people]]",
            f'name = "{name}"',
            'language = "en"',
            f'channels = [{{type = "webhook", url = "{url}", idempotent = {flag}}}]',
        ]
    names = ", ".join(f'"{name}"' for name, _, _ in people)
    lines += ["[[notify.routes]]", 'name = "gas"', 'min_priority = "high"', 'kinds = ["gas"]']
    lines.append(f"recipients = [{names}]")
    return "\n".join(lines) + "\n"


def chlorine_messages(prefix: str, t0: float, device: str = GAS_DEVICE) -> list[tuple[str, bytes]]:
    """Two Cl2 readings over the high-high level 11 s apart (the alarm's on-delay passes): one orange alarm."""
    topic = f"{prefix}/demo-park/{device}"
    return [(topic, senml(device, [("cl2", 2.0, "ppm")], t)) for t in (t0, t0 + 11)]


def for_chlorine(bodies: list[dict[str, Any]], device: str = GAS_DEVICE) -> list[dict[str, Any]]:
    """The documents about the Cl2 sensor's alarm (of ``device``)."""
    return [b for b in bodies if b.get("facts", {}).get("sensor_id") == f"{device}-cl2"]


def reachable_roster(directory: Path, url: str) -> str:
    """The [alarms] table of a copy of the shipped roster whose every person is a webhook at ``url``/roster-<id>.

    The plan pages the roster too (an incident's duty officer). The shipped roster's phones have no sender in a
    test, so that page reaches nobody, ``notify.page_undeliverable`` is raised and /healthz says degraded, correctly;
    a test about another fault would then race that alarm."""
    roster = yaml.safe_load(SHIPPED_ROSTER.read_text(encoding="utf-8"))
    for person in roster["people"]:
        person["channels"] = [{"type": "webhook", "address": f"{url}/roster-{person['id']}"}]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "roster.yaml"
    path.write_text(yaml.safe_dump(roster, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return f'[alarms]\nroster_file = "{path}"\n'


def duty_paging_service(
    directory: Path, broker_port: int, prefix: str, url: str, database_extra: str
) -> ServiceProcess:
    """The service paging one non-idempotent webhook person ``duty`` at ``url``/duty, stalls reported after 2 s."""
    return ServiceProcess(
        directory,
        broker_port,
        prefix,
        extra_config="[ingest]\ndecode_workers = 0\nstall_after_s = 2.0\n"
        + notify_config([("duty", f"{url}/duty", False)])
        + reachable_roster(directory, url),
        database_extra=database_extra,
    )


@asynccontextmanager
async def duty_paging_processes(
    directory: Path, prefix: str, database_extra: str = ""
) -> AsyncIterator[tuple[CountingReceiver, Mosquitto, ServiceProcess]]:
    """A counting receiver, a broker and ``duty_paging_service`` (not started yet); all stopped at the end."""
    receiver = CountingReceiver()
    url = await receiver.start()
    broker = Mosquitto(directory / "broker")
    broker.start()
    service = duty_paging_service(directory / "service", broker.port, prefix, url, database_extra)
    try:
        yield receiver, broker, service
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
        await receiver.stop()
