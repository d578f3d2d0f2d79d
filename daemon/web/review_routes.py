"""HTTP API of the tiered data review: a station-day's review, reviewer actions, ratios as JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from daemon.review import store
from daemon.review.workflow import Action, ReviewRefused
from daemon.web.api.auth import authenticate
from daemon.web.api.context import API, ENGINE
from daemon.web.api.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from daemon.web.api.routes import _body, _text, may_read

CSV_COLUMNS = [
    "period", "level", "name", "expected", "captured", "valid_before", "valid_after",
    "capture_ratio", "valid_ratio_before", "valid_ratio_after", "qc_pass_ratio", "review_state",
]  # fmt: skip


async def get_review(request: web.Request) -> web.Response:
    """A station-day: review state, audit trail, flagged readings, ratios before and after review."""
    await may_read(request)
    context = request.app[API]
    try:
        document = await store.review(
            request.app[ENGINE], context.table, request.match_info["station"], request.match_info["day"]
        )
    except store.ReviewInputError as exc:
        raise NotFound(str(exc)) from exc
    return web.json_response(document)


async def post_review_action(request: web.Request) -> web.Response:
    """A reviewer's action: invalidate/confirm a range, a QC result, submit, approve or return the day."""
    try:
        action = Action(request.match_info["action"])
    except ValueError:
        raise NotFound(f"no review action {request.match_info['action']!r}") from None
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise Unauthorized("this needs `Authorization: Bearer <token>` of a reviewer")
    context = request.app[API]
    now = context.clock.now()
    user = await authenticate(request.app[ENGINE], header[7:].strip(), now)
    body = await _body(request)
    try:
        document = await store.act(
            request.app[ENGINE],
            context.table,
            request.match_info["station"],
            request.match_info["day"],
            actor=user.name,
            role=user.role,
            action=action,
            now=now,
            sensor_id=_optional_text(body, "sensor_id"),
            time_from=_optional_number(body, "from"),
            time_to=_optional_number(body, "to"),
            reason_code=_optional_text(body, "reason_code"),
            comment=_text(body, "comment"),
        )
    except store.ReviewInputError as exc:
        raise InvalidRequest(str(exc)) from exc
    except ReviewRefused as exc:
        raise Conflict(str(exc)) from exc
    context.bus.publish("review.updated", {"row": {"station": document["station"], "day": document["day"]}})
    return web.json_response(document)


async def get_review_ratios(request: web.Request) -> web.StreamResponse:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD[&period=day|month][&format=json|csv]``: ratios per station and network."""
    await may_read(request)
    query = request.query
    period = query.get("period", "day")
    output = query.get("format", "json")
    if period not in ("day", "month") or output not in ("json", "csv"):
        raise InvalidRequest("period must be day or month; format json or csv")
    if "from" not in query:
        raise InvalidRequest("from=YYYY-MM-DD is required")
    try:
        rows = await store.ratio_rows(
            request.app[ENGINE], request.app[API].table, query["from"], query.get("to", query["from"]),
            monthly=period == "month",
        )  # fmt: skip
    except (store.ReviewInputError, ValueError) as exc:
        raise InvalidRequest(str(exc)) from exc
    if output == "json":
        return web.json_response({"rows": rows})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return web.Response(
        text=buffer.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="data-review-{query["from"]}-{period}.csv"'},
    )


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string")
    return value


def _optional_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{name} must be a number (unix seconds)")
    return float(value)


def add_review_routes(app: web.Application) -> None:
    """Register the review endpoints."""
    app.router.add_get("/api/review/ratios", get_review_ratios)
    app.router.add_get("/api/review/{station}/{day}", get_review)
    app.router.add_post("/api/review/{station}/{day}/{action}", post_review_action)
