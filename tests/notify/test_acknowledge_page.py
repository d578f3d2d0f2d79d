"""The acknowledgement link and the inbound-SMS callback against a real aiohttp app and SQLite: signed, bound to
one person, single use, expiring; an SMS reply counts only from the number paged and with a valid signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import ManualClock
from daemon.metrics.instruments import Metrics
from daemon.notify.config import NotifyConfig
from daemon.notify.outbox import LINK_LIFETIME_S, Outbox
from daemon.store.schema import incident_events, notifications, page_links
from daemon.web.page_ack import PageAckContext, add_page_ack_routes
from plans.incident import NotificationIntent, NotificationKind, Recipient
from plans.model import Tier
from tests.notify.providers.fake_providers import serve

T0 = 1_700_000_000.0
KEY = b"link-key"
SECRET = "inbound-secret"


@pytest.fixture
async def site(engine: AsyncEngine) -> AsyncIterator[tuple[str, ManualClock, list[tuple[int, str]], list[str]]]:
    """The page routes on a local server over a page to two duty officers; returns base URL, clock, engine acks, SMS."""
    clock = ManualClock(T0)
    acked: list[tuple[int, str]] = []

    async def engine_ack(row_id: int, actor: str, now: float) -> None:
        acked.append((row_id, actor))

    people = (
        Recipient("zhang-wei", "张伟", "duty_officer", (("sms", "${PHONE_ZW}"), ("phone", "${PHONE_ZW}"))),
        Recipient("li-na", "李娜", "duty_officer", (("sms", "13900000000"),)),
    )
    note = NotificationIntent("inc-1/n1", NotificationKind.OPEN, T0, "inc-1", Tier.ORANGE, ("duty_officer",), people,
                              "较大 (III): demo-park", "", T0 + 300)  # fmt: skip
    pages = Outbox(NotifyConfig(console_url="http://duty.example/"), KEY)
    rows = pages.rows(note, incident_row=7, alarm_row=None, key_prefix="")
    async with engine.begin() as connection:
        await connection.execute(insert(page_links), rows.links)
        await connection.execute(insert(notifications), rows.notifications)
    links = [json.loads(r["payload"])["extra"] for r in rows.notifications if r["chain_step"] == 0]
    app = web.Application()
    context = PageAckContext(engine, KEY, clock, Metrics(CollectorRegistry()), engine_ack, SECRET, 8.0,
                             {"PHONE_ZW": "13800000000"})  # fmt: skip
    add_page_ack_routes(app, context)
    runner, url = await serve(app)
    yield url, clock, acked, [f"{link['ack_url']} {link['ack_code']}" for link in links]
    await runner.cleanup()


def _path(sms: str) -> str:
    found = re.search(r"/a/(\S+)", sms)
    assert found is not None
    return found.group(1)


async def test_the_link_shows_the_page_and_acknowledges_once(
    site: tuple[str, ManualClock, list[tuple[int, str]], list[str]], engine: AsyncEngine
) -> None:
    url, _, acked, sms = site
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/a/{_path(sms[0])}") as response:
            page = await response.text()
        assert response.status == 200
        assert "较大 (III): demo-park" in page
        assert "我已收到 / acknowledge" in page
        assert "正在赶往 / on my way" in page
        tampered = _path(sms[0])[:-2] + "xx"
        async with http.get(f"{url}/a/{tampered}") as response:
            assert response.status == 404  # not a stored token
        async with http.post(f"{url}/a/{_path(sms[0])}", data={"answer": "on_my_way"}) as response:
            assert response.status == 200
        async with http.post(f"{url}/a/{_path(sms[0])}", data={"answer": "acknowledged"}) as response:
            assert response.status == 410
    assert [actor for _, actor in acked] == ["zhang-wei"]
    async with engine.connect() as connection:
        states = {str(s) for s in (await connection.execute(select(notifications.c.state))).scalars()}
        event = (await connection.execute(select(incident_events))).mappings().one()
    assert states == {"superseded"}  # nothing had been delivered yet: every waiting row stops
    assert event["type"] == "page_answer"
    assert json.loads(event["detail"])["answer"] == "on_my_way"


async def test_a_link_expires(site: tuple[str, ManualClock, list[tuple[int, str]], list[str]]) -> None:
    url, clock, acked, sms = site
    clock.advance(LINK_LIFETIME_S + 1)
    async with aiohttp.ClientSession() as http, http.post(f"{url}/a/{_path(sms[1])}") as response:
        assert response.status == 410
        assert "expired" in await response.text()
    assert acked == []


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hazwatch-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


async def test_an_sms_reply_acknowledges_only_signed_and_from_the_number_paged(
    site: tuple[str, ManualClock, list[tuple[int, str]], list[str]],
) -> None:
    url, _, acked, sms = site
    code = sms[0].rsplit(" ", 1)[1]
    async with aiohttp.ClientSession() as http:
        body = json.dumps({"from": "+8613800000000", "text": f"{code} 收到"}).encode()
        async with http.post(f"{url}/sms/inbound", data=body, headers=_signed(body, "wrong")) as response:
            assert response.status == 401
        other = json.dumps({"from": "+8613700000000", "text": code}).encode()
        async with http.post(f"{url}/sms/inbound", data=other, headers=_signed(other)) as response:
            assert response.status == 404  # right code, wrong phone
        async with http.post(f"{url}/sms/inbound", data=body, headers=_signed(body)) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["person"] == "zhang-wei"
    assert [actor for _, actor in acked] == ["zhang-wei"]


async def test_an_alibaba_smsup_push_acknowledges_from_the_number_paged(
    site: tuple[str, ManualClock, list[tuple[int, str]], list[str]], engine: AsyncEngine
) -> None:
    url, _, acked, sms = site
    zhang, li = (s.rsplit(" ", 1)[1] for s in sms)
    # The documented HTTP batch push: a JSON array, possibly several replies in one request.
    push = [
        {"phone_number": "13700000000", "content": zhang, "send_time": "2026-12-02 09:00:00", "dest_code": "1234",
         "sequence_id": 1001},  # right code, a number that was never paged
        {"phone_number": "8613900000000", "content": f"收到 {li}", "send_time": "2026-12-02 09:00:01",
         "dest_code": "1234", "sequence_id": "1002"},
    ]  # fmt: skip
    body = json.dumps(push, ensure_ascii=False).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/sms/inbound/aliyun/not-the-secret", data=body) as response:
            assert response.status == 401
        async with http.post(f"{url}/sms/inbound/aliyun/{SECRET}", data=b'{"phone_number": "1"}') as response:
            assert response.status == 400
            assert "array" in (await response.json())["error"]
        async with http.post(f"{url}/sms/inbound/aliyun/{SECRET}", data=body) as response:
            answer = await response.json()
            assert response.status == 200, answer
        assert answer["code"] == 0  # Alibaba pushes again unless the answer's code is a number with HTTP 200
        assert len(answer["acknowledged"]) == 1
        assert len(answer["unmatched"]) == 1
        async with http.post(f"{url}/sms/inbound/aliyun/{SECRET}", data=body) as response:
            again = await response.json()
        assert again["code"] == 0  # a push repeated after a lost answer is taken and changes nothing
        assert again["acknowledged"] == []
    assert [actor for _, actor in acked] == ["li-na"]
    async with engine.connect() as connection:
        event = (await connection.execute(select(incident_events))).mappings().one()
    assert json.loads(event["detail"])["via"] == "sms_reply"


async def test_a_tencent_sms_reply_callback_acknowledges_from_the_number_paged(
    site: tuple[str, ManualClock, list[tuple[int, str]], list[str]],
) -> None:
    url, _, acked, sms = site
    code = sms[0].rsplit(" ", 1)[1]
    reply = {"extend": "", "mobile": "13800000000", "nationcode": "86", "sign": "某市环境应急", "text": code,
             "time": int(T0) + 60}  # fmt: skip
    abroad = {**reply, "nationcode": "852"}  # the same digits from another country are another number
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/sms/inbound/tencent/{SECRET}x", json=reply) as response:
            assert response.status == 401
        async with http.post(f"{url}/sms/inbound/tencent/{SECRET}", json={**reply, "mobile": ""}) as response:
            assert response.status == 400
        async with http.post(f"{url}/sms/inbound/tencent/{SECRET}", json=abroad) as response:
            assert (await response.json())["acknowledged"] == []
        async with http.post(f"{url}/sms/inbound/tencent/{SECRET}", json=reply) as response:
            answer = await response.json()
            assert response.status == 200, answer
        assert (answer["result"], answer["errmsg"]) == (0, "OK")
        assert len(answer["acknowledged"]) == 1
        async with http.post(f"{url}/sms/inbound/other/{SECRET}", json=reply) as response:
            assert response.status == 404
    assert [actor for _, actor in acked] == ["zhang-wei"]
