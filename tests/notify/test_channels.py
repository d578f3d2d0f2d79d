"""Every channel against a real local server: webhook (HMAC), SMTP (aiosmtpd), Alertmanager, WeCom/DingTalk robots."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from daemon.notify.channels.alertmanager import AlertmanagerChannel
from daemon.notify.channels.base import Delivery, DeliveryError, HttpPoster
from daemon.notify.channels.robots import DingtalkChannel, WecomChannel
from daemon.notify.channels.smtp import SmtpChannel
from daemon.notify.channels.webhook import SIGNATURE_HEADER, WebhookChannel
from daemon.notify.config import ChannelTarget, SmtpConfig
from daemon.notify.model import AlertFacts
from daemon.notify.render import DRILL_LINE
from tests.notify.notify_support import free_port, sample_facts, start_receiver


def delivery(target: ChannelTarget, facts: AlertFacts, language: str = "zh", now: float = 1_700_000_100.0) -> Delivery:
    """A delivery of ``facts`` to ``target``."""
    return Delivery(1, "alarm:7:firing|duty|0:x", "alarm", "duty", language, target, facts, {}, now)


@pytest.fixture
async def poster() -> AsyncIterator[HttpPoster]:
    """A shared HTTP session, closed after the test."""
    shared = HttpPoster(5.0)
    yield shared
    await shared.close()


async def test_webhook_is_signed_with_hmac_sha256(poster: HttpPoster) -> None:
    key = "s3cret-key"

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
            return web.Response(status=401, text="bad signature")
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    try:
        target = ChannelTarget(type="webhook", url=receiver.url + "/hook", secret_env="HOOK_KEY")
        await WebhookChannel(poster, {"HOOK_KEY": key}, 8.0).send(delivery(target, sample_facts(), "en"))
        with pytest.raises(DeliveryError, match="HTTP 401"):  # the receiver really checks
            await WebhookChannel(poster, {"HOOK_KEY": "wrong"}, 8.0).send(delivery(target, sample_facts()))
    finally:
        assert receiver.runner is not None
        await receiver.runner.cleanup()
    document = json.loads(receiver.requests[0][3])
    assert receiver.requests[0][2]["Idempotency-Key"] == "alarm:7:firing|duty|0:x"
    assert document["title"].startswith("[ORANGE warning] ALARM")
    assert "Measured: 4.2 ppm (level 3 ppm)" in document["text"]
    assert "Check neighbouring sensors" in document["text"]
    assert document["facts"]["sensor_id"] == "gas-01.cl2"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd's hook name
        self.messages.append(envelope.content)
        return "250 OK"


async def test_smtp_sends_text_and_html_with_the_drill_line_first() -> None:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = SmtpChannel(SmtpConfig(host="127.0.0.1", port=port, sender="hazwatch@example.org"), {}, 8.0)
        target = ChannelTarget(type="email", address="duty@example.org")
        await channel.send(delivery(target, sample_facts(drill=True), "zh"))
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    message = email.message_from_bytes(inbox.messages[0], policy=email.policy.default)
    assert message["Subject"].startswith(DRILL_LINE)
    assert message["To"] == "duty@example.org"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    text = plain.get_content()
    assert text.splitlines()[0] == DRILL_LINE
    assert "【橙色预警】报警" in text
    assert "测量值: 4.2 ppm" in text
    assert "2023-11-15 06:13:20 (UTC+8)" in text  # since, in local time
    html = rich.get_content()
    assert DRILL_LINE in html
    assert "#f57c00" in html
    assert 'href="http://127.0.0.1:8080/#alarm-7"' in html


async def test_smtp_server_down_is_a_delivery_error() -> None:
    channel = SmtpChannel(SmtpConfig(host="127.0.0.1", port=free_port(), timeout_s=2), {}, 8.0)
    with pytest.raises(DeliveryError, match="smtp"):
        await channel.send(delivery(ChannelTarget(type="email", address="a@b.c"), sample_facts()))


@pytest.fixture
async def alertmanager(tmp_path: Path, alertmanager_binary: str) -> AsyncIterator[str]:
    """A real Alertmanager on a free port, with a null receiver."""
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n")
    port = free_port()
    process = subprocess.Popen(
        [
            alertmanager_binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(url + "/-/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("alertmanager did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _alerts(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url + "/api/v2/alerts") as response:
        assert response.status == 200
        return list(await response.json())


async def test_alertmanager_lists_the_alert_then_resolves_it(alertmanager: str, poster: HttpPoster) -> None:
    channel = AlertmanagerChannel(poster, {}, 8.0)
    target = ChannelTarget(type="alertmanager", url=alertmanager)
    now = time.time()
    await channel.send(delivery(target, sample_facts(since=now - 60), "en", now))
    alerts = await _alerts(alertmanager)
    assert len(alerts) == 1
    labels = alerts[0]["labels"]
    assert labels["alertname"] == "threshold.high_high"
    assert (labels["severity"], labels["tier"], labels["site"], labels["zone"]) == (
        "high",
        "orange",
        "demo-park",
        "plant-a",
    )
    assert labels["sensor"] == "gas-01.cl2"
    assert labels["alarm_id"] == "7"
    assert alerts[0]["annotations"]["summary"].startswith("[ORANGE warning] ALARM")
    assert alerts[0]["status"]["state"] == "active"

    resolved = sample_facts(since=now - 60, status="resolved")
    resolved = AlertFacts.from_json({**resolved.to_json(), "ended_at": now - 1})
    await channel.send(delivery(target, resolved, "en", now))
    assert await _alerts(alertmanager) == []  # resolved alerts leave the active list


async def _robot(request: web.Request) -> web.Response:
    """Checks the documented WeCom / DingTalk markdown formats and DingTalk's signature, as the real robots do."""
    document = await request.json()
    if request.path == "/cgi-bin/webhook/send":  # WeCom
        ok = (
            document.get("msgtype") == "markdown"
            and isinstance(document.get("markdown", {}).get("content"), str)
            and request.query.get("key") == "wecom-key"
        )
        return web.json_response({"errcode": 0 if ok else 40008, "errmsg": "ok" if ok else "invalid message"})
    if request.path == "/robot/send":  # DingTalk
        timestamp = request.query.get("timestamp", "")
        secret = "SECdingtalk"
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        expected = base64.b64encode(digest).decode()
        if request.query.get("sign") != expected or request.query.get("access_token") != "ding-token":
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        markdown = document.get("markdown", {})
        ok = document.get("msgtype") == "markdown" and markdown.get("title") and markdown.get("text")
        return web.json_response({"errcode": 0 if ok else 300001, "errmsg": "ok" if ok else "param error"})
    return web.json_response({"errcode": 404}, status=404)


async def test_wecom_and_dingtalk_robots_accept_the_messages(poster: HttpPoster) -> None:
    receiver = await start_receiver(_robot)
    try:
        wecom = ChannelTarget(type="wecom", url=receiver.url + "/cgi-bin/webhook/send?key=${WECOM_KEY}")
        await WecomChannel(poster, {"WECOM_KEY": "wecom-key"}, 8.0).send(delivery(wecom, sample_facts(drill=True)))
        ding = ChannelTarget(type="dingtalk", url=receiver.url + "/robot/send?access_token=ding-token", secret_env="DS")
        await DingtalkChannel(poster, {"DS": "SECdingtalk"}, 8.0).send(delivery(ding, sample_facts(), "en"))
        with pytest.raises(DeliveryError, match="sign not match"):
            await DingtalkChannel(poster, {"DS": "wrong"}, 8.0).send(delivery(ding, sample_facts()))
        with pytest.raises(DeliveryError, match="WECOM_KEY"):
            await WecomChannel(poster, {}, 8.0).send(delivery(wecom, sample_facts()))
    finally:
        assert receiver.runner is not None
        await receiver.runner.cleanup()
    wecom_doc = json.loads(receiver.requests[0][3])
    content = wecom_doc["markdown"]["content"]
    assert content.splitlines()[0].find(DRILL_LINE) >= 0
    assert '<font color="warning">【橙色预警】报警' in content
    _, ding_query, _, ding_body = receiver.requests[1]
    assert ding_query["timestamp"] == "1700000100000"
    raw_query = urllib.parse.urlsplit(f"http://x/?{urllib.parse.urlencode(ding_query)}").query
    assert "sign=" in raw_query
    ding_doc = json.loads(ding_body)
    assert ding_doc["markdown"]["title"].startswith("[ORANGE warning]")
    assert "[Console](http://127.0.0.1:8080/#alarm-7)" in ding_doc["markdown"]["text"]
