"""The API's error middleware: a client that went away is not an internal error."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.test_utils import make_mocked_request

from daemon.web.api.routes import json_errors


async def test_a_client_that_closed_the_connection_is_no_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    """A scrape that timed out closes its connection while /metrics is answered (aiohttp raises
    ``ClientConnectionResetError`` from ``prepare``): logged once at INFO, no traceback, no 500."""

    async def closed(request: web.Request) -> web.StreamResponse:
        raise ClientConnectionResetError("Cannot write to closing transport")

    with caplog.at_level(logging.INFO, logger="daemon.web.api.routes"):
        response = await json_errors(make_mocked_request("GET", "/metrics"), closed)
    assert response.status == 499
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.INFO, "client closed the connection during GET /metrics", None)
    ]


async def test_a_bug_is_still_a_logged_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        raise KeyError("a bug")

    with caplog.at_level(logging.INFO, logger="daemon.web.api.routes"):
        response = await json_errors(make_mocked_request("GET", "/api/alarms"), broken)
    assert response.status == 500
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [(logging.ERROR, True)]
