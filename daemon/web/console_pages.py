"""The console channel's routes: the pages a logged-in console shows, "shown" reports, and acknowledging there.

``GET /api/pages`` lists the console pages of the caller (``daemon.notify.console_pages`` says whose they are);
``POST /api/pages/shown`` with ``{"ids": [...]}`` is the browser saying those rows are on a visible screen now, which
makes them delivered; ``POST /api/pages/{id}/acknowledge`` acknowledges one, which stops the page's chains and its
escalation like a link or an SMS reply does. Every route needs a bearer token: a page is for a person, and an
anonymous wall display is nobody.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from daemon.notify.chains import stop_page
from daemon.notify.console_pages import CONSOLE, ConsoleViewer, mark_shown, pages_for
from daemon.store.schema import notifications
from daemon.web.api.auth import User, may
from daemon.web.api.context import API, ENGINE
from daemon.web.api.errors import InvalidRequest, NotFound
from daemon.web.api.routes import _body, _id, _user
from daemon.web.page_ack import PAGE_ACK

MAX_SHOWN_IDS = 200


def _viewer(request: web.Request, user: User) -> ConsoleViewer:
    context = request.app[API]
    roster = context.roster() if context.roster is not None else None
    return ConsoleViewer.of(user.name, may(user.role, "acknowledge"), roster)


async def get_pages(request: web.Request) -> web.Response:
    """The caller's console pages of the last day, newest first."""
    user = await _user(request, "read")
    context = request.app[API]
    pages = await pages_for(request.app[ENGINE], _viewer(request, user), context.clock.now())
    return web.json_response({"user": user.name, "pages": pages})


async def post_shown(request: web.Request) -> web.Response:
    """The console put these page rows on a visible screen: they are delivered (to the caller's, and only those)."""
    user = await _user(request, "read")
    body = await _body(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InvalidRequest("ids must be a list of notification ids")
    if len(ids) > MAX_SHOWN_IDS:
        raise InvalidRequest(f"at most {MAX_SHOWN_IDS} ids at once")
    changed = await _shown(request, user, ids)
    return web.json_response({"delivered": changed})


async def _shown(request: web.Request, user: User, ids: list[int]) -> list[int]:
    context = request.app[API]
    now = context.clock.now()
    engine = request.app[ENGINE]
    changed = await mark_shown(engine, _viewer(request, user), ids, now)
    paging = request.app.get(PAGE_ACK)
    if changed and paging is not None:  # the service's metrics (an API-only app has none)
        metrics = paging.metrics
        async with engine.connect() as connection:
            created = (
                await connection.execute(
                    select(notifications.c.id, notifications.c.created_at).where(notifications.c.id.in_(changed))
                )
            ).all()
        for row in created:
            metrics.notification_deliveries.labels(CONSOLE, "delivered").inc()
            metrics.notifications_sent.labels(CONSOLE).inc()
            metrics.page_first_delivery_seconds.observe(max(now - float(row.created_at), 0.0))
        for row_id in changed:
            context.bus.publish(
                "notification.updated", {"row": {"id": row_id, "state": "delivered"}, "actor": user.name}
            )
    return changed


async def post_acknowledge(request: web.Request) -> web.Response:
    """Acknowledge one of the caller's console pages: stops every chain of the page and its escalation."""
    user = await _user(request, "acknowledge")
    row_id = _id(request, "notification_id")
    context = request.app[API]
    engine = request.app[ENGINE]
    viewer = _viewer(request, user)
    now = context.clock.now()
    mine = {page["id"]: page for page in await pages_for(engine, viewer, now)}
    page = mine.get(row_id)
    if page is None:
        raise NotFound(f"no console page {row_id} for {user.name}")
    await _shown(request, user, [row_id])  # acknowledging it is having seen it
    await context.operations.acknowledge_notification(row_id, user.name, now)
    async with engine.begin() as connection:
        if page["page_id"]:
            await stop_page(connection, str(page["page_id"]), user.name, now)  # every chain of the page stops
        columns = [c for c in notifications.c if c.name != "payload"]
        row: dict[str, Any] = dict(
            (await connection.execute(select(*columns).where(notifications.c.id == row_id))).one()._mapping
        )
    paging = request.app.get(PAGE_ACK)
    if paging is not None:
        paging.metrics.page_ack_seconds.observe(max(now - float(page["created_at"]), 0.0))
    context.bus.publish("notification.updated", {"row": {"id": row_id, "state": "acknowledged"}, "actor": user.name})
    return web.json_response({"notification": row})


def add_console_page_routes(app: web.Application) -> None:
    """Register the console channel's routes (the app holds API and ENGINE; PAGE_ACK's metrics when it has them)."""
    app.router.add_get("/api/pages", get_pages)
    app.router.add_post("/api/pages/shown", post_shown)
    app.router.add_post("/api/pages/{notification_id}/acknowledge", post_acknowledge)
