"""One aiohttp application: /healthz, /metrics, the JSON API and the duty console."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.metrics.exposition import Exposition
from daemon.redaction import redact
from daemon.store import queries
from daemon.web.api.context import API, ENGINE, ApiContext
from daemon.web.api.routes import add_api_routes, json_errors
from daemon.web.assessment import add_assessment_route
from daemon.web.metrics_response import send_exposition, send_scrape
from daemon.web.paging_health import pages_reach_people
from daemon.web.review_routes import add_review_routes

log = logging.getLogger(__name__)
CONSOLE = Path(__file__).parent / "console"
PING_TIMEOUT_S = 2.0
__all__ = ["API", "BROKER_CONNECTED", "ENGINE", "REGISTRY", "create_app"]

REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
BROKER_CONNECTED: web.AppKey[Callable[[], bool]] = web.AppKey("broker_connected")
# Run before each /metrics exposition: values that live in the database (a replay's drill run), read at scrape time.
BEFORE_SCRAPE: web.AppKey[Sequence[Callable[[], Awaitable[None]]]] = web.AppKey("before_scrape")
EXPOSITION: web.AppKey[Exposition] = web.AppKey("exposition", Exposition)
# The service's own view of itself (stalls, ingest lag, failed tasks, failing writes): (healthy, details).
SERVICE_HEALTH: web.AppKey[Callable[[], tuple[bool, dict[str, Any]]]] = web.AppKey("service_health")


async def healthz(request: web.Request) -> web.Response:
    """200 when the broker is connected, the database answers and the service does its job, else 503 with what is
    wrong."""
    checks: dict[str, Any] = {"broker_connected": request.app[BROKER_CONNECTED]()}
    service_ok, details = request.app[SERVICE_HEALTH]()
    checks.update(details)
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):  # a database that does not answer must not hang the probe
            await queries.ping(request.app[ENGINE])
        checks["database_ok"] = True
        checks["pages_reach_people"] = await pages_reach_people(request.app[ENGINE])
    except Exception as exc:  # any driver error means "not healthy"; report it, don't crash the probe
        log.warning("health check: database error: %s", exc)
        checks["database_ok"] = False
        checks["database_error"] = redact(str(exc) or type(exc).__name__)[:200]
    healthy = (
        checks["broker_connected"] and checks["database_ok"] and service_ok and checks.get("pages_reach_people", False)
    )
    checks["status"] = "ok" if healthy else "degraded"
    return web.json_response(checks, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text exposition: the registry, plus the per-sensor families rendered off the event loop."""
    for refresh in request.app[BEFORE_SCRAPE]:
        await refresh()
    exposition = request.app.get(EXPOSITION)
    if exposition is None:
        return await send_exposition(request, [generate_latest(request.app[REGISTRY])])
    return await send_scrape(request, await exposition.scrape())


async def console_index(request: web.Request) -> web.FileResponse:
    """The duty console page."""
    return web.FileResponse(CONSOLE / "index.html")


def create_app(
    engine: AsyncEngine,
    registry: CollectorRegistry,
    broker_connected: Callable[[], bool],
    api: ApiContext | None = None,
    *,
    max_body_bytes: int = 64 * 1024,
    before_scrape: Sequence[Callable[[], Awaitable[None]]] = (),
    exposition: Exposition | None = None,
    service_health: Callable[[], tuple[bool, dict[str, Any]]] = lambda: (True, {}),
) -> web.Application:
    """Build the application; with ``api`` it also serves the full API and the console. The caller runs it.

    ``before_scrape`` runs before each /metrics exposition (each must bound its own time and never raise).
    """
    app = web.Application(middlewares=[json_errors], client_max_size=max_body_bytes)
    app[ENGINE] = engine
    app[REGISTRY] = registry
    app[BROKER_CONNECTED] = broker_connected
    if exposition is not None:
        app[EXPOSITION] = exposition
    app[BEFORE_SCRAPE] = before_scrape
    app[SERVICE_HEALTH] = service_health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    if api is not None:
        app[API] = api

        async def end_event_streams(_: web.Application) -> None:
            api.bus.close()  # open SSE responses return, so shutdown does not wait for them

        app.on_shutdown.append(end_event_streams)
        add_api_routes(app)
        add_review_routes(app)
        add_assessment_route(app)
        app.router.add_get("/", console_index)
        app.router.add_static("/console/", CONSOLE, name="console")
    return app
