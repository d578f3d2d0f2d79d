"""Application keys shared by the HTTP handlers (kept apart so the API modules and the app avoid an import cycle)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine", AsyncEngine)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
BROKER_CONNECTED: web.AppKey[Callable[[], bool]] = web.AppKey("broker_connected")
# Run before each /metrics exposition: values that live in the database (a replay's drill run), read at scrape time.
BEFORE_SCRAPE: web.AppKey[Sequence[Callable[[], Awaitable[None]]]] = web.AppKey("before_scrape")
