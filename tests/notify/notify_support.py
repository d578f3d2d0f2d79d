"""Shared pieces of the notification, API and console tests: a temp database, local receivers, sample facts."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from daemon.notify.config import ChannelTarget, NotifyConfig
from daemon.notify.model import AlertFacts, ChecklistLine
from daemon.notify.outbox import Outbox
from daemon.store.rows import NotificationRow
from plans.incident import NotificationIntent, NotificationKind

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_port() -> int:
    """A port nobody listens on right now (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Receiver:
    """A real local HTTP server; ``requests`` keeps (path, query, headers, body) of each request."""

    url: str = ""
    requests: list[tuple[str, dict[str, str], dict[str, str], bytes]] = field(default_factory=list)
    runner: web.AppRunner | None = None


async def start_receiver(handler: Handler) -> Receiver:
    """Serve ``handler`` for every POST path on 127.0.0.1:<free port>."""
    receiver = Receiver()

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        receiver.requests.append((request.path, dict(request.query), dict(request.headers), body))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    receiver.runner = web.AppRunner(app, access_log=None)
    await receiver.runner.setup()
    site = web.TCPSite(receiver.runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    return receiver


def sample_facts(*, drill: bool = False, status: str = "firing", since: float = 1_700_000_000.0) -> AlertFacts:
    """A chlorine alarm at the demo park."""
    return AlertFacts(
        rule="threshold.high_high",
        status=status,
        tier="orange",
        priority="high",
        site="demo-park",
        site_name="Demo chemical park",
        zone="plant-a",
        sensor_id="gas-01.cl2",
        device_id="gas-01",
        kind="gas",
        unit="ppm",
        lat=31.2,
        lon=121.5,
        value=4.2,
        level=3.0,
        since=since,
        ended_at=since + 600 if status == "resolved" else None,
        summary="gas-01.cl2: 4.2 above threshold.high_high level 3",
        console_url="http://127.0.0.1:8080/#alarm-7",
        alarm_id=7,
        drill=drill,
        checklist=(ChecklistLine("核对相邻传感器", "Check neighbouring sensors"),),
    )


def rows_to(
    targets: list[ChannelTarget], *, key: str = "alarm:7:firing", language: str = "zh", now: float, **facts: Any
) -> list[NotificationRow]:
    """The outbox rows of an alarm route's intent for one system target ``duty`` reached on ``targets``."""
    config = NotifyConfig.model_validate(
        {"people": [{"name": "duty", "language": language, "channels": [t.model_dump() for t in targets]}]}
    )
    alarm = sample_facts(**facts)
    intent = NotificationIntent(
        notification_id=key, kind=NotificationKind.ALARM, time=now, incident_id=None, tier=None, roles=(),
        recipients=(), subject=alarm.summary, body="", ack_deadline=None, drill=alarm.drill, targets=("duty",),
    )  # fmt: skip
    return Outbox(config, b"unused: no person is paged").rows(intent, alarm).notifications


def notify_config(**overrides: Any) -> NotifyConfig:
    """Fast retry settings for tests."""
    values: dict[str, Any] = {"retry_initial_s": 1.0, "retry_max_s": 60.0, "channel_failing_alarm_s": 120.0}
    values.update(overrides)
    return NotifyConfig.model_validate(values)
