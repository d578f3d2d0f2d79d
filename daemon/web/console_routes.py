"""API routes the duty console needs beyond the core API: the map, a sensor's chart, the roster, drill runs."""

from __future__ import annotations

import os

from aiohttp import web
from sqlalchemy import select

from daemon.store.schema import drill_runs
from daemon.web.api.auth import REQUIRED_ROLE, may
from daemon.web.api.context import API, ENGINE
from daemon.web.api.errors import InvalidRequest
from daemon.web.api.routes import _user, may_read
from daemon.web.console_pages import add_console_page_routes
from daemon.web.drill_scope import parse_drill_scope
from daemon.web.duty_roster import on_duty_now
from daemon.web.map_layers import map_settings
from daemon.web.sensor_history import sensor_history


async def get_map(request: web.Request) -> web.Response:
    """Centre, zoom, tile sources and the site's offline GeoJSON layers."""
    await may_read(request)
    context = request.app[API]
    return web.json_response(map_settings(context.table.site, context.map))


async def get_sensor_history(request: web.Request) -> web.Response:
    """The sensor's last ``?hours=`` (default 24, at most 168) of readings and its open alarms."""
    await may_read(request)
    raw = request.query.get("hours", "24")
    try:
        hours = float(raw)
    except ValueError:
        raise InvalidRequest(f"hours must be a number, got {raw!r}") from None
    if not 0 < hours <= 168:
        raise InvalidRequest("hours must be between 0 and 168")
    context = request.app[API]
    body = await sensor_history(
        request.app[ENGINE],
        context.table,
        request.match_info["sensor_id"],
        context.clock.now(),
        hours,
        parse_drill_scope(request.query.get("drill_run")),
    )
    return web.json_response(body)


async def get_duty(request: web.Request) -> web.Response:
    """Who is on duty now in each role, and how to reach them."""
    await may_read(request)
    context = request.app[API]
    if context.roster is None:
        return web.json_response({"roles": []})
    return web.json_response({"roles": on_duty_now(context.roster(), context.clock.now(), dict(os.environ))})


async def get_drill_runs(request: web.Request) -> web.Response:
    """Drill runs written into this database, newest first (the console's drill view picks one)."""
    await may_read(request)
    columns = ("id", "source", "speed", "started_at", "finished_at", "status")
    query = select(*(drill_runs.c[name] for name in columns)).order_by(drill_runs.c.id.desc()).limit(50)
    async with request.app[ENGINE].connect() as connection:
        rows = [dict(r) for r in (await connection.execute(query)).mappings()]
    return web.json_response({"drill_runs": rows})


async def get_me(request: web.Request) -> web.Response:
    """Who the token belongs to and what the role may do (the console hides the rest of its buttons)."""
    user = await _user(request, "read")
    return web.json_response(
        {"name": user.name, "role": user.role, "may": {action: may(user.role, action) for action in REQUIRED_ROLE}}
    )


def add_console_routes(app: web.Application) -> None:
    """Register the console's extra routes (``/api/me`` replaces the core one: it adds ``may``)."""
    router = app.router
    router.add_get("/api/map", get_map)
    router.add_get("/api/duty", get_duty)
    router.add_get("/api/drill-runs", get_drill_runs)
    router.add_get("/api/sensors/{sensor_id}/history", get_sensor_history)
    add_console_page_routes(app)
