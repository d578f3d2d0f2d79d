"""A real incident on the shipped roster, with local provider servers: the first channel fails, the second delivers,
the person acknowledges from the link, escalation does not fire; with every channel down the page is an alarm and
/healthz says degraded. No row of the page is left pending."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from daemon.notify.config import NotifyConfig
from daemon.notify.worker import PAGE_UNDELIVERABLE_RULE
from daemon.store.schema import alarms, incident_events, notifications
from detectors.substances import SUBSTANCES
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.helpers import eventually, publish, senml
from tests.notify.notify_support import start_receiver
from tests.notify.providers import fake_providers as fake
from tests.notify.providers.fake_providers import OK_NUMBER, Seen

pytestmark = pytest.mark.slow
DEVICE = "gas-n03"
VMS_VERSION = "2020-09-02"
PEOPLE = ("ZHANG_WEI", "LI_NA", "WANG_QIANG", "CHEN_JING", "LIU_YANG", "ZHAO_MIN")


@pytest.fixture
async def providers() -> AsyncIterator[dict[str, tuple[str, Seen]]]:
    """A Tencent voice server whose account has no balance left, and an Alibaba SMS server, on loopback."""
    made: dict[str, tuple[str, Seen]] = {}
    runners: list[web.AppRunner] = []
    providers: tuple[tuple[str, Callable[[Seen], web.Application]], ...] = (
        (
            "voice",
            lambda seen: fake.tencent("AKID-test", "tencent-key", "SendTtsVoice", "2020-09-02", seen, broke=True),
        ),
        ("sms", lambda seen: fake.aliyun_sms("LTAI-test-id", "aliyun-secret", seen)),
    )
    for name, build in providers:
        seen = Seen()
        runner, url = await fake.serve(build(seen))
        runners.append(runner)
        made[name] = (url, seen)
    yield made
    for runner in runners:
        await runner.cleanup()


def environment(phone: str) -> dict[str, str]:
    """Keys for the fake providers; every person's phone number is ``phone``."""
    env = {"TC_ID": "AKID-test", "TC_KEY": "tencent-key", "ALIYUN_ID": "LTAI-test-id", "ALIYUN_SECRET": "aliyun-secret"}
    env |= {f"HAZWATCH_PHONE_{p}": phone for p in PEOPLE}
    env |= {f"HAZWATCH_WECOM_USER_{p}": p.lower() for p in PEOPLE}
    env |= {"HAZWATCH_EMAIL_LIU_YANG": "liu@example.org", "HAZWATCH_ACK_LINK_KEY": "link-key"}
    return env


def notify_config(providers: dict[str, tuple[str, Seen]] | None) -> NotifyConfig:
    """Voice through Tencent, SMS through Alibaba (or no sender at all)."""
    if providers is None:
        return NotifyConfig(poll_interval_s=0.1)
    return NotifyConfig.model_validate(
        {
            "poll_interval_s": 0.1,
            "providers": {
                "sms": "aliyun",
                "voice": "tencent",
                "tencent_voice": {"endpoint": providers["voice"][0] + "/", "secret_id_env": "TC_ID",
                                  "secret_key_env": "TC_KEY", "voice_sdk_app_id": "1400000002",
                                  "template_id": "3000001"},
                "aliyun_sms": {"endpoint": providers["sms"][0] + "/", "access_key_id_env": "ALIYUN_ID",
                               "access_key_secret_env": "ALIYUN_SECRET", "sign_name": "某市环境应急",
                               "template_code": "SMS_100001"},
            },
        }
    )  # fmt: skip


async def _duty_rows(service: object, person: str) -> list[dict[str, object]]:
    async with service.engine.connect() as connection:  # type: ignore[attr-defined]
        rows = (
            (
                await connection.execute(
                    select(notifications)
                    .where(notifications.c.chain_key.like(f"%/{person}"))
                    .order_by(notifications.c.id)
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


async def test_first_channel_fails_second_delivers_ack_from_link_stops_escalation(
    machine_broker: tuple[str, int],
    sqlite_url: str,
    demo_site: Site,
    unique: str,
    providers: dict[str, tuple[str, Seen]],
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    config.notify = notify_config(providers)
    sensor = next(s for d in demo_site.devices if d.id == DEVICE for s in d.sensors)
    level1 = SUBSTANCES[sensor.substance or ""].occupational_limit_ppm
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    # The voice provider refuses every call (permanent: no balance), the SMS provider accepts.
    async with running_service(config, demo_site, environ=environment(OK_NUMBER)) as service:
        await publish(machine_broker, [(topic, senml(DEVICE, [(sensor.name, 4 * level1, "ppm")], time.time() - 5))])

        async def sms_sent() -> list[dict[str, object]]:
            return providers["sms"][1].accepted

        async def sms_delivered() -> list[dict[str, object]]:
            rows = await _duty_rows(service, "li-na") + await _duty_rows(service, "zhang-wei")
            return [r for r in rows if r["channel"] == "sms" and r["delivered_at"] is not None]

        await eventually(sms_sent)
        # A person clicks after the SMS arrived, long after the worker stored it delivered. The test could click in
        # between (seen under load 4): with no row stored delivered yet, the answer names the chain's first channel.
        await eventually(sms_delivered)
        sms = providers["sms"][1].accepted[0]
        text = str(sms["TemplateParam"])
        link = re.search(r"http://[^ \"]+/a/[A-Za-z0-9_.-]+", text)
        assert link is not None, text
        duty = await _duty_rows(service, "li-na") + await _duty_rows(service, "zhang-wei")
        assert duty, "the duty officer on shift was paged"
        first = [r for r in duty if r["chain_step"] == 0]
        assert first[0]["channel"] == "phone"
        assert first[0]["state"] == "failed"
        assert "InsufficientBalance" in str(first[0]["last_error"])
        base = f"http://127.0.0.1:{service.http_port}"
        path = link.group(0).split("/a/", 1)[1]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/a/{path}") as response:
                page = await response.text()
                assert response.status == 200, page
                assert "我已收到 / acknowledge" in page
            async with http.post(f"{base}/a/{path}", data={"answer": "acknowledged"}) as response:
                assert response.status == 200, await response.text()
            async with http.post(f"{base}/a/{path}", data={"answer": "acknowledged"}) as response:
                assert response.status == 410  # single use
        page_id = str(first[0]["page_id"])
        chain_key = str(first[0]["chain_key"])
        async with service.engine.connect() as connection:
            page_rows = [
                dict(r)
                for r in (
                    await connection.execute(select(notifications).where(notifications.c.page_id == page_id))
                ).mappings()
            ]
            events = [
                dict(r)
                for r in (
                    await connection.execute(select(incident_events).where(incident_events.c.type == "page_answer"))
                ).mappings()
            ]
        ours = sorted((r for r in page_rows if r["chain_key"] == chain_key), key=lambda r: int(str(r["chain_step"])))
        assert [(r["channel"], r["state"]) for r in ours] == [
            ("phone", "failed"),
            ("sms", "acknowledged"),
            ("wecom_user", "superseded"),
        ]
        assert not [r for r in page_rows if r["state"] in ("pending", "held")], "no row of the page is left waiting"
        assert events
        assert '"channel": "sms"' in str(events[0]["detail"])
        engine = service.pipeline.flow.state.incidents
        engine_page = page_id.split("/", 1)[1] if page_id.startswith("drill-run-") else page_id
        chain = next(c for c in engine._chains if engine_page in c.notification_ids)
        assert chain.acked_by == str(first[0]["chain_key"]).rsplit("/", 1)[1]
        later = engine.tick(time.time() + 3600)  # an hour on: the acknowledged page never escalates
        assert not [e for e in later.timeline if e.kind == "escalated" and e.incident_id == chain.incident_id]
        assert chain.step == 0


async def test_every_channel_down_raises_the_undeliverable_alarm_and_degrades_healthz(
    machine_broker: tuple[str, int], sqlite_url: str, demo_site: Site, unique: str
) -> None:
    prefix = f"hwtest-{unique}"
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, prefix, f"svc-{unique}")
    arrived: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        arrived.append(await request.json())
        return web.Response(text="ok")

    receiver = await start_receiver(hook)
    # No SMS, voice or work-notice sender: nobody can be reached. The operations room's webhook is a system route.
    config.notify = NotifyConfig.model_validate(
        {
            "poll_interval_s": 0.1,
            "people": [{"name": "ops-room", "channels": [{"type": "webhook", "url": receiver.url + "/ops"}]}],
            "routes": [{"name": "service", "kinds": ["service"], "recipients": ["ops-room"]}],
        }
    )
    sensor = next(s for d in demo_site.devices if d.id == DEVICE for s in d.sensors)
    level1 = SUBSTANCES[sensor.substance or ""].occupational_limit_ppm
    topic = f"{prefix}/{demo_site.site}/{DEVICE}"
    async with running_service(config, demo_site, environ=environment(OK_NUMBER)) as service:
        await publish(machine_broker, [(topic, senml(DEVICE, [(sensor.name, 4 * level1, "ppm")], time.time() - 5))])
        base = f"http://127.0.0.1:{service.http_port}"

        async def undeliverable_alarm() -> list[object]:
            await service.writer.flush()
            async with service.engine.connect() as connection:
                return list(
                    (await connection.execute(select(alarms).where(alarms.c.rule == PAGE_UNDELIVERABLE_RULE))).all()
                )

        await eventually(undeliverable_alarm)
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
            health = await response.json()
            assert response.status == 503
        assert health["status"] == "degraded"
        assert health["pages_reach_people"] is False
        duty = await _duty_rows(service, "li-na") + await _duty_rows(service, "zhang-wei")
        assert duty
        assert {r["state"] for r in duty} == {"failed"}
        assert any("no voice-call sender configured" in str(r["last_error"]) for r in duty)
        assert any("no SMS sender configured" in str(r["last_error"]) for r in duty)

        async def told_the_ops_room() -> list[dict[str, object]]:
            return [a for a in arrived if a["facts"]["rule"] == PAGE_UNDELIVERABLE_RULE]  # type: ignore[index]

        await eventually(told_the_ops_room)  # the undeliverable alarm goes to every remaining (system) channel
    assert receiver.runner is not None
    await receiver.runner.cleanup()
