"""The follower's HTTP: reads answer from the shared database, operator actions go to the leader."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def follower_guard(is_leader: Callable[[], bool]) -> Middleware:
    """A middleware refusing operator actions on the follower (its engines would change, the leader's would not)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in WRITES and request.path.startswith("/api/") and not is_leader():
            return web.json_response(
                {
                    "error": "this hazwatch instance is the follower of a high-availability pair: "
                    "send operator actions to the leader"
                },
                status=503,
                headers={"Retry-After": "2"},
            )
        return await handler(request)

    return guard
