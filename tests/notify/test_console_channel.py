"""The console channel through the worker with a manual clock: delivered only when a console of its person (or role)
shows it, the chain moves on when nobody does, and a console row with no next channel gives up at its step's time
(then the page reached nobody) but is still delivered, late, when shown afterwards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import ManualClock
from daemon.metrics.instruments import Metrics
from daemon.notify.channels.factory import ChannelSet
from daemon.notify.console_pages import ConsoleViewer, mark_shown, pages_for
from daemon.notify.outbox import Outbox
from daemon.notify.worker import PAGE_UNDELIVERABLE_RULE, DeliveryWorker
from daemon.store.schema import incident_events, notifications, page_links
from plans.incident import NotificationIntent, NotificationKind, Recipient
from plans.model import Tier
from plans.roster import Roster
from tests.notify.providers import fake_providers as fake
from tests.notify.providers.fake_providers import OK_NUMBER, Seen
from tests.notify.test_channel_chains import config

T0 = 1_700_000_000.0


def _person(person_id: str, role: str, channel: str) -> dict[str, object]:
    return {"id": person_id, "name": person_id, "roles": [role], "channels": [{"type": channel, "address": "x"}]}


ROSTER = Roster.model_validate(
    {
        "roles": [{"id": "duty_officer", "name": "duty officer"}, {"id": "shift_leader", "name": "shift leader"}],
        "people": [
            _person("zhang-wei", "duty_officer", "console"),
            _person("li-na", "duty_officer", "console"),
            _person("wang-qiang", "shift_leader", "sms"),
        ],
    }
)


class Alarms:
    """The service alarms the worker raises."""

    def __init__(self) -> None:
        self.raised: list[tuple[str, str]] = []

    def raise_service_alarm(
        self, rule: str, subject: str, message: str, now: float, *, notify_routes: bool = False
    ) -> None:
        """Record it."""
        self.raised.append((rule, subject))

    def clear_service_alarm(self, rule: str, subject: str, now: float) -> None:
        """Not needed here."""


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, Seen]]:
    """An on-premises SMS/call gateway."""
    seen = Seen()
    runner, url = await fake.serve(fake.sms_gateway("gw-token", seen))
    yield url, seen
    await runner.cleanup()


async def queue(engine: AsyncEngine, gateway_url: str, channels: tuple[tuple[str, str], ...], page_id: str) -> None:
    """A page to zhang-wei over ``channels``, 60 s per channel, inserted as the alarm flow would."""
    people = (Recipient("zhang-wei", "张伟", "duty_officer", channels),) if channels else ()
    note = NotificationIntent(page_id, NotificationKind.OPEN, T0, "inc-1", Tier.ORANGE, ("duty_officer",), people,
                              "较大 (III): demo-park", "", T0 + 300, channel_timeout_s=60.0)  # fmt: skip
    rows = Outbox(config(gateway_url), b"k").rows(note, incident_row=1, alarm_row=None, key_prefix="")
    async with engine.begin() as connection:
        await connection.execute(insert(page_links), rows.links)
        await connection.execute(insert(notifications), rows.notifications)


async def chain(engine: AsyncEngine, page_id: str) -> list[tuple[str, str]]:
    """(channel, state) of the page in chain order."""
    async with engine.connect() as connection:
        query = (
            select(notifications.c.channel, notifications.c.state)
            .where(notifications.c.page_id == page_id)
            .order_by(notifications.c.chain_step)
        )
        return [(str(c), str(s)) for c, s in (await connection.execute(query)).all()]


def viewer(user: str, *, may_acknowledge: bool = True) -> ConsoleViewer:
    """The console session of an API user named like a roster person (or not)."""
    return ConsoleViewer.of(user, may_acknowledge, ROSTER)


async def test_shown_by_its_person_or_role_is_delivered_and_the_chain_still_waits_for_an_ack(
    engine: AsyncEngine, gateway: tuple[str, Seen]
) -> None:
    url, seen = gateway
    await queue(engine, url, (("console", "zhang-wei"), ("sms", OK_NUMBER)), "inc-1/n1")
    clock = ManualClock(T0)
    channels = ChannelSet(config(url), {})
    worker = DeliveryWorker(engine, channels.channels, clock, Metrics(CollectorRegistry()), config(url))
    try:
        await worker.deliver_due()
        assert await chain(engine, "inc-1/n1") == [("console", "pending"), ("sms", "held")]
        [row] = await pages_for(engine, viewer("zhang-wei"), T0 + 5)
        assert await pages_for(engine, viewer("wang-qiang"), T0 + 5) == []  # another role sees nothing
        assert await mark_shown(engine, viewer("wang-qiang"), [row["id"]], T0 + 5) == []
        assert len(await pages_for(engine, viewer("li-na"), T0 + 5)) == 1  # a colleague in the role sees it
        assert await mark_shown(engine, viewer("zhang-wei"), [row["id"]], T0 + 10) == [row["id"]]
        assert await mark_shown(engine, viewer("zhang-wei"), [row["id"]], T0 + 11) == []  # once
        assert await chain(engine, "inc-1/n1") == [("console", "delivered"), ("sms", "held")]
        clock.set(T0 + 59)
        await worker.deliver_due()
        assert not seen.accepted  # within its step's time the delivered console row holds the chain
        clock.set(T0 + 61)
        await worker.deliver_due()
        await worker.deliver_due()
        assert await chain(engine, "inc-1/n1") == [("console", "delivered"), ("sms", "delivered")]
        assert len(seen.accepted) == 1  # shown but not acknowledged: the next channel goes out at its time
        async with engine.connect() as connection:
            event = (await connection.execute(select(incident_events))).mappings().one()
        assert (event["type"], event["actor"]) == ("page_shown", "zhang-wei")
        assert json.loads(event["detail"])["channel"] == "console"
    finally:
        await channels.close()


async def test_a_console_row_nobody_shows_gives_up_and_the_page_reached_nobody(
    engine: AsyncEngine, gateway: tuple[str, Seen]
) -> None:
    url, _ = gateway
    await queue(engine, url, (("console", "zhang-wei"),), "inc-1/n2")
    await queue(engine, url, (), "inc-1/n3")  # nobody on duty: the console fallback
    clock = ManualClock(T0)
    alarms = Alarms()
    channels = ChannelSet(config(url), {})
    worker = DeliveryWorker(engine, channels.channels, clock, Metrics(CollectorRegistry()), config(url), alarms)
    try:
        clock.set(T0 + 59)
        await worker.deliver_due()
        assert await chain(engine, "inc-1/n2") == [("console", "pending")]
        assert alarms.raised == []
        clock.set(T0 + 301)  # past the step's time of both (the fallback shares the ack deadline)
        await worker.deliver_due()
        assert await chain(engine, "inc-1/n2") == [("console", "given_up")]
        assert await chain(engine, "inc-1/n3") == [("console", "given_up")]
        assert (PAGE_UNDELIVERABLE_RULE, "notify:duty_officer") in alarms.raised
        async with engine.connect() as connection:
            errors = (await connection.execute(select(notifications.c.last_error))).scalars().all()
        assert all("not shown on a console" in str(e) for e in errors)
        # The officer logs in later: the page is on the console and counts as delivered, late.
        [row] = [p for p in await pages_for(engine, viewer("zhang-wei"), T0 + 400) if p["page_id"] == "inc-1/n2"]
        assert await mark_shown(engine, viewer("zhang-wei"), [row["id"]], T0 + 400) == [row["id"]]
        assert await chain(engine, "inc-1/n2") == [("console", "delivered")]
        # The nobody-on-duty page is for whoever may acknowledge, not for a read-only session.
        assert [p["page_id"] for p in await pages_for(engine, viewer("ops", may_acknowledge=False), T0 + 400)] == []
        assert [p["page_id"] for p in await pages_for(engine, viewer("ops"), T0 + 400)] == ["inc-1/n3"]
    finally:
        await channels.close()
