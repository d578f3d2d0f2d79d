"""HTTP handlers of the API. Reads may be public (wall display); every write needs a bearer token and a role."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from daemon.ingest.senml import json_depth
from daemon.redaction import redact
from daemon.store import queries
from daemon.web import alarm_board
from daemon.web.api import reads
from daemon.web.api.auth import User, authenticate, require
from daemon.web.api.context import API, ENGINE, ApiContext
from daemon.web.api.errors import ApiError, InvalidRequest, Unauthorized
from daemon.web.api.login import password_login
from daemon.web.api.openapi import openapi_document
from daemon.web.drill_scope import parse_drill_scope

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Row ids are signed 64-bit integers in both databases: anything outside is no row (and would overflow a driver).
MAX_ID = 2**63 - 1
MAX_ID_DIGITS = len(str(MAX_ID))
# Request bodies are flat objects of strings; nesting deeper than this is refused before the recursive parser.
MAX_BODY_DEPTH = 8


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API error, and aiohttp's own 4xx (404, 405, 413...), as a JSON body ``{"error", "status"}``.

    Anything else is a bug: logged with its traceback, answered 500 with a JSON body that says nothing internal.
    """
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response({"error": redact(str(exc)), "status": exc.status}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason, "status": exc.status}, status=exc.status)
    except Exception as exc:
        if isinstance(exc, ConnectionError) and _client_gone(request):
            # The client went away mid-answer (a Prometheus scrape that timed out, a closed browser tab): not a bug,
            # and nobody to answer. aiohttp drops a response it cannot write; 499 is what its access log then shows.
            log.info("client closed the connection during %s %s", request.method, redact(request.path))
            return web.Response(status=499, reason="Client Closed Request")
        log.exception("internal error answering %s %s", request.method, redact(request.path))
        return web.json_response({"error": "internal error (logged)", "status": 500}, status=500)


def _client_gone(request: web.Request) -> bool:
    """Whether the request's own connection is closed. A ``ConnectionError`` from elsewhere (a database or broker
    refusing a connection while the client still waits) stays an internal error."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def _user(request: web.Request, action: str, token: str | None = None) -> User:
    token = token or _bearer(request)
    if token is None:
        raise Unauthorized("this needs `Authorization: Bearer <token>` (see `hazwatch user add`)")
    context = request.app[API]
    address, now = request.remote or "unknown", context.clock.now()
    context.failed_auth.check(address, now)
    try:
        user = await authenticate(request.app[ENGINE], token, now)
    except Unauthorized:
        context.failed_auth.failed(address, now)
        raise
    require(user, action)
    return user


async def may_read(request: web.Request, token: str | None = None) -> None:
    """Raise unless reads are public or the request carries a valid token."""
    if not request.app[API].public_read:
        await _user(request, "read", token)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # aiohttp answers 413 past client_max_size
    if not raw.strip():
        return {}
    depth = json_depth(raw)
    if depth > MAX_BODY_DEPTH:
        raise InvalidRequest(f"body nests {depth} levels deep; at most {MAX_BODY_DEPTH}")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, bad UTF-8, an integer of 4,300+ digits
        raise InvalidRequest(f"body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(document, dict):
        raise InvalidRequest("body must be a JSON object")
    return document


def _text(body: dict[str, Any], name: str, *, required: bool = False, limit: int = 2000) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string")
    if required and not value.strip():
        raise InvalidRequest(f"{name} is required")
    if len(value) > limit:
        raise InvalidRequest(f"{name} is longer than {limit} characters")
    return value


async def post_login(request: web.Request) -> web.Response:
    """Exchange a user name and password for a new bearer token (failures limited per address and per user)."""
    body = await _body(request)
    name = _text(body, "user", required=True, limit=64)
    password = _text(body, "password", required=True, limit=1024)
    context = request.app[API]
    token, user = await password_login(
        request.app[ENGINE],
        context.failed_auth,
        context.failed_logins,
        request.remote or "unknown",
        name,
        password,
        context.clock.now(),
    )
    return web.json_response({"token": token, "user": user.name, "role": user.role})


def _ascii_digits(raw: str) -> bool:
    # str.isdigit() also accepts '²' and other Unicode digits that int() refuses.
    return raw.isascii() and raw.isdigit()


def _id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not _ascii_digits(raw) or len(raw) > MAX_ID_DIGITS or not 1 <= int(raw) <= MAX_ID:
        raise InvalidRequest(f"{name} must be an integer between 1 and {MAX_ID}, got {raw[:40]!r}")
    return int(raw)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "200")
    if not _ascii_digits(raw) or len(raw) > 4 or not 1 <= int(raw) <= 1000:
        raise InvalidRequest("limit must be an integer between 1 and 1000")
    return int(raw)


def _only(request: web.Request, subset: str) -> bool:
    """``?state=``: True for ``subset`` only, False for ``all`` (the default); anything else is a 400."""
    state = request.query.get("state", "all")
    if state not in ("all", subset):
        raise InvalidRequest(f"state must be '{subset}' or 'all'")
    return state == subset


def _publish(context: ApiContext, type_: str, row: dict[str, Any], user: User) -> None:
    context.bus.publish(type_, {"row": _jsonable(row), "actor": user.name})


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "payload"}


# --- reads --------------------------------------------------------------------------------------------------


async def get_alarms(request: web.Request) -> web.Response:
    """Active alarms, then recent ones: ``?state=active`` for active only, ``?limit=N`` (1-1000).

    ``?state=needs_action``: the alarm board, every alarm a person must act on (live, or ``?drill_run=N``).
    """
    await may_read(request)
    if request.query.get("state") == "needs_action":
        scope = parse_drill_scope(request.query.get("drill_run"))
        board = await alarm_board.needs_action(request.app[ENGINE], request.app[API].table, scope)
        return web.json_response({"alarms": board})
    rows = await queries.list_alarms(request.app[ENGINE], active_only=_only(request, "active"), limit=_limit(request))
    for row in rows:
        row["active"] = row["cleared_at"] is None
    return web.json_response({"alarms": rows})


async def get_alarm(request: web.Request) -> web.Response:
    """One alarm with its events."""
    await may_read(request)
    return web.json_response(await reads.alarm_detail(request.app[ENGINE], _id(request, "alarm_id")))


async def get_incidents(request: web.Request) -> web.Response:
    """Incidents, open first; ``?state=open`` for open only."""
    await may_read(request)
    rows = await reads.list_incidents(
        request.app[ENGINE],
        open_only=_only(request, "open"),
        limit=_limit(request),
        scope=parse_drill_scope(request.query.get("drill_run")),
    )
    return web.json_response({"incidents": rows})


async def get_incident(request: web.Request) -> web.Response:
    """One incident with its timeline, checklist and alarms."""
    await may_read(request)
    return web.json_response(await reads.incident_detail(request.app[ENGINE], _id(request, "incident_id")))


async def get_notifications(request: web.Request) -> web.Response:
    """Recent notifications; ``?state=unacknowledged`` for those still awaiting an acknowledgement."""
    await may_read(request)
    rows = await reads.list_notifications(
        request.app[ENGINE], unacknowledged_only=_only(request, "unacknowledged"), limit=_limit(request)
    )
    return web.json_response({"notifications": rows})


async def get_site(request: web.Request) -> web.Response:
    """The site map: sensors with positions and current state, and the running drill if any."""
    await may_read(request)
    context = request.app[API]
    scope = parse_drill_scope(request.query.get("drill_run"))
    return web.json_response(
        await reads.site_view(request.app[ENGINE], context.table, context.latest, context.clock.now(), scope)
    )


async def get_me(request: web.Request) -> web.Response:
    """Who the token belongs to (the console checks a token with it)."""
    user = await _user(request, "read")
    return web.json_response({"name": user.name, "role": user.role})


async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document())


async def get_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: every bus event as ``event: <type>`` with JSON data.

    The token travels in the Authorization header (the console reads the stream with fetch), never in the URL,
    where proxies and access logs would keep it.
    """
    await may_read(request)
    context = request.app[API]
    subscription = context.bus.subscribe()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
        while True:
            try:
                async with asyncio.timeout(context.sse_heartbeat_s):
                    event = await subscription.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            data = json.dumps(event.data, ensure_ascii=False, default=str)
            await response.write(f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away or the server is stopping
    finally:
        subscription.close()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


# --- writes -------------------------------------------------------------------------------------------------


async def _alarm_action(request: web.Request, action: str) -> web.Response:
    user = await _user(request, "comment" if action == "comment" else _ALARM_ROLE[action])
    alarm_id = _id(request, "alarm_id")
    body = await _body(request)
    context = request.app[API]
    ops, now = context.operations, context.clock.now()
    if action == "acknowledge":
        row = await ops.acknowledge_alarm(alarm_id, user.name, now, _text(body, "reason"))
    elif action == "shelve":
        duration = body.get("duration_s")
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
            raise InvalidRequest("duration_s must be a positive number of seconds")
        if duration > context.max_shelve_s:
            raise InvalidRequest(f"duration_s may be at most {context.max_shelve_s:g} s")
        row = await ops.shelve_alarm(alarm_id, user.name, now, float(duration), _text(body, "reason", required=True))
    elif action == "unshelve":
        row = await ops.unshelve_alarm(alarm_id, user.name, now, _text(body, "reason"))
    elif action == "reset":
        row = await ops.reset_alarm(alarm_id, user.name, now, _text(body, "reason"))
    else:
        row = await ops.comment_alarm(alarm_id, user.name, now, _text(body, "text", required=True))
    _publish(context, "alarm.updated", row, user)
    return web.json_response({"alarm": row})


_ALARM_ROLE = {"acknowledge": "acknowledge", "shelve": "shelve", "unshelve": "unshelve", "reset": "reset"}


def _alarm_handler(action: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return await _alarm_action(request, action)

    handler.__doc__ = f"{action.capitalize()} an alarm."
    return handler


async def acknowledge_notification(request: web.Request) -> web.Response:
    """Acknowledge one notification."""
    user = await _user(request, "acknowledge")
    await _body(request)
    context = request.app[API]
    row = await context.operations.acknowledge_notification(
        _id(request, "notification_id"), user.name, context.clock.now()
    )
    _publish(context, "notification.updated", row, user)
    return web.json_response({"notification": _jsonable(row)})


async def _sensor_service(request: web.Request, out_of_service: bool) -> web.Response:
    user = await _user(request, "sensor_service")
    body = await _body(request)
    context = request.app[API]
    row = await context.operations.set_sensor_service(
        request.match_info["sensor_id"],
        out_of_service,
        user.name,
        context.clock.now(),
        _text(body, "reason", required=out_of_service),
    )
    _publish(context, "sensor.updated", row, user)
    return web.json_response({"sensor": row})


async def sensor_out_of_service(request: web.Request) -> web.Response:
    """Put a sensor out of service (reason required)."""
    return await _sensor_service(request, True)


async def sensor_in_service(request: web.Request) -> web.Response:
    """Put a sensor back in service."""
    return await _sensor_service(request, False)


async def reset_credibility(request: web.Request) -> web.Response:
    """Operator reset of "reading not credible" at a sensor (GM fold-back or dead probe checked on site)."""
    user = await _user(request, "reset")
    body = await _body(request)
    context = request.app[API]
    row = await context.operations.reset_credibility(
        request.match_info["sensor_id"], user.name, context.clock.now(), _text(body, "reason", required=True)
    )
    _publish(context, "sensor.updated", row, user)
    return web.json_response({"reset": row})


async def comment_incident(request: web.Request) -> web.Response:
    """Add a comment to an incident's timeline."""
    user = await _user(request, "comment")
    body = await _body(request)
    context = request.app[API]
    row = await context.operations.comment_incident(
        _id(request, "incident_id"), user.name, context.clock.now(), _text(body, "text", required=True)
    )
    _publish(context, "incident.updated", row, user)
    return web.json_response({"incident": reads.incident_row(row)})


async def tick_checklist_item(request: web.Request) -> web.Response:
    """Mark a checklist item done."""
    user = await _user(request, "tick_checklist")
    await _body(request)
    context = request.app[API]
    incident_id = _id(request, "incident_id")
    row = await context.operations.tick_checklist_item(
        incident_id, _id(request, "item_id"), user.name, context.clock.now()
    )
    context.bus.publish("incident.updated", {"row": {"id": incident_id}, "actor": user.name})
    return web.json_response({"item": row})


async def confirm_level(request: web.Request) -> web.Response:
    """Confirm an incident's response level (I-IV)."""
    user = await _user(request, "confirm_level")
    body = await _body(request)
    context = request.app[API]
    row = await context.operations.confirm_level(
        _id(request, "incident_id"),
        _text(body, "level", required=True, limit=4),
        user.name,
        context.clock.now(),
        _text(body, "reason"),
    )
    _publish(context, "incident.updated", row, user)
    return web.json_response({"incident": reads.incident_row(row)})


async def close_incident(request: web.Request) -> web.Response:
    """Close an incident."""
    user = await _user(request, "close_incident")
    body = await _body(request)
    context = request.app[API]
    row = await context.operations.close_incident(
        _id(request, "incident_id"), user.name, context.clock.now(), _text(body, "reason")
    )
    _publish(context, "incident.updated", row, user)
    return web.json_response({"incident": reads.incident_row(row)})


def add_api_routes(app: web.Application) -> None:
    """Register every API route on ``app`` (which must hold ENGINE and API)."""
    from daemon.web import console_routes  # noqa: PLC0415  # it imports this module's helpers

    router = app.router
    router.add_get("/api/openapi.json", get_openapi)
    router.add_get("/api/me", console_routes.get_me)
    router.add_post("/api/login", post_login)
    router.add_get("/api/events", get_events)
    router.add_get("/api/site", get_site)
    router.add_get("/api/alarms", get_alarms)
    router.add_get("/api/alarms/{alarm_id}", get_alarm)
    router.add_get("/api/incidents", get_incidents)
    router.add_get("/api/incidents/{incident_id}", get_incident)
    router.add_get("/api/notifications", get_notifications)
    for action in ("acknowledge", "shelve", "unshelve", "reset", "comment"):
        router.add_post(f"/api/alarms/{{alarm_id}}/{action}", _alarm_handler(action))
    router.add_post("/api/notifications/{notification_id}/acknowledge", acknowledge_notification)
    router.add_post("/api/sensors/{sensor_id}/out-of-service", sensor_out_of_service)
    router.add_post("/api/sensors/{sensor_id}/in-service", sensor_in_service)
    router.add_post("/api/sensors/{sensor_id}/reset-credibility", reset_credibility)
    router.add_post("/api/incidents/{incident_id}/comment", comment_incident)
    router.add_post("/api/incidents/{incident_id}/checklist/{item_id}/done", tick_checklist_item)
    router.add_post("/api/incidents/{incident_id}/confirm-level", confirm_level)
    router.add_post("/api/incidents/{incident_id}/close", close_incident)
    console_routes.add_console_routes(app)
