"""A person's page walks their channels: the next one after the step's time or a failure, all at once when urgent,
and nothing more once acknowledged. Driven through the worker with a manual clock and a local SMS/call gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import ManualClock
from daemon.metrics.instruments import Metrics
from daemon.notify.chains import stop_page
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.config import NotifyConfig
from daemon.notify.outbox import Outbox
from daemon.notify.worker import DeliveryWorker
from daemon.store.schema import notifications, page_links
from plans.incident import NotificationIntent, NotificationKind, Recipient
from plans.model import Tier
from tests.notify.providers import fake_providers as fake
from tests.notify.providers.fake_providers import OK_NUMBER, THROTTLED_NUMBER, Seen

T0 = 1_700_000_000.0


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, Seen]]:
    """An on-premises SMS/call gateway."""
    seen = Seen()
    runner, url = await fake.serve(fake.sms_gateway("gw-token", seen))
    yield url, seen
    await runner.cleanup()


def config(url: str) -> NotifyConfig:
    """SMS and calls both through the gateway."""
    template = {"url": url + "/send", "headers": {"Authorization": "Bearer gw-token"},
                "body": '{"to": "{{to}}", "text": "{{text}}"}', "success_json_path": "result.code",
                "success_value": "0"}  # fmt: skip
    voice = {**template, "body": '{"to": "{{to}}", "text": "{{voice}}"}'}
    return NotifyConfig.model_validate(
        {"retry_initial_s": 5.0, "providers": {"sms": "http", "voice": "http", "http_sms": template,
                                               "http_voice": voice}}
    )  # fmt: skip


def page(
    *,
    sms: str = OK_NUMBER,
    all_channels: bool = False,
    page_id: str = "inc-1/n1",
    tier: Tier = Tier.ORANGE,
    at: float = T0,
) -> NotificationIntent:
    """A page to one duty officer with SMS first, then a call; 60 s per channel."""
    person = Recipient("zhang-wei", "张伟", "duty_officer", (("sms", sms), ("phone", OK_NUMBER)))
    return NotificationIntent(page_id, NotificationKind.OPEN, at, "inc-1", tier, ("duty_officer",),
                              (person,), "较大 (III): demo-park", "", at + 300, channel_timeout_s=60.0,
                              all_channels=all_channels)  # fmt: skip


async def queue(engine: AsyncEngine, settings: NotifyConfig, note: NotificationIntent) -> None:
    """Insert the page's rows as the alarm flow would."""
    pages = Outbox(settings, b"k")
    pages.site = ("demo-park", "Demo chemical park")
    rows = pages.rows(note, incident_row=1, alarm_row=None, key_prefix="")
    async with engine.begin() as connection:
        await connection.execute(insert(page_links), rows.links)
        await connection.execute(insert(notifications), rows.notifications)


async def states(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(channel, state) in chain order."""
    async with engine.connect() as connection:
        query = select(notifications.c.channel, notifications.c.state).order_by(notifications.c.chain_step)
        return [(str(c), str(s)) for c, s in (await connection.execute(query)).all()]


def worker(engine: AsyncEngine, settings: NotifyConfig, clock: ManualClock) -> tuple[DeliveryWorker, ChannelSet]:
    """A worker on the live outbox."""
    channels = ChannelSet(settings, {})
    return DeliveryWorker(engine, channels.channels, clock, Metrics(CollectorRegistry()), settings), channels


async def test_next_channel_only_after_the_step_time_without_acknowledgement(
    engine: AsyncEngine, gateway: tuple[str, Seen]
) -> None:
    settings, clock = config(gateway[0]), ManualClock(T0)
    await queue(engine, settings, page())
    delivery, channels = worker(engine, settings, clock)
    try:
        await delivery.deliver_due()
        assert await states(engine) == [("sms", "delivered"), ("phone", "held")]
        clock.advance(59)
        await delivery.deliver_due()
        assert await states(engine) == [("sms", "delivered"), ("phone", "held")]  # SMS still has its minute
        clock.advance(2)
        await delivery.deliver_due()
        assert await states(engine) == [("sms", "delivered"), ("phone", "delivered")]
    finally:
        await channels.close()
    texts = [str(m["text"]) for m in gateway[1].accepted]
    assert texts[0].startswith("【橙色预警】Demo chemical park 较大 (III): demo-park。确认: http://127.0.0.1:8080/a/")
    assert texts[1].startswith("橙色预警。Demo chemical park、较大 (III): demo-park。请查看短信链接确认或回复短信 ")


async def test_an_acknowledged_page_sends_nothing_more(engine: AsyncEngine, gateway: tuple[str, Seen]) -> None:
    settings, clock = config(gateway[0]), ManualClock(T0)
    await queue(engine, settings, page())
    delivery, channels = worker(engine, settings, clock)
    try:
        await delivery.deliver_due()
        async with engine.begin() as connection:
            await stop_page(connection, "inc-1/n1", "zhang-wei", T0 + 10)
        clock.advance(600)
        await delivery.deliver_due()
    finally:
        await channels.close()
    assert await states(engine) == [("sms", "acknowledged"), ("phone", "superseded")]
    assert len(gateway[1].accepted) == 1


async def test_a_channel_still_retrying_at_its_time_is_superseded_by_the_next(
    engine: AsyncEngine, gateway: tuple[str, Seen]
) -> None:
    settings, clock = config(gateway[0]), ManualClock(T0)
    await queue(engine, settings, page(sms=THROTTLED_NUMBER))  # the gateway answers "busy": retried, not failed
    delivery, channels = worker(engine, settings, clock)
    try:
        for _ in range(7):
            await delivery.deliver_due()
            clock.advance(10)
        await delivery.deliver_due()
    finally:
        await channels.close()
    assert await states(engine) == [("sms", "superseded"), ("phone", "delivered")]


async def test_urgent_pages_go_out_on_every_channel_at_once(engine: AsyncEngine, gateway: tuple[str, Seen]) -> None:
    settings, clock = config(gateway[0]), ManualClock(T0)
    await queue(engine, settings, page(all_channels=True))
    delivery, channels = worker(engine, settings, clock)
    try:
        await delivery.deliver_due()
    finally:
        await channels.close()
    assert await states(engine) == [("sms", "delivered"), ("phone", "delivered")]


async def test_a_page_storm_reaches_the_person_as_one_message_but_red_goes_at_once(
    engine: AsyncEngine, gateway: tuple[str, Seen]
) -> None:
    settings, clock = config(gateway[0]), ManualClock(T0)
    delivery, channels = worker(engine, settings, clock)
    try:
        await queue(engine, settings, page(page_id="inc-1/n1"))
        await delivery.deliver_due()  # the first page goes out at once
        clock.advance(5)
        await queue(engine, settings, page(page_id="inc-1/n2", at=clock.now()))
        await queue(engine, settings, page(page_id="inc-1/n3", at=clock.now()))
        await delivery.deliver_due()  # two more within the 30 s window: they wait
        assert len(gateway[1].accepted) == 1
        await queue(engine, settings, page(page_id="inc-1/n4", tier=Tier.RED, at=clock.now()))
        await delivery.deliver_due()  # the first red page of the window does not wait
        assert len(gateway[1].accepted) == 2
        clock.advance(29)
        await delivery.deliver_due()  # 29 s after the red message: still waiting
        assert len(gateway[1].accepted) == 2
        clock.advance(2)
        await delivery.deliver_due()  # 30 s without a message: the two waiting pages go out as one
    finally:
        await channels.close()
    texts = [str(m["text"]) for m in gateway[1].accepted]
    assert len(texts) == 3
    assert texts[1].startswith("【红色预警】")
    assert "2 条新告警 / 2 new pages, 事件 incident 1" in texts[2]
