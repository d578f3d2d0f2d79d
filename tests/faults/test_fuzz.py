"""Bad input at volume: fuzzed HTTP requests never get a 5xx, fuzzed MQTT payloads never raise out of the codec.

CI runs a few hundred examples per target (``HAZWATCH_FUZZ_EXAMPLES`` raises it); ``bench/fuzz_codec.py`` and
``bench/fuzz_api.py`` run 100,000 each in seeded chunks and print the figures.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from daemon.web.api.routes import add_api_routes
from tests.faults.fuzz_targets import (
    ROUTES,
    api_under_test,
    codec_decoder,
    messages,
    requests,
    run_api_fuzz,
    run_codec_fuzz,
)

EXAMPLES = int(os.environ.get("HAZWATCH_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def test_routes_are_all_fuzzed() -> None:
    """The fuzzer knows every API route but the event stream (which never ends); a new route must be added."""
    from aiohttp import web

    app = web.Application()
    add_api_routes(app)
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert served - {("GET", "/api/events")} <= set(ROUTES)


def test_api_never_answers_5xx(tmp_path: Path) -> None:
    """Ids past 2**63, 4,300-digit integers, '²' as a limit, nested bodies, bad UTF-8: all 4xx with JSON."""
    loop = asyncio.new_event_loop()
    context = api_under_test(tmp_path, rate_limited=False)
    api = loop.run_until_complete(context.__aenter__())
    try:

        @FUZZ
        @given(requests())
        def one(request: tuple[str, str, dict[str, str], bytes | None]) -> None:
            run_api_fuzz(loop, api, request)

        one()
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


def test_known_500s_are_4xx_now(tmp_path: Path) -> None:
    """The requests that answered 500 before: each a clear 400."""
    loop = asyncio.new_event_loop()
    context = api_under_test(tmp_path)
    api = loop.run_until_complete(context.__aenter__())
    try:
        operator = {"Authorization": "Bearer {admin}"}
        cases = [
            ("GET", f"/api/alarms/{2**63}", {}, None),
            ("GET", f"/api/incidents/{'1' * 3900}", operator, None),
            ("GET", "/api/alarms?limit=%C2%B2", {}, None),  # '²'
            ("POST", "/api/alarms/1/comment", operator, b"[" * 5000),
            ("POST", "/api/alarms/1/shelve", operator, b'{"duration_s": ' + b"9" * 5000 + b"}"),
            ("POST", f"/api/incidents/1/checklist/{2**64}/done", operator, None),
        ]
        for method, path, template, body in cases:
            headers = {k: v.format(**api.tokens) for k, v in template.items()}
            status, text = loop.run_until_complete(api.status(method, path, headers, body))
            assert status in (400, 401), (path, status, text)
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


@pytest.mark.slow
def test_codec_never_raises() -> None:
    """Any topic and payload: readings or counted rejections, never an exception (deep nesting included)."""
    decoder = codec_decoder()

    @settings(max_examples=EXAMPLES * 2, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(messages)
    def one(message: tuple[str, bytes]) -> None:
        run_codec_fuzz(decoder, *message)

    one()
