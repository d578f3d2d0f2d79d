"""What the API handlers need, held by the aiohttp application under one key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import Clock
from daemon.config import MapConfig
from daemon.web.api.failed_auth import FailedAuthLimiter
from daemon.web.api.operations import Operations
from daemon.web.api.reads import LatestValues
from daemon.web.events import EventBus
from plans.roster import Roster
from rules.sensor_table import SensorTable


@dataclass
class ApiContext:
    """Operations, event bus, clock, site and access policy of one running service."""

    operations: Operations
    bus: EventBus
    clock: Clock
    table: SensorTable
    latest: LatestValues | None = None
    public_read: bool = False
    max_shelve_s: float = 8 * 3600.0
    sse_heartbeat_s: float = 15.0
    roster: Callable[[], Roster] | None = None  # the roster in force (a reload replaces it)
    map: MapConfig = field(default_factory=MapConfig)
    failed_auth: FailedAuthLimiter = field(default_factory=FailedAuthLimiter)
    # Password logins name their user: 10 failures per user in 15 minutes, from any number of addresses.
    failed_logins: FailedAuthLimiter = field(
        default_factory=lambda: FailedAuthLimiter(max_failures=10, window_s=900.0, subject="this user")
    )


API: web.AppKey[ApiContext] = web.AppKey("api", ApiContext)
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine", AsyncEngine)  # also pinged by /healthz
