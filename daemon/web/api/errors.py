"""Errors the API turns into 4xx JSON answers. Operations raise them; the HTTP layer maps ``status``."""

from __future__ import annotations

from daemon.errors import HazwatchError


class ApiError(HazwatchError):
    """Base: a request that cannot be carried out, with the HTTP status that says why."""

    status = 400


class InvalidRequest(ApiError):
    """The request is malformed or a value is out of range."""

    status = 400


class Unauthorized(ApiError):
    """No valid bearer token."""

    status = 401


class Forbidden(ApiError):
    """The token's role may not do this."""

    status = 403


class NotFound(ApiError):
    """No such alarm, incident, item, notification or sensor."""

    status = 404


class Conflict(ApiError):
    """The action does not fit the current state (already acknowledged, not latched, already closed...)."""

    status = 409


class TooManyRequests(ApiError):
    """Too many failed authentications from this address or for this user: wait and retry."""

    status = 429
