"""The API's error middleware: a client that went away is not an internal error; anything else still is."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.test_utils import make_mocked_request

from daemon.web.api.routes import json_errors


class _Transport(asyncio.Transport):
    """The request's own connection, open or closing."""

    def __init__(self, closing: bool) -> None:
        super().__init__()
        self._closing = closing

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def _request(path: str, *, closing: bool) -> web.Request:
    return make_mocked_request("GET", path, transport=_Transport(closing))


async def test_a_client_that_closed_the_connection_is_no_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    """A scrape that timed out closes its connection while /metrics is answered (aiohttp raises
    ``ClientConnectionResetError`` from ``prepare``): logged once at INFO, no traceback, no 500."""

    async def closed(request: web.Request) -> web.StreamResponse:
        raise ClientConnectionResetError("Cannot write to closing transport")

    with caplog.at_level(logging.INFO, logger="daemon.web.api.routes"):
        response = await json_errors(_request("/metrics", closing=True), closed)
    assert response.status == 499
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.INFO, "client closed the connection during GET /metrics", None)
    ]


async def test_a_refused_connection_elsewhere_is_still_an_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    """A ``ConnectionError`` while the client still waits (the database refusing connections) is answered 500 and
    logged with its traceback, not passed off as the client going away."""

    async def database_down(request: web.Request) -> web.StreamResponse:
        raise ConnectionRefusedError("connection refused: 127.0.0.1:5432")

    with caplog.at_level(logging.INFO, logger="daemon.web.api.routes"):
        response = await json_errors(_request("/api/alarms", closing=False), database_down)
    assert response.status == 500
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [(logging.ERROR, True)]


async def test_a_bug_is_still_a_logged_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        raise KeyError("a bug")

    with caplog.at_level(logging.INFO, logger="daemon.web.api.routes"):
        response = await json_errors(_request("/api/alarms", closing=True), broken)
    assert response.status == 500
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [(logging.ERROR, True)]
