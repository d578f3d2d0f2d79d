"""A service wired to page one person by webhook, and the local receiver it pages: shared by the paging benches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from daemon.config import ServiceConfig
from daemon.notify.config import NotifyConfig


async def start_receiver(hook: Callable[[web.Request], Awaitable[web.Response]]) -> tuple[web.AppRunner, str]:
    """Serve ``hook`` at ``POST /hook`` on a free loopback port; return the runner (to clean up) and the URL."""
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    receiver = web.TCPSite(runner, "127.0.0.1", 0)
    await receiver.start()
    port = receiver._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook"


def webhook_paging_config(broker_port: int, workdir: Path, hook_url: str, client_id: str) -> ServiceConfig:
    """The service on the private broker (topic prefix ``bench``) and SQLite in ``workdir``, paging one person,
    ``duty``, by webhook for every gas alarm of high priority or above (raise only, no resolved pages)."""
    config = ServiceConfig()
    config.mqtt.broker = f"mqtt://127.0.0.1:{broker_port}"
    config.mqtt.topic_prefix = "bench"
    config.mqtt.client_id = client_id
    config.database.url = f"sqlite:///{workdir / 'bench.db'}"
    config.http.port = 0
    person = {"name": "duty", "channels": [{"type": "webhook", "url": hook_url}]}
    route = {"name": "gas", "min_priority": "high", "kinds": ["gas"], "recipients": ["duty"], "send_resolved": False}
    config.notify = NotifyConfig.model_validate({"people": [person], "routes": [route]})
    return config
