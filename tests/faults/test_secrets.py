"""A webhook URL with a password or a token never shows up in logs, in notifications.last_error or in the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import insert

from daemon.notify.channels.base import DeliveryError, HttpPoster
from daemon.redaction import redact
from daemon.store.engine import create_engine, migrate
from daemon.store.schema import notifications
from daemon.web.api.errors import TooManyRequests
from daemon.web.api.failed_auth import FailedAuthLimiter
from daemon.web.api.reads import list_notifications
from tests.faults.fuzz_targets import api_under_test

PASSWORD = "s3cr3t-Passw0rd"
TOKEN = "T0k3nAbCdEfGh1234567890xyz"


@pytest.mark.parametrize(
    "text",
    [
        f"POST https://hooks:{PASSWORD}@alerts.example/notify: boom",
        f"https://alerts.example/api/webhooks/123/{TOKEN}",
        f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&x=1",
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}",
        f"Cannot connect to host alerts.example:443 url='https://u:{PASSWORD}@alerts.example/{TOKEN}/x'",
    ],
)
def test_redact_masks_passwords_and_tokens(text: str) -> None:
    """Userinfo passwords, secret-named parameters and token-like path segments are masked."""
    masked = redact(text)
    assert PASSWORD not in masked
    assert TOKEN not in masked
    assert "***" in masked


def test_redact_leaves_plain_urls_alone() -> None:
    """Nothing secret: nothing changed (ids and words stay readable)."""
    text = "POST https://alerts.example/hazwatch/incident-42/notify: HTTP 500"
    assert redact(text) == text


async def test_a_failing_webhook_with_secrets_leaves_no_secret_in_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A receiver answering 500 and one refusing connections: the DeliveryError text carries no secret."""

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=500, text="no")

    app = web.Application()
    app.router.add_post("/{tail:.*}", fail)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    poster = HttpPoster(5.0)
    try:
        for url in (
            f"http://hooks:{PASSWORD}@127.0.0.1:{port}/api/webhooks/1/{TOKEN}",
            f"http://hooks:{PASSWORD}@127.0.0.1:1/api/webhooks/1/{TOKEN}",  # refused
        ):
            with pytest.raises(DeliveryError) as failure:
                await poster.post(url, b"{}", {})
            assert PASSWORD not in str(failure.value)
            assert TOKEN not in str(failure.value)
    finally:
        await poster.close()
        await runner.cleanup()
    assert PASSWORD not in caplog.text
    assert TOKEN not in caplog.text


async def test_the_api_never_shows_a_webhook_secret(tmp_path: Path) -> None:
    """Rows stored before (recipient = the full URL, last_error quoting it): GET /api/notifications masks them."""
    engine = create_engine(f"sqlite:///{tmp_path / 'hazwatch.db'}")
    await migrate(engine)
    url = f"https://hooks:{PASSWORD}@alerts.example/api/webhooks/1/{TOKEN}"
    async with engine.begin() as connection:
        await connection.execute(
            insert(notifications).values(
                id=1,
                idempotency_key="k1",
                incident_id=None,
                alarm_id=None,
                event="opened",
                channel="webhook",
                recipient=url,
                language="en",
                payload="{}",
                state="pending",
                attempts=1,
                next_attempt_at=0.0,
                created_at=0.0,
                last_error=f"POST {url}: HTTP 500",
                drill=False,
            )
        )
    try:
        rows = await list_notifications(engine, unacknowledged_only=False, limit=10)
    finally:
        await engine.dispose()
    text = json.dumps(rows)
    assert PASSWORD not in text
    assert TOKEN not in text
    assert rows[0]["recipient"].startswith("https://hooks:***@alerts.example/")


def test_failed_authentications_are_rate_limited_per_address() -> None:
    """The 21st failure within a minute from one address is refused with 429; other addresses are not."""
    limiter = FailedAuthLimiter(max_failures=20, window_s=60.0)
    for n in range(20):
        limiter.check("10.0.0.9", 100.0 + n)
        limiter.failed("10.0.0.9", 100.0 + n)
    with pytest.raises(TooManyRequests):
        limiter.check("10.0.0.9", 120.0)
    limiter.check("10.0.0.10", 120.0)  # another address
    limiter.check("10.0.0.9", 161.0)  # the window moved past the first failures


async def test_the_api_answers_429_after_repeated_bad_tokens(tmp_path: Path) -> None:
    """Over real HTTP: bad tokens get 401 until the limit, then 429 even for a good token from that address."""
    async with api_under_test(tmp_path) as api:
        statuses = [
            (await api.status("GET", "/api/me", {"Authorization": f"Bearer hzw_guess{n}"}, None))[0] for n in range(21)
        ]
        good = await api.status("GET", "/api/me", {"Authorization": "Bearer {viewer}"}, None)
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    assert good[0] == 429


async def test_the_event_stream_takes_its_token_from_the_header_never_the_url(tmp_path: Path) -> None:
    """The event stream is authenticated like every read (no public reads here), and a token in its URL, where
    proxies and access logs keep it, is not accepted."""
    async with api_under_test(tmp_path) as api:
        token = api.tokens["viewer"]
        for query in (f"token={token}", f"access_token={token}", f"authorization=Bearer%20{token}"):
            async with api.session.get(f"{api.base}/api/events?{query}") as response:
                assert response.status == 401
        async with api.session.get(f"{api.base}/api/events", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert (await response.content.readuntil(b"\n\n")).endswith(b"event: hello\ndata: {}\n\n")
